/* server.c: the Arkouda case: a server keeping named arrays for clients on a Unix socket,
 * one sesstrim session per client connection, served by a worker pool with enter/leave. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "sesstrim.h"

/*
 * Protocol, one line each way:  hello NAME | create NAME BYTES | drop NAME | shutdown
 * Replies "ok ...", or "err ...". A client that disconnects ends its session; whatever
 * arrays it did not drop stay in the symbol table (what Arkouda does today) and the server
 * prints its own bookkeeping of them:
 *   left client-NAME session=ID arrays=N bytes=B
 * where B counts each array's data plus its table entry, the two mallocs made for it.
 * With --reclaim the server frees them after ending the session (Arkouda's proposal 2).
 *
 * The main thread polls; a command goes to a worker, which enters the client's session
 * for the command only, so each client's allocations are tagged with its session
 * whichever worker served them. Nothing in the session allocates besides the arrays.
 */

#define MAX_CONNS 64
#define WORKERS 3
#define LINE_MAX_LEN 256

struct array {
    struct array *next;
    char name[32];
    size_t bytes;
    unsigned char *data;
};

struct conn {
    int fd;
    int busy;                   /* atomic: a worker owns the connection */
    sesstrim_session_t session;   /* 0 without the shim: the server works the same */
    char name[48];
    struct array *arrays;
    char line[LINE_MAX_LEN];
    size_t line_len;
};

static struct conn conns[MAX_CONNS];
static int wake_pipe[2];        /* workers wake the poll loop when a connection is idle */
static int reclaim;

/* ------------------------------------------------------------ job queue */
static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_cond = PTHREAD_COND_INITIALIZER;
static int queue[MAX_CONNS + WORKERS], queue_head, queue_len;

static void queue_push(int job)
{
    pthread_mutex_lock(&queue_lock);
    queue[(queue_head + queue_len++) % (MAX_CONNS + WORKERS)] = job;
    pthread_cond_signal(&queue_cond);
    pthread_mutex_unlock(&queue_lock);
}

static int queue_pop(void)
{
    pthread_mutex_lock(&queue_lock);
    while (!queue_len) pthread_cond_wait(&queue_cond, &queue_lock);
    int job = queue[queue_head];
    queue_head = (queue_head + 1) % (MAX_CONNS + WORKERS);
    queue_len--;
    pthread_mutex_unlock(&queue_lock);
    return job;
}

static void reply(int fd, const char *text)
{
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t n = write(fd, text + off, len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        off += (size_t)n;
    }
}

/* ------------------------------------------------------------ commands (in the session) */
static void cmd_create(struct conn *c, const char *name, size_t bytes)
{
    struct array *a = malloc(sizeof *a);
    unsigned char *data = a ? malloc(bytes) : NULL;
    if (!data) {
        free(a);
        reply(c->fd, "err out of memory\n");
        return;
    }
    memset(data, 0x5a, bytes);              /* arrays are used: their pages are resident */
    snprintf(a->name, sizeof a->name, "%s", name);
    a->bytes = bytes;
    a->data = data;
    a->next = c->arrays;
    c->arrays = a;
    reply(c->fd, "ok\n");
}

static void cmd_drop(struct conn *c, const char *name)
{
    for (struct array **p = &c->arrays; *p; p = &(*p)->next) {
        if (strcmp((*p)->name, name) != 0) continue;
        struct array *a = *p;
        *p = a->next;
        free(a->data);
        free(a);
        reply(c->fd, "ok\n");
        return;
    }
    reply(c->fd, "err no such array\n");
}

static void run_command(struct conn *c)
{
    char verb[16] = "", name[32] = "";
    unsigned long long bytes = 0;
    int n = sscanf(c->line, "%15s %31s %llu", verb, name, &bytes);
    if (n == 3 && !strcmp(verb, "create") && bytes > 0 && bytes <= (1ull << 32))
        cmd_create(c, name, (size_t)bytes);
    else if (n >= 2 && !strcmp(verb, "drop"))
        cmd_drop(c, name);
    else
        reply(c->fd, "err unknown command\n");
}

static void *worker(void *arg)
{
    (void)arg;
    for (;;) {
        int job = queue_pop();
        if (job < 0) return NULL;
        struct conn *c = &conns[job];
        sesstrim_session_enter(c->session);
        run_command(c);
        sesstrim_session_leave(c->session);
        c->line_len = 0;
        __atomic_store_n(&c->busy, 0, __ATOMIC_RELEASE);
        char b = 1;
        if (write(wake_pipe[1], &b, 1) < 0) { /* the poll loop still wakes on its timeout */ }
    }
}

