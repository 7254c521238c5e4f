/* service.h: the shim's background thread for signal-triggered dumps, periodic dumps and
 * timeline samples (service.c). Started only when one of those options is set. */
#ifndef SESSTRIM_SERVICE_H
#define SESSTRIM_SERVICE_H
void service_start(void);
void service_after_fork_child(void);
void service_child_restart(void);   /* fork child, first allocation: the thread again */
/* Create a thread of the shim's own: all signals blocked, not counted as a program thread. */
int shim_thread_create(void *(*fn)(void *), void *arg);
/* The same, not counted among the long-lived shim threads (the reaper counts itself). */
int shim_thread_create_raw(void *(*fn)(void *), void *arg);
#endif
