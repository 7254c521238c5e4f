/* core_early.c: frees and reallocs blocks the shim never saw (allocated by libearly.so's
 * constructor before the shim started); they must pass through untouched. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
    void **early = dlsym(RTLD_DEFAULT, "early_block");
    if (!early || !*early) { fprintf(stderr, "libearly.so not preloaded\n"); return 2; }
    unsigned char *p = *early;
    for (int i = 0; i < 12345; i++) if (p[i] != 0x5a) { fprintf(stderr, "content changed\n"); return 3; }
    p = realloc(p, 50000);           /* an unseen pointer through realloc */
    for (int i = 0; i < 12345; i++) if (p[i] != 0x5a) { fprintf(stderr, "realloc lost content\n"); return 4; }
    free(p);
    void **early2 = dlsym(RTLD_DEFAULT, "early_block2");
    if (!early2 || !*early2) return 5;
    free(*early2);                   /* an unseen pointer straight to free */
    printf("ok\n");
    return 0;
}
