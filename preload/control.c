/* control.c: the control socket. One Unix stream socket per process in the abstract
 * namespace, "@sesstrim-PID" (no file to clean up, gone when the process is; a fork child
 * opens its own under its own pid), served by the shim's service thread, one request line
 * per connection: stats, metrics, sessions, config, trim, dump [PATH], ping.
 *
 * Host safety, point by point:
 *  - Opened only once the process has lived 1 s (control_maybe_start, or the service loop):
 *    a shell loop of short processes never pays for a socket or a thread. If the program
 *    is out of fds (or memory) then, the shim tries again every CTL_RETRY_NS, silently:
 *    a daemon that holds every fd for a while gets no warning line on its stderr.
 *  - The listening fd is O_CLOEXEC and moved high (F_DUPFD_CLOEXEC from half the fd limit,
 *    at most 1000; the low number is closed at once), so the program's first open() still
 *    returns 3. Its identity (an AF_UNIX socket bound to our name) is checked with
 *    getsockname before every poll/accept: a program that close_range()d it or reuses the
 *    number is never touched; the socket is recreated once, then the feature stops with one
 *    warning line. A number found not to be ours is forgotten, never closed.
 *  - Peers whose uid differs from the process's effective uid are refused (SO_PEERCRED).
 *  - Bounded work: at most CTL_BURST connections per wake-up; answers are rendered into one
 *    buffer mapped for the burst (CTL_BUF bytes, unmapped after), and the same request
 *    within CTL_CACHE_NS reuses the last answer, so 1000 clients cost a few renders.
 *    trim and dump run at most once per second. Each connection gets CTL_READ_MS to send
 *    its line and CTL_WRITE_MS to read the answer (non-blocking fd + poll): a stuck client
 *    delays other clients at most that long and never the program, whose threads the
 *    service thread does not share a lock with except briefly (arena locks, registries).
 *  - Nothing here calls malloc. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "shim.h"
#include "service.h"

#define CTL_BUF (256u << 10)
#define CTL_BURST 256
#define CTL_READ_MS 1000
#define CTL_WRITE_MS 2000
#define CTL_CACHE_NS 250000000ull
#define CTL_MIN_AGE_NS 1000000000ull   /* open the socket once the process lived 1 s */

static int lfd = -1;                   /* listening socket, -1: none */
static struct sockaddr_un addr;
static socklen_t addr_len;
static bool recreated, gave_up;
static int lazy_done;                  /* atomic: control_maybe_start has nothing to do */
#define CTL_RETRY_NS 5000000000ull     /* after a shortage of fds or memory: try again in 5 s */
static uint64_t retry_at_ns;           /* realtime; 0: no retry pending */

static void make_name(void)
{
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    int n = snprintf(addr.sun_path + 1, sizeof addr.sun_path - 1, "sesstrim-%d", (int)st_pid);
    addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

const char *control_name(char *buf, size_t len)
{
    snprintf(buf, len, "@%.*s", (int)(addr_len - offsetof(struct sockaddr_un, sun_path) - 1), addr.sun_path + 1);
    return buf;
}

static bool fd_is_ours(int fd)
{
    struct sockaddr_un a;
    socklen_t l = sizeof a;
    if (fd < 0 || getsockname(fd, (struct sockaddr *)&a, &l) != 0) return false;
    return l == addr_len && a.sun_family == AF_UNIX && !memcmp(a.sun_path, addr.sun_path, l - offsetof(struct sockaddr_un, sun_path));
}

static int high_fd_floor(void)
{
    struct rlimit rl;
    long floor = 1000;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (long)rl.rlim_cur / 2 < floor)
        floor = (long)rl.rlim_cur / 2;
    return floor < 10 ? 10 : (int)floor;
}

static int open_socket(void)
{
    make_name();
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0) return -1;
    /* Moved high at once, before bind/listen: the low number is ours for microseconds only,
     * and closed only if it is still our socket (the program may have dup2()'d over it). */
    int high = fcntl(s, F_DUPFD_CLOEXEC, high_fd_floor());
    if (high >= 0) {
        struct stat a, b;
        if (fstat(s, &a) == 0 && fstat(high, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev) close(s);
        s = high;
    }
    if (bind(s, (struct sockaddr *)&addr, addr_len) != 0 || listen(s, 128) != 0) {
        int e = errno;
        close(s);
        errno = e;
        return -1;
    }
    return s;
}

