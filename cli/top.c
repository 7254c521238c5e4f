/* top.c: `sesstrim top PID [--once] [--interval SECONDS]`: a live view of a process running
 * with the shim, from its control socket's `stats` answer, redrawn every second with
 * ncurses: RSS and its layers, live bytes, arenas, threads, sessions, trims. Keys: q quits,
 * t asks for a trim. --once prints one frame as plain text (no terminal needed). */
#include <curses.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

#define MAX_ROWS 64

struct kv { char key[40]; char val[80]; };
struct frame {
    struct kv kv[48]; int nkv;
    char arenas[MAX_ROWS][160]; int narenas;
    char sessions[MAX_ROWS][160]; int nsessions;
};

static const char *get(const struct frame *f, const char *k)
{
    for (int i = 0; i < f->nkv; i++) if (!strcmp(f->kv[i].key, k)) return f->kv[i].val;
    return "0";
}
static unsigned long long num(const struct frame *f, const char *k) { return strtoull(get(f, k), NULL, 10); }

static const char *human(unsigned long long b, char *buf, size_t len)
{
    static const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)b;
    int i = 0;
    while (v >= 1024 && i < 4) { v /= 1024; i++; }
    snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", v, u[i]);
    return buf;
}

static int fetch(pid_t pid, struct frame *f)
{
    char *ans;
    size_t len;
    if (ctl_request(pid, "stats", &ans, &len, 5000) != 0) return -1;
    memset(f, 0, sizeof *f);
    for (char *line = strtok(ans, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strncmp(line, "arena ", 6) && f->narenas < MAX_ROWS) snprintf(f->arenas[f->narenas++], 160, "%s", line + 6);
        else if (!strncmp(line, "session ", 8) && f->nsessions < MAX_ROWS) snprintf(f->sessions[f->nsessions++], 160, "%s", line + 8);
        else if (f->nkv < 48) {
            char *sp = strchr(line, ' ');
            if (!sp) continue;
            *sp = 0;
            snprintf(f->kv[f->nkv].key, sizeof f->kv[0].key, "%s", line);
            snprintf(f->kv[f->nkv].val, sizeof f->kv[0].val, "%s", sp + 1);
            f->nkv++;
        }
    }
    free(ans);
    return 0;
}

/* One frame as lines of text; out(line) draws or prints each. */
static void render(const struct frame *f, const struct frame *prev, void (*out)(int row, const char *s, bool bold), int max_rows)
{
    char a[32], b[32], c[32], d[32], e[32], line[256];
    int r = 0;
    snprintf(line, sizeof line, "sesstrim top %s (%s)   up %s s   every 1 s   q quit, t trim",
             get(f, "pid"), get(f, "comm"), get(f, "uptime_seconds"));
    out(r++, line, true);
    long long drss = prev && prev->nkv ? (long long)num(f, "rss_bytes") - (long long)num(prev, "rss_bytes") : 0;
    snprintf(line, sizeof line, "RSS %s (%+lld KiB/s) = heap %s + glibc mmapped %s + other %s (the shim mapped %s)",
             human(num(f, "rss_bytes"), a, sizeof a), drss / 1024, human(num(f, "heap_resident_bytes"), b, sizeof b),
             human(num(f, "glibc_mmapped_bytes"), c, sizeof c), human(num(f, "other_resident_bytes"), e, sizeof e),
             human(num(f, "shim_metadata_bytes"), d, sizeof d));
    out(r++, line, false);
    snprintf(line, sizeof line, "live %s in %llu allocations   free in arenas %s",
             human(num(f, "live_bytes"), a, sizeof a), num(f, "live_allocations"), human(num(f, "heap_free_bytes"), b, sizeof b));
    out(r++, line, false);
    snprintf(line, sizeof line, "threads %llu (seen %llu)   arenas %llu (logic %s)   sessions open %llu   trims %llu, released %s",
             num(f, "threads"), num(f, "threads_seen"), num(f, "arenas"), get(f, "arena_logic"),
             num(f, "sessions_open"), num(f, "trims"), human(num(f, "trim_released_bytes"), a, sizeof a));
    out(r++, line, false);
    out(r++, "", false);
    out(r++, "ARENA      RESIDENT        FREE      SYSTEM     TOP-RES  THREADS", true);
    for (int i = 0; i < f->narenas && r < max_rows - 4; i++) {
        char id[16] = "";
        unsigned long long res = 0, fr = 0, sys = 0, top = 0, th = 0;
        sscanf(f->arenas[i], "%15s resident %llu free %llu system %llu top_resident %llu threads %llu", id, &res, &fr, &sys, &top, &th);
        snprintf(line, sizeof line, "%-6s %12s %11s %11s %11s %8llu", id, human(res, a, sizeof a), human(fr, b, sizeof b),
                 human(sys, c, sizeof c), human(top, d, sizeof d), th);
        out(r++, line, false);
    }
    out(r++, "", false);
    out(r++, "SESSION                          LIVE     ALLOCS  STATE", true);
    for (int i = 0; i < f->nsessions && r < max_rows; i++) {
        char name[72] = "", st[16] = "";
        unsigned long long live = 0, n = 0;
        /* "NAME live N allocations N state S": the name may hold spaces, read from the end. */
        char *p = strstr(f->sessions[i], " live ");
        if (!p) continue;
        snprintf(name, sizeof name, "%.*s", (int)(p - f->sessions[i]), f->sessions[i]);
        sscanf(p, " live %llu allocations %llu state %15s", &live, &n, st);
        snprintf(line, sizeof line, "%-28.28s %10s %10llu  %s", name, human(live, a, sizeof a), n, st);
        out(r++, line, false);
    }
}

