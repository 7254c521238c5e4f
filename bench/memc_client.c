/* memc_client.c: a bounded memcached load for bench_servers.sh (memtier is not packaged):
 * C connections over a unix socket, each doing N set/get pairs (text protocol, keys drawn
 * from K per connection, values 16..4096 B), one request at a time, so the server's CPU per
 * operation is what the run measures. Connections run in turn, not in parallel: the client
 * stays off the server's cores as much as it can on a 2-core machine.
 *
 * Usage: memc_client SOCKET_PATH CONNECTIONS PAIRS KEYS
 * Prints the number of operations done (2 per pair). Exit status 1 on any protocol error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static char buf[1 << 16];

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads until the reply ends with `end` (a whole reply: one request is in flight). */
static int read_reply(int fd, const char *end)
{
    size_t have = 0, el = strlen(end);
    for (;;) {
        ssize_t r = read(fd, buf + have, sizeof buf - 1 - have);
        if (r <= 0) return -1;
        have += (size_t)r;
        if (have >= el && !memcmp(buf + have - el, end, el)) return 0;
        if (have >= sizeof buf - 1) return -1;
    }
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: memc_client SOCKET_PATH CONNECTIONS PAIRS KEYS\n");
        return 1;
    }
    int conns = atoi(argv[2]);
    long pairs = atol(argv[3]), keys = atol(argv[4]), ops = 0;
    static char value[4096], req[8192];
    memset(value, 'v', sizeof value);
    unsigned long long x = 88172645463325252ull;
    for (int c = 0; c < conns; c++) {
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        snprintf(a.sun_path, sizeof a.sun_path, "%s", argv[1]);
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { perror("connect"); return 1; }
        for (long i = 0; i < pairs; i++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            long k = (long)(x % (unsigned long long)keys);
            int len = 16 + (int)((x >> 32) % 4081);
            int n = snprintf(req, sizeof req, "set k%d:%ld 0 0 %d\r\n", c, k, len);
            memcpy(req + n, value, (size_t)len);
            memcpy(req + n + len, "\r\n", 2);
            if (send_all(fd, req, (size_t)(n + len + 2)) || read_reply(fd, "STORED\r\n")) goto bad;
            n = snprintf(req, sizeof req, "get k%d:%ld\r\n", c, k);
            if (send_all(fd, req, (size_t)n) || read_reply(fd, "END\r\n")) goto bad;
            ops += 2;
        }
        close(fd);
    }
    printf("%ld\n", ops);
    return 0;
bad:
    fprintf(stderr, "memc_client: protocol error after %ld operations\n", ops);
    return 1;
}