/* ------------------------------------------------------------ connections (main thread) */
static void disconnect(struct conn *c)
{
    size_t arrays = 0, bytes = 0;
    for (struct array *a = c->arrays; a; a = a->next) {
        arrays++;
        bytes += sizeof *a + a->bytes;
    }
    if (c->name[0]) {
        sesstrim_session_end(c->session);
        printf("left %s session=%llu arrays=%zu bytes=%zu\n", c->name,
               (unsigned long long)c->session, arrays, bytes);
    }
    if (reclaim) {
        while (c->arrays) {
            struct array *a = c->arrays;
            c->arrays = a->next;
            free(a->data);
            free(a);
        }
    }
    close(c->fd);
    c->fd = -1;
}

/* Handle a complete line on an idle connection. Returns 1 on "shutdown". */
static int dispatch(int i)
{
    struct conn *c = &conns[i];
    char name[40];
    if (!c->name[0]) {
        if (sscanf(c->line, "hello %39s", name) != 1) {
            if (!strncmp(c->line, "shutdown", 8)) {
                reply(c->fd, "ok bye\n");
                return 1;
            }
            reply(c->fd, "err say hello NAME first\n");
            c->line_len = 0;
            return 0;
        }
        snprintf(c->name, sizeof c->name, "client-%s", name);
        c->session = sesstrim_session_begin(c->name);
        sesstrim_session_leave(c->session);  /* the workers enter it per command */
        char text[96];
        snprintf(text, sizeof text, "ok session %llu\n", (unsigned long long)c->session);
        reply(c->fd, text);
        c->line_len = 0;
        return 0;
    }
    __atomic_store_n(&c->busy, 1, __ATOMIC_RELEASE);
    queue_push(i);
    return 0;
}

/* Read what is there; 1 when a full line is buffered, -1 on EOF or error. */
static int read_line(struct conn *c)
{
    while (c->line_len < sizeof c->line - 1) {
        ssize_t n = read(c->fd, c->line + c->line_len, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return n == 0 || errno != EAGAIN ? -1 : 0;
        if (c->line[c->line_len] == '\n') {
            c->line[c->line_len] = 0;
            return 1;
        }
        c->line_len++;
    }
    c->line[c->line_len] = 0;                /* over-long line: treat what we have */
    return 1;
}

int main(int argc, char **argv)
{
    const char *path = NULL, *dump = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dump") && i + 1 < argc) dump = argv[++i];
        else if (!strcmp(argv[i], "--reclaim")) reclaim = 1;
        else path = argv[i];
    }
    if (!path) {
        fprintf(stderr, "usage: %s SOCKET_PATH [--dump DUMP_PATH] [--reclaim]\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    unlink(path);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, 16) < 0 ||
        pipe(wake_pipe) < 0) {
        perror("server: socket");
        return 1;
    }
    pthread_t workers[WORKERS];
    for (int i = 0; i < WORKERS; i++) pthread_create(&workers[i], NULL, worker, NULL);
    for (int i = 0; i < MAX_CONNS; i++) conns[i].fd = -1;
    printf("listening %s shim=%d\n", path, sesstrim_active());

    struct pollfd pfd[MAX_CONNS + 2];
    int idx_of[MAX_CONNS + 2];
    int stop = 0;
    while (!stop) {
        int n = 0;
        pfd[n++] = (struct pollfd){.fd = lfd, .events = POLLIN};
        pfd[n++] = (struct pollfd){.fd = wake_pipe[0], .events = POLLIN};
        for (int i = 0; i < MAX_CONNS; i++) {
            if (conns[i].fd < 0 || __atomic_load_n(&conns[i].busy, __ATOMIC_ACQUIRE)) continue;
            idx_of[n] = i;
            pfd[n++] = (struct pollfd){.fd = conns[i].fd, .events = POLLIN};
        }
        if (poll(pfd, (nfds_t)n, 1000) < 0 && errno != EINTR) break;
        if (pfd[1].revents & POLLIN) {
            char drain[64];
            if (read(wake_pipe[0], drain, sizeof drain) < 0) { /* nothing to drain */ }
        }
        if (pfd[0].revents & POLLIN) {
            int fd = accept(lfd, NULL, NULL);
            int slot = -1;
            for (int i = 0; i < MAX_CONNS && slot < 0; i++) if (conns[i].fd < 0) slot = i;
            if (fd >= 0 && slot >= 0) {
                fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
                conns[slot] = (struct conn){.fd = fd};
            }
            else if (fd >= 0) close(fd);
        }
        for (int k = 2; k < n && !stop; k++) {
            if (!(pfd[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            struct conn *c = &conns[idx_of[k]];
            int r = read_line(c);
            if (r < 0) disconnect(c);
            else if (r > 0) stop = dispatch(idx_of[k]);
        }
    }
    for (int i = 0; i < WORKERS; i++) queue_push(-1);
    for (int i = 0; i < WORKERS; i++) pthread_join(workers[i], NULL);
    /* Shutting down ends every session still connected, including a client whose hang-up
     * arrived in the same poll round as the shutdown request. */
    for (int i = 0; i < MAX_CONNS; i++)
        if (conns[i].fd >= 0) disconnect(&conns[i]);
    if (dump) printf("dump %s rc=%d\n", dump, sesstrim_dump(dump));
    return 0;
}