static void out_text(int row, const char *s, bool bold) { (void)row; (void)bold; puts(s); }
static void out_curses(int row, const char *s, bool bold)
{
    if (bold) attron(A_BOLD);
    mvaddnstr(row, 0, s, COLS);
    if (bold) attroff(A_BOLD);
}

int cmd_top(int argc, char **argv)
{
    static const struct option opts[] = {{"once", no_argument, NULL, 'o'}, {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
    bool once = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "oh", opts, NULL)) != -1) {
        if (c == 'o') once = true;
        else { fputs("usage: sesstrim top [--once] PID\n", c == 'h' ? stdout : stderr); return c == 'h' ? 0 : 2; }
    }
    if (optind + 1 != argc) { fputs("usage: sesstrim top [--once] PID\n", stderr); return 2; }
    pid_t pid = (pid_t)atoi(argv[optind]);
    if (pid <= 0) { fprintf(stderr, "sesstrim top: '%s' is not a pid\n", argv[optind]); return 2; }
    ctl_become_owner(pid);
    static struct frame f, prev;
    if (fetch(pid, &f) != 0) return 1;
    if (once || !isatty(1)) { render(&f, NULL, out_text, 1000); return 0; }
    initscr();
    cbreak();
    noecho();
    curs_set(0);
    timeout(1000);                /* getch waits at most a second: the refresh period */
    int rc = 0;
    char msg[128] = "";
    for (;;) {
        erase();
        render(&f, &prev, out_curses, LINES - 1);
        if (msg[0]) { attron(A_REVERSE); mvaddnstr(LINES - 1, 0, msg, COLS); attroff(A_REVERSE); }
        refresh();
        int ch = getch();
        if (ch == 'q' || ch == 'Q') break;
        msg[0] = 0;
        if (ch == 't') {
            char *ans;
            size_t len;
            if (ctl_request(pid, "trim", &ans, &len, 60000) == 0) {
                ans[strcspn(ans, "\n")] = 0;
                snprintf(msg, sizeof msg, "trim: %s", ans);
                free(ans);
            }
        }
        prev = f;
        if (fetch(pid, &f) != 0) { rc = 1; break; }
    }
    endwin();
    if (rc) fprintf(stderr, "sesstrim top: %d is gone or stopped answering\n", (int)pid);
    return rc;
}
