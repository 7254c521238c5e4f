/* service.h: the shim's background thread for signal-triggered dumps, periodic dumps and
 * timeline samples (service.c). Started only when one of those options is set. */
#ifndef SESSTRIM_SERVICE_H
#define SESSTRIM_SERVICE_H
void service_start(void);
void service_after_fork_child(void);
/* Create a thread of the shim's own: all signals blocked, not counted as a program thread. */
int shim_thread_create(void *(*fn)(void *), void *arg);
#endif
