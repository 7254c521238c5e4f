/* batches.c: the Ray case in C: a job runs nested batches of tasks on threads that inherit
 * the batch's session; each batch keeps one result for the job and frees the rest. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sesstrim.h"

/*
 * Usage: batches DUMP_PATH [BATCHES]
 *
 *   job                      session "job": owns its input and the results kept for it
 *    +- job/batch-N          one session per batch, nested in the job
 *         task threads       created inside the batch: they inherit its session
 *
 * Every task allocates a scratch buffer and a result; the batch frees the scratch, frees
 * all results but one, and keep()s that one for the job (Ray's batch.keep). After the
 * batches the program dumps while the job is still open, and prints its own bookkeeping:
 *   batch job/batch-N leftover=0
 *   job live=B kept=K kept_count=N
 * The report must show every batch ended empty and the job owning exactly those bytes.
 */

#define TASKS 3
#define JOB_INPUT 8192

struct task { int batch, index; void *result; size_t result_bytes; };

static size_t result_size(int batch, int index) { return 1000 * (size_t)(batch + 1) + 10 * (size_t)index; }

/* Fill a buffer and let the compiler know it escapes, so it cannot elide the malloc/free
 * of a scratch buffer nobody reads afterwards. */
static void fill(void *p, int value, size_t bytes)
{
    memset(p, value, bytes);
    __asm__ volatile("" : : "r"(p) : "memory");
}

static void *run_task(void *arg)
{
    struct task *t = arg;
    size_t scratch_bytes = 4096 + 64 * (size_t)t->index;
    unsigned char *scratch = malloc(scratch_bytes);
    fill(scratch, t->index, scratch_bytes);
    t->result_bytes = result_size(t->batch, t->index);
    t->result = malloc(t->result_bytes);
    fill(t->result, scratch[0] + 1, t->result_bytes);
    free(scratch);
    return NULL;
}

static void *idle_thread(void *arg) { return arg; }

/* glibc keeps the stacks (and TLS) of joined threads for reuse; creating and joining as
 * many threads as a batch uses before the job starts means the batch's pthread_create
 * reuses them instead of allocating thread memory inside the batch. */
static void warm_thread_cache(void)
{
    pthread_t th[TASKS];
    for (int i = 0; i < TASKS; i++) pthread_create(&th[i], NULL, idle_thread, NULL);
    for (int i = 0; i < TASKS; i++) pthread_join(th[i], NULL);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DUMP_PATH [BATCHES]\n", argv[0]);
        return 2;
    }
    int batches = argc > 2 ? atoi(argv[2]) : 2;
    if (batches < 1 || batches > 64) batches = 2;
    static char report[64][80];
    void *kept[64];
    size_t kept_bytes = 0;
    warm_thread_cache();

    sesstrim_session_t job = sesstrim_session_begin("job");
    void *input = malloc(JOB_INPUT);
    memset(input, 7, JOB_INPUT);
    for (int b = 0; b < batches; b++) {
        char name[32];
        snprintf(name, sizeof name, "job/batch-%d", b);
        sesstrim_session_t batch = sesstrim_session_begin(name);
        struct task tasks[TASKS];
        pthread_t th[TASKS];
        for (int i = 0; i < TASKS; i++) {
            tasks[i] = (struct task){.batch = b, .index = i};
            pthread_create(&th[i], NULL, run_task, &tasks[i]);
        }
        for (int i = 0; i < TASKS; i++) pthread_join(th[i], NULL);
        int chosen = b % TASKS;
        for (int i = 0; i < TASKS; i++)
            if (i != chosen) free(tasks[i].result);      /* freed by main: cross-thread */
        if (sesstrim_keep(tasks[chosen].result, 0) != 0 && sesstrim_active())
            fprintf(stderr, "batches: keep failed\n");
        kept[b] = tasks[chosen].result;
        kept_bytes += tasks[chosen].result_bytes;
        sesstrim_session_end(batch);
        snprintf(report[b], sizeof report[b], "batch %s leftover=0", name);
    }
    int rc = sesstrim_dump(argv[1]);
    for (int b = 0; b < batches; b++) puts(report[b]);
    printf("job live=%zu kept=%zu kept_count=%d\n", (size_t)JOB_INPUT + kept_bytes, kept_bytes, batches);
    printf("dump %s rc=%d\n", argv[1], rc);
    sesstrim_session_end(job);
    for (int b = 0; b < batches; b++) free(kept[b]);
    free(input);
    return 0;
}
