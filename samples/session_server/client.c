/* client.c: a client of the session_server sample: connects over the Unix socket, runs the
 * commands given on its command line one by one, then disconnects. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/*
 * Usage: client SOCKET_PATH NAME COMMAND...
 *   COMMAND is "create:ARRAY:BYTES", "drop:ARRAY" or "shutdown" (NAME "-": no hello).
 * Prints each reply; exits 1 if the server answered "err" or went away.
 */

static int send_line(int fd, const char *line)
{
    size_t len = strlen(line), off = 0;
    while (off < len) {
        ssize_t n = write(fd, line + off, len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        off += (size_t)n;
    }
    return 0;
}

static int read_reply(int fd, char *buf, size_t len)
{
    size_t n = 0;
    while (n + 1 < len) {
        ssize_t r = read(fd, buf + n, 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        if (buf[n] == '\n') break;
        n++;
    }
    buf[n] = 0;
    return 0;
}

static int exchange(int fd, const char *line)
{
    char reply[256];
    if (send_line(fd, line) < 0 || read_reply(fd, reply, sizeof reply) < 0) {
        fprintf(stderr, "client: server went away during '%.*s'\n", (int)strcspn(line, "\n"), line);
        return -1;
    }
    printf("%.*s -> %s\n", (int)strcspn(line, "\n"), line, reply);
    return strncmp(reply, "ok", 2) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s SOCKET_PATH NAME|- create:ARRAY:BYTES|drop:ARRAY|shutdown...\n", argv[0]);
        return 2;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", argv[1]);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        perror("client: connect");
        return 1;
    }
    char line[300];
    int rc = 0;
    if (strcmp(argv[2], "-") != 0) {
        snprintf(line, sizeof line, "hello %s\n", argv[2]);
        if (exchange(fd, line) < 0) return 1;
    }
    for (int i = 3; i < argc && rc == 0; i++) {
        char array[64];
        unsigned long long bytes;
        if (sscanf(argv[i], "create:%63[^:]:%llu", array, &bytes) == 2)
            snprintf(line, sizeof line, "create %s %llu\n", array, bytes);
        else if (sscanf(argv[i], "drop:%63s", array) == 1)
            snprintf(line, sizeof line, "drop %s\n", array);
        else if (!strcmp(argv[i], "shutdown"))
            snprintf(line, sizeof line, "shutdown\n");
        else {
            fprintf(stderr, "client: bad command '%s'\n", argv[i]);
            return 2;
        }
        rc = exchange(fd, line) < 0;
    }
    close(fd);
    return rc;
}
