/* main.c: the sesstrim-report command line: parse options, load every dump (all or
 * nothing), hand them to the chosen output. Exit 0 ok, 1 bad usage, 2 a dump failed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "report.h"

#define SESSTRIM_REPORT_VERSION "0.1"

static const char usage_text[] =
    "usage: sesstrim-report [--json] [--html FILE] [--top N] [--no-symbols] DUMP...\n"
    "       sesstrim-report --diff OLD NEW [--json] [--top N] [--no-symbols]\n"
    "       sesstrim-report --help | --version\n"
    "\n"
    "Reads sesstrim dumps and explains where the process's memory went: the RSS layers,\n"
    "arenas, threads, sessions, allocation sites, the timeline, trims and advice.\n"
    "Several dumps (a parent and the processes it spawned) make one family report.\n"
    "\n"
    "  --json        machine-readable report (keys: docs/report-json.md)\n"
    "  --html FILE   write a self-contained HTML page with charts to FILE\n"
    "  --top N       rows in the \"top\" tables (default 10)\n"
    "  --no-symbols  print sites as module+offset, do not read debug info\n"
    "  --diff        what grew between two dumps of the same program\n"
    "\n"
    "Exit status: 0 ok, 1 bad usage, 2 a dump could not be read (one line on stderr).\n";

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "sesstrim-report: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(try sesstrim-report --help)\n");
    return 1;
}

static int parse_top(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 1 || v > 1000000) return -1;
    *out = (int)v;
    return 0;
}

int main(int argc, char **argv)
{
    struct st_report_opts opts = {.top_n = 10, .symbolize = true};
    bool json = false, diff = false, only_files = false;
    const char *html = NULL;
    const char **files = calloc((size_t)argc, sizeof *files);
    size_t nfiles = 0;
    if (!files) {
        fprintf(stderr, "sesstrim-report: out of memory\n");
        return 2;
    }

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_files || a[0] != '-' || strcmp(a, "-") == 0) {
            files[nfiles++] = a;
        } else if (strcmp(a, "--") == 0) {
            only_files = true;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage_text, stdout);
            free(files);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            printf("sesstrim-report %s (dump format %d, reads versions 1..%d)\n", SESSTRIM_REPORT_VERSION,
                   SESSTRIM_DUMP_VERSION, SESSTRIM_DUMP_VERSION_MAX_READ);
            free(files);
            return 0;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (strcmp(a, "--diff") == 0) {
            diff = true;
        } else if (strcmp(a, "--no-symbols") == 0) {
            opts.symbolize = false;
        } else if (strcmp(a, "--html") == 0 || strcmp(a, "--top") == 0) {
            if (i + 1 >= argc) {
                free(files);
                return usage_error("%s needs a value", a);
            }
            const char *v = argv[++i];
            if (strcmp(a, "--html") == 0) {
                html = v;
            } else if (parse_top(v, &opts.top_n) != 0) {
                free(files);
                return usage_error("--top wants a number from 1 to 1000000, not '%s'", v);
            }
        } else {
            free(files);
            return usage_error("unknown option '%s'", a);
        }
    }
    if (nfiles == 0) {
        free(files);
        return usage_error("%s", "no dump given");
    }
    if (diff && nfiles != 2) {
        free(files);
        return usage_error("%s", "--diff takes exactly two dumps: OLD NEW");
    }
    if (diff && html) {
        free(files);
        return usage_error("%s", "--diff and --html cannot be combined");
    }

    struct st_dump *dumps = calloc(nfiles, sizeof *dumps);
    if (!dumps) {
        fprintf(stderr, "sesstrim-report: out of memory\n");
        free(files);
        return 2;
    }
    int rc = 0;
    size_t loaded = 0;
    for (; loaded < nfiles; loaded++) {
        char err[1024];
        if (st_dump_load(files[loaded], &dumps[loaded], err, sizeof err) != 0) {
            fprintf(stderr, "sesstrim-report: %s\n", err);
            rc = 2;
            break;
        }
    }
    if (rc == 0) {
        if (diff) {
            rc = report_diff(stdout, &dumps[0], &dumps[1], json, &opts);
        } else {
            model_family_order(dumps, nfiles); /* a family: each parent before its children */
            if (html) rc = report_html(html, dumps, nfiles, &opts);
            if (rc == 0 && json) rc = report_json(stdout, dumps, nfiles, &opts);
            else if (rc == 0 && !html) rc = report_text(stdout, dumps, nfiles, &opts);
        }
        if (rc == 0 && (fflush(stdout) != 0 || ferror(stdout))) {
            fprintf(stderr, "sesstrim-report: error writing the report: %s\n", strerror(errno));
            rc = 2;
        }
    }
    for (size_t i = 0; i < loaded; i++) st_dump_free(&dumps[i]);
    free(dumps);
    free(files);
    return rc;
}
