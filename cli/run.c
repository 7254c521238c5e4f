/* run.c: `sesstrim run [--trim POLICY] [--dump PATH] [--follow-children|--main-only] -- PROG
 * ARGS`: run PROG under the shim, then say where the dumps went and print the summary of
 * the launched program's dump (the analyzer's header, RSS layers and advice).
 *
 * By default (--main-only) only PROG and its forks are traced: the shim is told
 * SESSTRIM_FOLLOW_CHILDREN=0 and SESSTRIM_RUN_PID=PROG's pid, and in any exec'd descendant
 * with another pid it stays dormant and removes itself from LD_PRELOAD (preload/service.c).
 * An exec by PROG itself (a wrapper such as env or a launcher script that execs the real
 * program) keeps the pid and stays traced. */
#include <errno.h>
#include <getopt.h>
#include <glob.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "cli.h"

static pid_t child;

static void forward(int sig)
{
    if (child > 0) kill(child, sig);
}

static void run_usage(void)
{
    fputs("usage: sesstrim run [--trim POLICY] [--dump PATH] [--follow-children|--main-only] [--no-summary] -- PROG ARGS\n"
          "  --trim POLICY       SESSTRIM_TRIM (docs/trim.md), e.g. idle=2s,rss>512M\n"
          "  --dump PATH         dump pattern (%p pid, %t time); default: a new directory in $TMPDIR\n"
          "  --follow-children   also trace programs PROG's processes exec (SESSTRIM_FOLLOW_CHILDREN=1)\n"
          "  --main-only         only PROG and its forks (the default)\n"
          "  --no-summary        do not print the summary at the end\n", stderr);
}

/* The dump pattern as a glob: %p and %t become *. */
static void pattern_to_glob(const char *pat, char *out, size_t len)
{
    size_t o = 0;
    for (const char *p = pat; *p && o + 2 < len; p++) {
        if (p[0] == '%' && (p[1] == 'p' || p[1] == 't')) { out[o++] = '*'; p++; }
        else if (p[0] == '%' && p[1] == '%') { out[o++] = '%'; p++; }
        else out[o++] = *p;
    }
    out[o] = 0;
}

/* The summary: the report up to its first detailed section, plus its advice. */
static void print_summary(const char *dump)
{
    char cmd[PATH_MAX * 2 + 64];
    snprintf(cmd, sizeof cmd, "'%s' --top 5 '%s'", cli_find_report(), dump);
    FILE *f = popen(cmd, "r");
    if (!f) return;
    char line[1024];
    /* The report opens with the header, the RSS summary and the advice; the details start
     * at "Arenas:". (Advice printed after the details, as older reports did, is kept.) */
    int mode = 0;   /* 0: header, summary, advice; 1: skipping details; 2: late advice */
    bool advice_seen = false;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "Advice", 6)) { if (mode == 1) mode = 2; advice_seen = true; }
        if (mode == 0 && !strncmp(line, "Arenas:", 7)) { if (advice_seen) break; mode = 1; }
        if (mode != 1) fputs(line, stdout);
    }
    pclose(f);
    printf("(full report: sesstrim report %s)\n", dump);
}

int cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"trim", required_argument, NULL, 't'}, {"dump", required_argument, NULL, 'd'},
        {"follow-children", no_argument, NULL, 'f'}, {"main-only", no_argument, NULL, 'm'},
        {"no-summary", no_argument, NULL, 'n'}, {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
    const char *trim = NULL, *dump = NULL;
    bool follow = false, summary = true;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+t:d:fmnh", opts, NULL)) != -1) {
        switch (c) {
        case 't': trim = optarg; break;
        case 'd': dump = optarg; break;
        case 'f': follow = true; break;
        case 'm': follow = false; break;
        case 'n': summary = false; break;
        case 'h': run_usage(); return 0;
        default: run_usage(); return 2;
        }
    }
    if (optind >= argc) { run_usage(); return 2; }
    const char *lib = cli_find_library();
    if (!lib) {
        fprintf(stderr, "sesstrim run: libsesstrim.so not found beside %s or in ../lib (set SESSTRIM_LIB)\n", cli_self_dir());
        return 127;
    }
    char dumpbuf[PATH_MAX + 96];
    if (!dump) {
        const char *tmp = getenv("TMPDIR");
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s/sesstrim-run-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir)) { perror("sesstrim run: mkdtemp"); return 1; }
        const char *base = strrchr(argv[optind], '/');
        base = base ? base + 1 : argv[optind];
        snprintf(dumpbuf, sizeof dumpbuf, "%s/%.64s-%%p.bin", dir, base);
        dump = dumpbuf;
    }

    /* Ctrl-C reaches the program through the terminal's process group; sesstrim waits. */
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    child = fork();
    if (child < 0) { perror("sesstrim run: fork"); return 1; }
    if (child == 0) {
        /* The environment is the child's only: the summary's analyzer runs untraced. */
        char preload[PATH_MAX * 2];
        const char *old = getenv("LD_PRELOAD");
        snprintf(preload, sizeof preload, "%s%s%s", lib, old && *old ? ":" : "", old && *old ? old : "");
        setenv("LD_PRELOAD", preload, 1);
        setenv("SESSTRIM_DUMP", dump, 1);
        if (trim) setenv("SESSTRIM_TRIM", trim, 1);
        setenv("SESSTRIM_FOLLOW_CHILDREN", follow ? "1" : "0", 1);
        char pid[24];
        snprintf(pid, sizeof pid, "%d", (int)getpid());
        setenv("SESSTRIM_RUN_PID", pid, 1);
        signal(SIGINT, SIG_DFL);
        signal(SIGQUIT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        execvp(argv[optind], argv + optind);
        fprintf(stderr, "sesstrim run: %s: %s\n", argv[optind], strerror(errno));
        _exit(127);
    }
    int st = 0;
    while (waitpid(child, &st, 0) < 0 && errno == EINTR) {}
    int rc = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 1;

    char pat[PATH_MAX], mine[PATH_MAX + 32] = "";
    pattern_to_glob(dump, pat, sizeof pat);
    glob_t g;
    size_t n = 0;
    if (glob(pat, 0, NULL, &g) == 0) n = g.gl_pathc;
    fprintf(stderr, "sesstrim: %s exited %s %d; %zu dump%s matching %s\n", argv[optind],
            WIFSIGNALED(st) ? "on signal" : "with status", WIFSIGNALED(st) ? WTERMSIG(st) : rc, n,
            n == 1 ? "" : "s", pat);
    char want[32];
    snprintf(want, sizeof want, "%d", (int)child);
    for (size_t i = 0; i < n; i++) {
        fprintf(stderr, "  %s\n", g.gl_pathv[i]);
        const char *b = strrchr(g.gl_pathv[i], '/');
        if (strstr(b ? b : g.gl_pathv[i], want) || (!mine[0] && i + 1 == n)) snprintf(mine, sizeof mine, "%s", g.gl_pathv[i]);
    }
    if (n) globfree(&g);
    if (summary && mine[0]) {
        fflush(stderr);
        print_summary(mine);
    }
    return rc;
}
