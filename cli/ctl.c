/* ctl.c: `sesstrim ctl PID REQUEST`: one request line to the process's control socket
 * (abstract "@sesstrim-PID", see preload/control.c), the answer printed as it comes. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ctl_become_owner(pid_t pid)
{
    if (geteuid() != 0) return;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return;
    unsigned uid = 0, gid = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "Uid:", 4)) sscanf(line + 4, "%*u %u", &uid);
        if (!strncmp(line, "Gid:", 4)) sscanf(line + 4, "%*u %u", &gid);
    }
    fclose(f);
    if (uid == 0) return;
    /* The shim answers its own (effective) uid only: root asks as the owner. */
    if (setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0)
        fprintf(stderr, "sesstrim: could not take uid %u: %s\n", uid, strerror(errno));
}

int ctl_request(pid_t pid, const char *request, char **answer, size_t *len, int timeout_ms)
{
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    int n = snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "sesstrim-%d", (int)pid);
    socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) { perror("sesstrim: socket"); return -1; }
    /* connect() to a full backlog waits; bound it like the rest of the exchange. */
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(s, (struct sockaddr *)&a, alen) != 0) {
        int e = errno;
        if (e == ECONNREFUSED || e == ENOENT) {
            /* Say which of the reasons it is, as far as /proc tells. */
            char maps[64], line[512];
            snprintf(maps, sizeof maps, "/proc/%d/maps", (int)pid);
            FILE *m = fopen(maps, "r");
            int merr = errno;
            bool loaded = false;
            while (m && !loaded && fgets(line, sizeof line, m)) loaded = strstr(line, "libsesstrim") != NULL;
            if (m) fclose(m);
            if (!m)
                fprintf(stderr, "sesstrim: no control socket @sesstrim-%d, and %s: %s\n", (int)pid, maps, strerror(merr));
            else if (!loaded)
                fprintf(stderr, "sesstrim: %d does not run with libsesstrim.so (for such a process: sesstrim attach %d trim|stats)\n",
                        (int)pid, (int)pid);
            else
                fprintf(stderr, "sesstrim: no control socket @sesstrim-%d: it opens once the process has lived 1 s, at an "
                        "allocation (an idle process may not have reached one yet), unless SESSTRIM_CONTROL=off or the "
                        "process is in another network namespace\n", (int)pid);
        } else {
            fprintf(stderr, "sesstrim: connect to @sesstrim-%d: %s\n", (int)pid, strerror(e));
        }
        close(s);
        return -1;
    }
    /* The name is only a name: check the process behind it is the one asked for. */
    struct ucred cred;
    socklen_t cl = sizeof cred;
    if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0 && cred.pid != pid && cred.pid != 0) {
        fprintf(stderr, "sesstrim: @sesstrim-%d is served by pid %d (another pid namespace?)\n", (int)pid, (int)cred.pid);
    }
    char line[700];
    int ln = snprintf(line, sizeof line, "%s\n", request);
    if (ln >= (int)sizeof line || write(s, line, (size_t)ln) != ln) {
        fprintf(stderr, "sesstrim: sending the request failed\n");
        close(s);
        return -1;
    }
    shutdown(s, SHUT_WR);
    size_t cap = 1 << 16, have = 0;
    char *buf = malloc(cap);
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        if (!buf) { close(s); return -1; }
        if (have + 1 >= cap) { cap *= 2; char *nb = realloc(buf, cap); if (!nb) { free(buf); close(s); return -1; } buf = nb; }
        struct pollfd p = {s, POLLIN, 0};
        long long left = deadline - now_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
            fprintf(stderr, "sesstrim: no answer from %d within %d ms\n", (int)pid, timeout_ms);
            free(buf); close(s); return -1;
        }
        ssize_t r = read(s, buf + have, cap - 1 - have);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        have += (size_t)r;
    }
    close(s);
    buf[have] = 0;
    *answer = buf;
    *len = have;
    return 0;
}

static void ctl_usage(void)
{
    fputs("usage: sesstrim ctl PID stats|metrics|sessions|config|trim|dump [PATH]|ping\n", stderr);
}

int cmd_ctl(int argc, char **argv)
{
    if (argc < 3) { ctl_usage(); return 2; }
    char *end;
    long pid = strtol(argv[1], &end, 10);
    if (*end || pid <= 0) { fprintf(stderr, "sesstrim ctl: '%s' is not a pid\n", argv[1]); return 2; }
    char req[600];
    const char *verb = argv[2];
    static const char *const verbs[] = {"stats", "metrics", "sessions", "config", "trim", "dump", "ping"};
    bool ok = false;
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) ok |= !strcmp(verb, verbs[i]);
    if (!ok || (argc > 3 && strcmp(verb, "dump")) || argc > 4) { ctl_usage(); return 2; }
    if (!strcmp(verb, "dump") && argc == 4) {
        /* The process resolves paths against its own cwd: send an absolute one. */
        char abs[PATH_MAX + 1];
        if (argv[3][0] == '/') snprintf(abs, sizeof abs, "%s", argv[3]);
        else {
            char cwd[PATH_MAX];
            if (!getcwd(cwd, sizeof cwd)) { perror("sesstrim: getcwd"); return 1; }
            snprintf(abs, sizeof abs, "%s/%s", cwd, argv[3]);
        }
        if (strlen(abs) > 500) { fprintf(stderr, "sesstrim ctl: path too long\n"); return 2; }
        snprintf(req, sizeof req, "dump %.500s", abs);
    } else {
        snprintf(req, sizeof req, "%s", verb);
    }
    ctl_become_owner((pid_t)pid);
    char *ans;
    size_t len;
    /* trim and dump may wait for arena locks and write files: allow them longer. */
    int timeout = (!strcmp(verb, "trim") || !strcmp(verb, "dump")) ? 60000 : 10000;
    if (ctl_request((pid_t)pid, req, &ans, &len, timeout) != 0) return 1;
    fwrite(ans, 1, len, stdout);
    int rc = 0;
    if (!strncmp(ans, "error:", 6)) rc = 1;
    if (!len) { fprintf(stderr, "sesstrim: empty answer (refused?)\n"); rc = 1; }
    free(ans);
    return rc;
}
