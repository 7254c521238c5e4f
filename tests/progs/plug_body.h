/* plug_body.h: the code of the plugins stacks_dlopen loads (libplug_a.c, libplug_b.c): the
 * same code under other names, so the second library is mapped where the first was and its
 * functions sit at the same addresses. PLUG(x) names a function. */
#include <stdlib.h>
#include <string.h>

__attribute__((noinline)) void *PLUG(block)(size_t size)
{
    void *p = malloc(size);
    if (p) memset(p, 0x5a, size);
    return p;
}

/* count blocks of size bytes into out[], kept live by the caller */
__attribute__((noinline)) int PLUG(fill)(void **out, int count, size_t size)
{
    for (int i = 0; i < count; i++)
        if (!(out[i] = PLUG(block)(size))) return -1;
    return 0;
}
