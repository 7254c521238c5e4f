/* cancel_malloc: threads allocating in a loop are cancelled (deferred cancellation, acted on
 * at the next cancellation point). malloc itself is no cancellation point; if the shim calls
 * one (write, open, poll...) while it holds a lock, the thread unwinds with the lock held
 * and the next allocation anywhere hangs. After the cancels the program allocates from new
 * threads and the main thread. */
#include <pthread.h>
#include "host.h"

static void *allocator(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (;;) {
        host_churn(200, seed++);
        pthread_testcancel();
    }
    return NULL;
}

static void *after(void *arg)
{
    host_churn(2000, 11);
    return arg;
}

int main(void)
{
    for (int round = 0; round < 20; round++) {
        pthread_t th[3];
        for (int i = 0; i < 3; i++) pthread_create(&th[i], NULL, allocator, (void *)(uintptr_t)(round * 3 + i));
        host_sleep_ms(10);
        for (int i = 0; i < 3; i++) pthread_cancel(th[i]);
        for (int i = 0; i < 3; i++) {
            void *r;
            pthread_join(th[i], &r);
            HOST_CHECK(r == PTHREAD_CANCELED, "thread not cancelled");
        }
        pthread_t t;
        pthread_create(&t, NULL, after, NULL);
        pthread_join(t, NULL);
        host_churn(500, (unsigned)round);
    }
    printf("ok: 60 threads cancelled while allocating\n");
    return 0;
}
