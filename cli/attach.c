/* attach.c: `sesstrim attach PID trim|stats` for a process started without the shim,
 * through gdb's batch mode and its Python API (cli/attach.py, installed beside the
 * command or embedded at build time): gdb stops the process, reads glibc's arenas from
 * main_arena (libc's symbol table), and for trim calls malloc_trim(0) and then
 * madvise(MADV_DONTNEED) on each thread arena's top chunk in the target.
 * What it cannot see: no allocation history at all (no live bytes, threads, sessions or
 * sites: those exist only for allocations the shim saw), and nothing of an allocator that
 * is not glibc's. While gdb is attached the process is stopped (a few tens of ms to a
 * second); an arena lock held by a stopped thread makes it detach, wait and retry. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "cli.h"

extern const char attach_py[];    /* cli/attach.py, embedded by the Makefile */

static const char *human(unsigned long long b, char *buf, size_t len)
{
    static const char *u[] = {"B", "KiB", "MiB", "GiB"};
    double v = (double)b;
    int i = 0;
    while (v >= 1024 && i < 3) { v /= 1024; i++; }
    snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", v, u[i]);
    return buf;
}

/* Run gdb once; the script's "sesstrim-attach" lines into *out (malloc'd). */
static int run_gdb(pid_t pid, const char *mode, const char *script, char **out)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "SESSTRIM_ATTACH_MODE=%s timeout -s INT 120 gdb -nx -batch -q -p %d -ex 'set pagination off' "
             "-ex 'set confirm off' -x '%s' 2>&1", mode, (int)pid, script);
    FILE *f = popen(cmd, "r");
    if (!f) return -1;
    size_t cap = 1 << 14, len = 0;
    char *buf = malloc(cap), line[1024];
    buf[0] = 0;
    char lasterr[1024] = "";
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "sesstrim-attach ", 16)) {
            size_t n = strlen(line + 16);
            if (len + n + 1 > cap) { cap = (len + n + 1) * 2; buf = realloc(buf, cap); }
            memcpy(buf + len, line + 16, n + 1);
            len += n;
        } else if (strstr(line, "ptrace") || strstr(line, "Operation not permitted") || strstr(line, "No such process")) {
            snprintf(lasterr, sizeof lasterr, "%s", line);
        }
    }
    int st = pclose(f);
    if (!len) {
        fprintf(stderr, "sesstrim attach: gdb could not read %d%s%s", (int)pid, lasterr[0] ? ": " : "\n", lasterr);
        if (strstr(lasterr, "ptrace")) fprintf(stderr, "  (ptrace refused: same uid needed, and kernel.yama.ptrace_scope=0 or CAP_SYS_PTRACE)\n");
        free(buf);
        return -1;
    }
    *out = buf;
    (void)st;
    return 0;
}

static unsigned long long val(const char *out, const char *key)
{
    size_t k = strlen(key);
    for (const char *p = out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (!strncmp(p, key, k) && p[k] == ' ') return strtoull(p + k + 1, NULL, 10);
    return 0;
}

int cmd_attach(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[2], "trim") && strcmp(argv[2], "stats"))) {
        fputs("usage: sesstrim attach PID trim|stats   (a process started without the shim, through gdb)\n", stderr);
        return 2;
    }
    pid_t pid = (pid_t)atoi(argv[1]);
    if (pid <= 0 || kill(pid, 0) != 0) { fprintf(stderr, "sesstrim attach: no process %s\n", argv[1]); return 1; }
    char script[] = "/tmp/sesstrim-attach-XXXXXX.py";
    int fd = mkstemps(script, 3);
    if (fd < 0) { perror("sesstrim attach: mkstemps"); return 1; }
    size_t n = strlen(attach_py);
    if (write(fd, attach_py, n) != (ssize_t)n) { close(fd); unlink(script); return 1; }
    close(fd);
    bool trim = !strcmp(argv[2], "trim");
    char *out = NULL;
    int rc = 1;
    for (int attempt = 0; attempt < 20; attempt++) {
        free(out);
        out = NULL;
        if (run_gdb(pid, argv[2], script, &out) != 0) break;
        if (!strstr(out, "busy ")) { rc = 0; break; }
        usleep(100000);           /* a stopped thread held an arena lock: let it run, retry */
    }
    unlink(script);
    if (rc) {
        if (out && strstr(out, "busy ")) fprintf(stderr, "sesstrim attach: arena locks stayed busy; nothing done\n");
        free(out);
        return 1;
    }
    if (strstr(out, "error ")) { fprintf(stderr, "sesstrim attach: %s", strstr(out, "error ") + 6); free(out); return 1; }
    char a[32], b[32], c[32], d[32];
    printf("process %d (started without the shim), glibc arenas: %llu\n", (int)pid, val(out, "arenas"));
    printf("  %-5s %-7s %12s %12s %s\n", "arena", "kind", "system", "top chunk", "");
    for (const char *p = out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        unsigned id, locked;
        char kind[16];
        unsigned long long sys, top;
        if (sscanf(p, "arena %u kind %15s system %llu top %llu locked %u", &id, kind, &sys, &top, &locked) == 5)
            printf("  %-5u %-7s %12s %12s %s\n", id, kind, human(sys, a, sizeof a), human(top, b, sizeof b), locked ? "(locked)" : "");
    }
    unsigned long long before = val(out, "rss_before"), after = val(out, "rss_after");
    if (trim) {
        unsigned long long g = val(out, "glibc_released"), t = val(out, "tops_released");
        printf("trim: RSS %s -> %s: malloc_trim(0) released %s, thread-arena tops %s\n", human(before, a, sizeof a),
               human(after, b, sizeof b), human(g, c, sizeof c), human(t, d, sizeof d));
    } else {
        printf("RSS %s\n", human(before, a, sizeof a));
    }
    printf("not seen without the shim: live bytes, threads, sessions, allocation sites (no allocation history)\n");
    free(out);
    return 0;
}
