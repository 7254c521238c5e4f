/* dag_executor.c: the Hamilton case: a DAG executor that either holds every intermediate
 * result (mode=hold) or frees a result once all its dependents ran (mode=free). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "sesstrim.h"

/*
 * Usage: dag_executor [mode=hold|free] [nodes=N] [width=W] [size=BYTES] [node_ms=MS]
 *
 * The graph is layered: W nodes per layer, node j of a layer reads nodes j and j+1 (mod W)
 * of the layer before; the last layer is the requested output. Each node produces a
 * result buffer of BYTES (touched, so it is resident) inside its own session "node-<i>".
 * Like Hamilton before its fix, mode=hold keeps every result in the `computed` table;
 * mode=free drops a result when every node depending on it has run and it is not an output.
 * The program prints its own bookkeeping (results held, peak) for the test to compare with
 * the dump's timeline.
 */

struct node {
    int deps[2], ndeps;
    int dependents_left;        /* dependents not yet run */
    bool output;
    unsigned char *result;
};

static long arg_long(int argc, char **argv, const char *key, long def)
{
    size_t kl = strlen(key);
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], key, kl) && argv[i][kl] == '=') return strtol(argv[i] + kl + 1, NULL, 0);
    return def;
}

static const char *arg_str(int argc, char **argv, const char *key, const char *def)
{
    size_t kl = strlen(key);
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], key, kl) && argv[i][kl] == '=') return argv[i] + kl + 1;
    return def;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
    const char *mode = arg_str(argc, argv, "mode", "hold");
    long n = arg_long(argc, argv, "nodes", 48);
    long width = arg_long(argc, argv, "width", 4);
    long size = arg_long(argc, argv, "size", 1 << 20);
    long node_ms = arg_long(argc, argv, "node_ms", 15);
    bool free_mode = strcmp(mode, "free") == 0;
    if ((!free_mode && strcmp(mode, "hold") != 0) || n < 1 || n > 100000 || width < 1 || width > n ||
        size < 64 || size > (1l << 30) || node_ms < 0 || node_ms > 10000) {
        fprintf(stderr, "usage: dag_executor [mode=hold|free] [nodes=N] [width=1..N] [size=BYTES] [node_ms=MS]\n");
        return 2;
    }
    struct node *g = calloc((size_t)n, sizeof *g);
    if (!g) return 1;
    for (long i = 0; i < n; i++) {
        long layer = i / width, j = i % width;
        if (layer > 0) {
            long prev = (layer - 1) * width;
            g[i].deps[g[i].ndeps++] = (int)(prev + j);
            long other = prev + (j + 1) % width;
            if (other != prev + j) g[i].deps[g[i].ndeps++] = (int)other;
        }
        g[i].output = i >= n - width;
    }
    for (long i = 0; i < n; i++)
        for (int k = 0; k < g[i].ndeps; k++) g[g[i].deps[k]].dependents_left++;

    uint64_t held = 0, peak_held = 0, start = now_ms();
    for (long i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "node-%ld", i);
        sesstrim_session_t s = sesstrim_session_begin(name);
        unsigned char *r = malloc((size_t)size);
        if (!r) { fprintf(stderr, "dag_executor: out of memory at node %ld\n", i); return 1; }
        /* "transform" the inputs: every page written, so the result is resident */
        unsigned char seed = (unsigned char)i;
        for (int k = 0; k < g[i].ndeps; k++) seed ^= g[g[i].deps[k]].result[(size_t)i % (size_t)size];
        memset(r, seed, (size_t)size);
        g[i].result = r;
        held++;
        if (held > peak_held) peak_held = held;
        sesstrim_session_end(s);

        if (free_mode) {
            for (int k = 0; k < g[i].ndeps; k++) {
                struct node *dep = &g[g[i].deps[k]];
                if (--dep->dependents_left == 0 && !dep->output) {
                    free(dep->result);
                    dep->result = NULL;
                    held--;
                }
            }
        }
        if (node_ms) {
            struct timespec ts = {node_ms / 1000, (node_ms % 1000) * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    uint64_t ms = now_ms() - start;
    printf("dag mode=%s nodes=%ld width=%ld result_size=%ld results_at_end=%llu peak_results=%llu "
           "held_bytes_at_end=%llu peak_held_bytes=%llu run_ms=%llu\n",
           mode, n, width, size, (unsigned long long)held, (unsigned long long)peak_held,
           (unsigned long long)(held * (uint64_t)size), (unsigned long long)(peak_held * (uint64_t)size),
           (unsigned long long)ms);
    fflush(stdout);
    /* results stay held until exit, as the executor's caller would still own them */
    return 0;
}