bool control_open(void)
{
    if (lfd >= 0 || gave_up || !st_opt.control) return lfd >= 0;
    if (st_realtime_ns() < retry_at_ns) return false;
    lfd = open_socket();
    if (lfd < 0) {
        char n[64];
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            /* The program is short of descriptors or memory right now (a daemon that holds
             * every fd for a while does this): not a fault to warn about on its stderr, and
             * not a reason to give up. Try again later, saying so only if asked. */
            retry_at_ns = st_realtime_ns() + CTL_RETRY_NS;
            st_info("control socket %s: %s; trying again in %u s", control_name(n, sizeof n), strerror(errno),
                    (unsigned)(CTL_RETRY_NS / 1000000000ull));
            return false;
        }
        gave_up = true;
        st_log("control socket %s: %s; sesstrim ctl/top will not reach this process", control_name(n, sizeof n), strerror(errno));
        return false;
    }
    return true;
}

int control_fd(void)
{
    if (lfd < 0) return -1;
    if (ST_LIKELY(fd_is_ours(lfd))) return lfd;
    lfd = -1;                          /* not ours any more: forget the number, never close it */
    if (!recreated) {
        recreated = true;
        if ((lfd = open_socket()) >= 0) return lfd;
    }
    gave_up = true;
    st_log("the control socket was closed by the program and could not be reopened: sesstrim ctl is off here");
    return -1;
}

bool control_is_open(void) { return lfd >= 0; }


void control_after_fork_child(void)
{
    /* The inherited listening socket is the parent's: close our copy if the number is still
     * the parent's socket (the parent keeps serving), and open the child's own later. */
    if (lfd >= 0 && fd_is_ours(lfd)) close(lfd);
    lfd = -1;
    recreated = gave_up = false;
    retry_at_ns = 0;
    __atomic_store_n(&lazy_done, 0, __ATOMIC_RELAXED);
}

bool control_due(uint64_t *due_realtime_ns)
{
    if (lfd >= 0 || gave_up || !st_opt.control) return false;
    *due_realtime_ns = st_start_realtime_ns + CTL_MIN_AGE_NS;
    if (retry_at_ns > *due_realtime_ns) *due_realtime_ns = retry_at_ns;
    return true;
}

void control_maybe_start(void)
{
    if (ST_LIKELY(__atomic_load_n(&lazy_done, __ATOMIC_RELAXED))) return;
    if (!st_started || !st_opt.control) { __atomic_store_n(&lazy_done, 1, __ATOMIC_RELAXED); return; }
    if (st_realtime_ns() - st_start_realtime_ns < CTL_MIN_AGE_NS) return;
    if (__atomic_exchange_n(&lazy_done, 1, __ATOMIC_ACQ_REL)) return;
    service_ensure_running();
}

/* ---- one connection */
static uint64_t deadline_left_ms(uint64_t deadline)
{
    uint64_t now = st_now_ns();
    return now >= deadline ? 0 : (deadline - now) / 1000000 + 1;
}

static bool read_line(int c, char *line, size_t len)
{
    size_t have = 0;
    uint64_t deadline = st_now_ns() + CTL_READ_MS * 1000000ull;
    while (have + 1 < len) {
        ssize_t n = read(c, line + have, len - 1 - have);
        if (n > 0) {
            have += (size_t)n;
            if (memchr(line, '\n', have)) break;
            continue;
        }
        if (n == 0) break;
        if (errno == EINTR) continue;
        if (errno != EAGAIN) return false;
        uint64_t left = deadline_left_ms(deadline);
        struct pollfd p = {c, POLLIN, 0};
        if (!left || poll(&p, 1, (int)left) <= 0) return false;
    }
    line[have] = 0;
    line[strcspn(line, "\r\n")] = 0;
    return have > 0;
}

static void write_all(int c, const char *p, size_t len)
{
    uint64_t deadline = st_now_ns() + CTL_WRITE_MS * 1000000ull;
    while (len) {
        ssize_t n = send(c, p, len, MSG_NOSIGNAL);
        if (n > 0) { p += n; len -= (size_t)n; continue; }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EAGAIN) return;
        uint64_t left = deadline_left_ms(deadline);
        struct pollfd pf = {c, POLLOUT, 0};
        if (!left || poll(&pf, 1, (int)left) <= 0) return;
    }
}

struct burst {
    char *buf;                         /* CTL_BUF bytes, mapped for the burst */
    size_t len;
    char last[64];                     /* request whose answer buf holds */
    uint64_t at_ns;
};
static uint64_t last_trim_ns, last_dump_ns;

