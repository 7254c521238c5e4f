/* getline_fork: one thread sits in getline() on a pipe (holding that FILE's lock, and
 * allocating as lines grow), one calls fflush(NULL) (glibc's list lock, then every FILE's
 * lock), and the main thread forks; children use stdio and malloc. glibc takes its stdio
 * locks in fork after the atfork prepare handlers: a shim lock held across that window
 * must not close a cycle (glibc's tst-malloc-fork-deadlock kind). */
#include <pthread.h>
#include <sys/wait.h>
#include "host.h"

static FILE *in;
static volatile int stop;

static void *reader(void *arg)
{
    char *line = NULL;
    size_t cap = 0;
    long lines = 0;
    while (getline(&line, &cap, in) > 0) {
        lines++;
        free(line);                      /* every line allocates anew */
        line = NULL; cap = 0;
    }
    free(line);
    *(long *)arg = lines;
    return NULL;
}

static void *writer(void *arg)
{
    int fd = *(int *)arg;
    char buf[3000];
    for (long i = 0; !__atomic_load_n(&stop, __ATOMIC_RELAXED); i++) {
        size_t len = (size_t)(i % 2900) + 1;
        memset(buf, 'a' + (int)(i % 26), len);
        buf[len] = '\n';
        host_write_all(fd, buf, len + 1, "pipe");
        if (i % 64 == 0) host_sleep_ms(1);   /* the reader blocks in getline, lock held */
    }
    close(fd);
    return NULL;
}

static void *flusher(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
        fflush(NULL);
        void *p = malloc(100);
        free(p);
    }
    return NULL;
}

int main(void)
{
    int p[2];
    HOST_CHECK(pipe(p) == 0, "pipe");
    in = fdopen(p[0], "r");
    HOST_CHECK(in != NULL, "fdopen");
    long lines = 0;
    pthread_t r, w, f;
    pthread_create(&r, NULL, reader, &lines);
    pthread_create(&w, NULL, writer, &p[1]);
    pthread_create(&f, NULL, flusher, NULL);
    for (int i = 0; i < 120; i++) {
        pid_t pid = fork();
        HOST_CHECK(pid >= 0, "fork");
        if (pid == 0) {
            char *s = malloc(64);
            snprintf(s, 64, "child %d", i);
            FILE *null = fopen("/dev/null", "w");
            if (null) { fputs(s, null); fclose(null); }
            free(s);
            _exit(0);
        }
        int st;
        HOST_CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d status", i);
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    pthread_join(w, NULL);
    pthread_join(r, NULL);
    pthread_join(f, NULL);
    HOST_CHECK(lines > 0, "no line read");
    printf("ok\n");
    return 0;
}
