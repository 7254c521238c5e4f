/* stacks_cxxname.c: a function whose symbol is a C++ mangled name (store::Table::grow(unsigned
 * int)), so the report must show it demangled. Writes DUMP with SESSTRIM_STACKS=all. */
#include <stdlib.h>
#include <string.h>
#include "sesstrim.h"

void *volatile kept[512];

__attribute__((noinline)) void table_grow(unsigned n) __asm__("_ZN5store5Table4growEj");
__attribute__((noinline)) void table_grow(unsigned n)
{
    for (unsigned i = 0; i < n && i < 512; i++) {
        kept[i] = malloc(1000);
        memset(kept[i], 1, 1000);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) return 1;
    table_grow(500);
    return sesstrim_dump(argv[1]) != 0;
}