static void answer(struct burst *bs, const char *req)
{
    struct tbuf b = {bs->buf, 0, CTL_BUF - 32, false};   /* room kept for the mark below */
    char verb[16] = "";
    const char *arg = req;
    size_t vl = strcspn(req, " \t");
    if (vl < sizeof verb) { memcpy(verb, req, vl); verb[vl] = 0; }
    arg = req + vl;
    while (*arg == ' ' || *arg == '\t') arg++;
    uint64_t now = st_now_ns();
    bool cacheable = !strcmp(verb, "stats") || !strcmp(verb, "metrics") || !strcmp(verb, "sessions") ||
                     !strcmp(verb, "config");
    if (cacheable && bs->len && !strcmp(bs->last, req) && now - bs->at_ns < CTL_CACHE_NS) return;
    bs->last[0] = 0;
    if (!strcmp(verb, "stats")) render_stats(&b);
    else if (!strcmp(verb, "metrics")) render_metrics(&b);
    else if (!strcmp(verb, "sessions")) render_sessions(&b);
    else if (!strcmp(verb, "config")) {
        char n[64];
        tb_printf(&b, "control %s\npid %d\n", control_name(n, sizeof n), (int)st_pid);
        b.len += options_describe(b.p + b.len, b.cap - b.len);
    } else if (!strcmp(verb, "ping")) {
        tb_printf(&b, "pong %d\n", (int)st_pid);
    } else if (!strcmp(verb, "trim")) {
        if (last_trim_ns && now - last_trim_ns < 1000000000ull) {
            tb_printf(&b, "error: busy: a trim ran less than 1 s ago\n");
        } else {
            uint64_t before = proc_rss_bytes();
            long long rel = trim_now(ST_TRIG_API);
            uint64_t after = proc_rss_bytes();
            last_trim_ns = st_now_ns();
            tb_printf(&b, "released_bytes %lld\nrss_before_bytes %llu\nrss_after_bytes %llu\n", rel,
                      (unsigned long long)before, (unsigned long long)after);
        }
    } else if (!strcmp(verb, "dump")) {
        char path[512];
        const char *pattern = *arg ? arg : st_opt.dump_path;
        if (last_dump_ns && now - last_dump_ns < 1000000000ull) tb_printf(&b, "error: busy: a dump was written less than 1 s ago\n");
        else if (!*pattern) tb_printf(&b, "error: no path given and SESSTRIM_DUMP is not set\n");
        else if (*arg && *arg != '/') tb_printf(&b, "error: the path must be absolute (the process's cwd is not yours)\n");
        else if (!st_expand_path(pattern, path, sizeof path)) tb_printf(&b, "error: path too long\n");
        else {
            last_dump_ns = st_now_ns();
            if (dump_write(path, ST_DUMP_API) == 0) tb_printf(&b, "dump %s\n", path);
            else tb_printf(&b, "error: the dump to %s failed (see the process's log)\n", path);
        }
    } else {
        tb_printf(&b, "error: unknown request '%.40s' (stats, metrics, sessions, config, trim, dump [PATH], ping)\n", req);
    }
    if (b.truncated) { b.cap = CTL_BUF; tb_printf(&b, "\n# truncated\n"); }
    bs->len = b.len;
    size_t rl = strlen(req);
    if (cacheable && rl < sizeof bs->last) { memcpy(bs->last, req, rl + 1); bs->at_ns = now; }
}

static void serve_one(struct burst *bs, int c)
{
    struct ucred cred;
    socklen_t cl = sizeof cred;
    if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0) return;
    char line[600];
    if (cred.uid != geteuid()) {
        /* Read its line first: closing a socket with unread data resets it, and the peer
         * would lose the refusal. */
        (void)read_line(c, line, sizeof line);
        char msg[96];
        int n = snprintf(msg, sizeof msg, "error: refused: uid %u is not this process's uid\n", (unsigned)cred.uid);
        write_all(c, msg, (size_t)n);
        return;
    }
    if (!read_line(c, line, sizeof line)) return;      /* empty: a wake-up poke */
    answer(bs, line);
    write_all(c, bs->buf, bs->len);
}

void control_serve(int fd)
{
    struct burst bs = {0};
    for (int i = 0; i < CTL_BURST; i++) {
        int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* The program is at its fd limit: the connection stays pending and poll()
                 * would return at once forever. Pause instead of spinning. */
                struct timespec ts = {0, 200000000};
                nanosleep(&ts, NULL);
            }
            break;
        }
        if (!bs.buf && !(bs.buf = meta_map(CTL_BUF))) { close(c); break; }
        serve_one(&bs, c);
        close(c);
    }
    if (bs.buf) meta_unmap(bs.buf, CTL_BUF);
}
