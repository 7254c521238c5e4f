/* main.c: `sesstrim`, one command for operators: run a program under the shim, talk to a
 * running one, watch it, trim a process started without the shim, read dumps. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

static void usage(FILE *f)
{
    fputs("usage: sesstrim COMMAND ...\n"
          "  run [--trim POLICY] [--dump PATH] [--follow-children|--main-only] -- PROG ARGS\n"
          "                       run PROG under the shim; print where dumps went and a summary\n"
          "  ctl PID stats|dump [PATH]|trim|sessions|config|metrics\n"
          "                       ask a process running with the shim (its control socket)\n"
          "  top PID              live view, refreshed every second (q quits)\n"
          "  attach PID trim|stats\n"
          "                       a process started without the shim, through gdb\n"
          "  report ARGS          the analyzer (same as sesstrim-report ARGS)\n"
          "  options              every SESSTRIM_* option with its default\n"
          "See sesstrim(1), sesstrim(7).\n", f);
}

static char self_dir[PATH_MAX];

const char *cli_self_dir(void)
{
    if (!self_dir[0]) {
        ssize_t n = readlink("/proc/self/exe", self_dir, sizeof self_dir - 1);
        if (n <= 0) { strcpy(self_dir, "."); return self_dir; }
        self_dir[n] = 0;
        char *slash = strrchr(self_dir, '/');
        if (slash && slash != self_dir) *slash = 0;
    }
    return self_dir;
}

static char lib_path[PATH_MAX + 32];

const char *cli_find_library(void)
{
    const char *env = getenv("SESSTRIM_LIB");
    if (env && *env) return access(env, R_OK) == 0 ? env : NULL;
    static const char *const rel[] = {"libsesstrim.so", "../lib/libsesstrim.so",
                                      "../lib/x86_64-linux-gnu/libsesstrim.so"};
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        snprintf(lib_path, sizeof lib_path, "%s/%s", cli_self_dir(), rel[i]);
        char real[PATH_MAX];
        if (access(lib_path, R_OK) == 0 && realpath(lib_path, real)) {
            snprintf(lib_path, sizeof lib_path, "%s", real);
            return lib_path;
        }
    }
    return NULL;
}

static char report_path[PATH_MAX + 32];

const char *cli_find_report(void)
{
    snprintf(report_path, sizeof report_path, "%s/sesstrim-report", cli_self_dir());
    if (access(report_path, X_OK) == 0) return report_path;
    return "sesstrim-report";
}

int cmd_report(int argc, char **argv)
{
    const char *rep = cli_find_report();
    argv[0] = (char *)rep;
    execvp(rep, argv);
    fprintf(stderr, "sesstrim report: cannot run %s: %s\n", rep, strerror(errno));
    (void)argc;
    return 127;
}

int main(int argc, char **argv)
{
    if (argc < 2) { usage(stderr); return 2; }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) { usage(stdout); return 0; }
    static const struct { const char *name; int (*fn)(int, char **); } cmds[] = {
        {"run", cmd_run}, {"ctl", cmd_ctl}, {"top", cmd_top}, {"attach", cmd_attach},
        {"report", cmd_report}, {"options", cmd_options},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(cmd, cmds[i].name)) return cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "sesstrim: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
