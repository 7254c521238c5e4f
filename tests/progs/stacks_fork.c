/* stacks_fork.c: threads allocate (and so unwind) without pause while the main thread forks
 * again and again; each child allocates too and must finish: no lock inherited half-taken. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int stop;

static __attribute__((noinline)) void *churn(void *arg)
{
    (void)arg;
    void *slots[64] = {0};
    for (unsigned long i = 0; !stop; i++) {
        unsigned k = (unsigned)(i * 2654435761u) % 64;
        free(slots[k]);
        slots[k] = malloc(16 + i % 2000);
    }
    for (int k = 0; k < 64; k++) free(slots[k]);
    return NULL;
}

int main(int argc, char **argv)
{
    int forks = argc > 1 ? atoi(argv[1]) : 100;
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, churn, NULL);
    int failed = 0;
    for (int f = 0; f < forks; f++) {
        pid_t pid = fork();
        if (pid == 0) {
            alarm(20);                 /* a deadlocked child dies instead of hanging */
            for (int i = 0; i < 1000; i++) free(malloc(100 + (size_t)i));
            _exit(0);
        }
        int st = 0;
        if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) failed++;
    }
    stop = 1;
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    printf("forks=%d failed=%d\n", forks, failed);
    return failed != 0;
}
