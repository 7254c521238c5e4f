/* proxystore_family.c: the ProxyStore case: a parent spawns several object-store servers
 * (fork + exec of itself), each serving requests over a Unix socket and holding objects. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "sesstrim.h"

/*
 * Usage: proxystore_family [servers=N] [requests=R] [size=BYTES]
 *        proxystore_family server SOCKET ID      (what the parent execs)
 *
 * Each server keeps the objects clients SET until they are EVICTed, like a ProxyStore
 * XServer, and prints at exit what it holds by its own count. All of a server's
 * allocations happen inside one sesstrim session named "store", so the dump's session
 * numbers and the server's own bookkeeping must agree exactly.
 */

enum op { OP_SET = 1, OP_GET = 2, OP_EVICT = 3, OP_QUIT = 4 };

struct request { uint32_t op, key; uint64_t size; };
struct reply { int32_t status, pad; uint64_t size; };

#define MAX_OBJECTS 4096

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_all(int fd, void *p, size_t n)
{
    char *c = p;
    while (n) {
        ssize_t r = read(fd, c, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

/* stdio would malloc its buffer inside the session; format on the stack, write(2) it. */
static void say(const char *line)
{
    if (write_all(1, line, strlen(line)) != 0) _exit(3);
}

/* ---- server */

struct object { uint32_t key; void *data; uint64_t size; };

static struct object store[MAX_OBJECTS];   /* static: the table itself is not a heap object */

static struct object *find(uint32_t key)
{
    for (size_t i = 0; i < MAX_OBJECTS; i++)
        if (store[i].data && store[i].key == key) return &store[i];
    return NULL;
}

static int serve(const char *sock_path, int id)
{
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock_path);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(lfd, 16) != 0) {
        perror("server: bind/listen");
        return 1;
    }
    sesstrim_session_t session = sesstrim_session_begin("store");
    uint64_t allocs = 0, sets = 0, gets = 0, evicts = 0, objects = 0, bytes = 0;
    for (bool quit = false; !quit;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) { if (errno == EINTR) continue; perror("server: accept"); return 1; }
        struct request rq;
        struct reply rp = {0, 0, 0};
        if (read_all(fd, &rq, sizeof rq) != 0) { close(fd); continue; }
        if (rq.op == OP_SET) {
            struct object *slot = NULL;
            for (size_t i = 0; i < MAX_OBJECTS && !slot; i++) if (!store[i].data) slot = &store[i];
            void *data = slot && rq.size ? malloc(rq.size) : NULL;
            if (data) allocs++;
            if (data && read_all(fd, data, rq.size) == 0) {
                *slot = (struct object){rq.key, data, rq.size};
                sets++; objects++; bytes += rq.size;
            } else {
                free(data);
                rp.status = -1;
            }
        } else if (rq.op == OP_GET) {
            struct object *o = find(rq.key);
            /* a serialised copy per reply, freed once sent: per-request churn */
            void *copy = o ? malloc(o->size) : NULL;
            if (copy) {
                allocs++; gets++;
                memcpy(copy, o->data, o->size);
                rp.size = o->size;
            } else {
                rp.status = -1;
            }
            if (write_all(fd, &rp, sizeof rp) == 0 && copy) write_all(fd, copy, rp.size);
            free(copy);
            close(fd);
            continue;
        } else if (rq.op == OP_EVICT) {
            struct object *o = find(rq.key);
            if (o) { bytes -= o->size; objects--; evicts++; free(o->data); o->data = NULL; }
            else rp.status = -1;
        } else {
            quit = true;
        }
        write_all(fd, &rp, sizeof rp);
        close(fd);
    }
    close(lfd);
    unlink(sock_path);
    char line[256];
    snprintf(line, sizeof line,
             "server id=%d pid=%d ppid=%d session=%llu objects=%llu store_bytes=%llu allocs=%llu "
             "sets=%llu gets=%llu evicts=%llu\n",
             id, (int)getpid(), (int)getppid(), (unsigned long long)session, (unsigned long long)objects,
             (unsigned long long)bytes, (unsigned long long)allocs, (unsigned long long)sets,
             (unsigned long long)gets, (unsigned long long)evicts);
    say(line);
    return 0;   /* the shim writes this server's dump at exit */
}

/* ---- parent */

