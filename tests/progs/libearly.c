/* libearly.c: a library whose constructor allocates before the shim's constructor runs
 * (preloaded after libsesstrim.so, it is initialised first): a pointer the shim never saw. */
#include <stdlib.h>
#include <string.h>

void *early_block;
void *early_block2;

__attribute__((constructor)) static void allocate_early(void)
{
    early_block = malloc(12345);
    if (early_block) memset(early_block, 0x5a, 12345);
    early_block2 = malloc(777);
}
