/* options.c (cli): `sesstrim options` prints the shim's option table itself: the CLI is
 * linked with preload/options.c, so the list, the defaults and their documentation are the
 * ones the library parses (tests/scripts/test_options_table.sh checks README.md against it). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "../preload/shim.h"
#include "cli.h"

/* options.c logs through these; in the CLI they go to stderr. */
void st_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("sesstrim: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
void st_log_reopen(void) {}

int cmd_options(int argc, char **argv)
{
    bool tsv = argc > 1 && !strcmp(argv[1], "--tsv");
    for (size_t i = 0; i < ST_OPT_COUNT_; i++) {
        const struct st_option_desc *d = &st_option_table[i];
        const char *def = *d->def ? d->def : "unset";
        if (tsv) printf("%s\t%s\t%s\n", d->name, def, d->doc);
        else printf("%-30s %-12s %s\n", d->name, def, d->doc);
    }
    return 0;
}