static int connect_to(const char *path, int tries)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    for (int i = 0; i < tries; i++) {
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0) return fd;
        if (fd >= 0) close(fd);
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

static int call(const char *path, uint32_t op, uint32_t key, const void *payload, uint64_t size)
{
    int fd = connect_to(path, 500);   /* up to ~5 s: the server may still be starting */
    if (fd < 0) return -1;
    struct request rq = {op, key, size};
    struct reply rp;
    int rc = write_all(fd, &rq, sizeof rq);
    if (rc == 0 && op == OP_SET) rc = write_all(fd, payload, size);
    if (rc == 0) rc = read_all(fd, &rp, sizeof rp);
    if (rc == 0 && op == OP_GET && rp.status == 0) {
        char sink[65536];
        for (uint64_t left = rp.size; left && rc == 0;) {
            size_t n = left < sizeof sink ? (size_t)left : sizeof sink;
            rc = read_all(fd, sink, n);
            left -= n;
        }
    }
    close(fd);
    return rc == 0 ? rp.status : -1;
}

static long arg_long(int argc, char **argv, const char *key, long def)
{
    size_t kl = strlen(key);
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], key, kl) && argv[i][kl] == '=') return strtol(argv[i] + kl + 1, NULL, 0);
    return def;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "server") == 0) return serve(argv[2], atoi(argv[3]));

    long servers = arg_long(argc, argv, "servers", 4);
    long requests = arg_long(argc, argv, "requests", 24);
    long size = arg_long(argc, argv, "size", 64 * 1024);
    if (servers < 1 || servers > 64 || requests < 1 || requests > 1000 || size < 64 || size > (64l << 20)) {
        fprintf(stderr, "usage: proxystore_family [servers=1..64] [requests=1..1000] [size=64..64M]\n");
        return 2;
    }
    char dir[] = "/tmp/proxystore-XXXXXX";
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    char (*socks)[108] = calloc((size_t)servers, sizeof *socks);
    pid_t *pids = calloc((size_t)servers, sizeof *pids);
    char *payload = malloc((size_t)size * 2);
    if (!socks || !pids || !payload) return 1;
    memset(payload, 0x5a, (size_t)size * 2);

    for (long s = 0; s < servers; s++) {
        snprintf(socks[s], sizeof socks[s], "%s/server-%ld.sock", dir, s);
        char id[16];
        snprintf(id, sizeof id, "%ld", s);
        pids[s] = fork();
        if (pids[s] < 0) { perror("fork"); return 1; }
        if (pids[s] == 0) {
            execl("/proc/self/exe", argv[0], "server", socks[s], id, (char *)NULL);
            perror("exec");
            _exit(127);
        }
    }
    int failures = 0;
    for (long s = 0; s < servers; s++) {
        /* each server sees a different load so the report has something to tell apart */
        long n = requests + 5 * s;
        int bad = 0;
        for (long k = 0; k < n && !bad; k++) {
            uint64_t sz = (uint64_t)size / 2 + (uint64_t)((k * 7919 + s * 104729) % size);
            bad |= call(socks[s], OP_SET, (uint32_t)k, payload, sz) != 0;
            if (!bad && k % 3 == 1) bad |= call(socks[s], OP_GET, (uint32_t)(k - 1), NULL, 0) != 0;
            if (!bad && k % 4 == 3) bad |= call(socks[s], OP_EVICT, (uint32_t)(k - 2), NULL, 0) != 0;
        }
        if (bad) {   /* a broken server is stopped, not waited on for every request */
            fprintf(stderr, "proxystore_family: server %ld (pid %d) failed a request\n", s, (int)pids[s]);
            kill(pids[s], SIGTERM);
            failures++;
        }
    }
    for (long s = 0; s < servers; s++) {
        if (call(socks[s], OP_QUIT, 0, NULL, 0) != 0) { failures++; kill(pids[s], SIGTERM); }
        int st = 0;
        if (waitpid(pids[s], &st, 0) != pids[s] || !WIFEXITED(st) || WEXITSTATUS(st) != 0) failures++;
    }
    rmdir(dir);
    printf("parent pid=%d servers=%ld failures=%d\n", (int)getpid(), servers, failures);
    free(payload);
    free(pids);
    free(socks);
    return failures ? 1 : 0;
}
