/* core_fork.c: the parent allocates, forks; the child keeps allocating and exits normally,
 * so each writes its own dump (SESSTRIM_DUMP with %p). Prints both pids. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int child_blocks = argc > 1 ? atoi(argv[1]) : 300;
    void *parent_block = malloc(100000);
    memset(parent_block, 1, 100000);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return 1;
    if (pid == 0) {
        for (int i = 0; i < child_blocks; i++) {
            void *p = malloc(10000);          /* kept live: the child's dump must show them */
            memset(p, 3, 10000);
        }
        printf("child=%d\n", (int)getpid());
        exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    printf("parent=%d child_status=%d\n", (int)getpid(), WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    return 0;
}
