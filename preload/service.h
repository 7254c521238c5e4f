/* service.h: the shim's service thread (service.c) and what it serves: signal-triggered,
 * periodic and SIGTERM/SIGINT dumps, timeline samples, the SESSTRIM_METRICS file and the
 * control socket (control.c, answers rendered by metrics.c). */
#ifndef SESSTRIM_SERVICE_H
#define SESSTRIM_SERVICE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Constructor: install the dump/stop signal handlers and start the thread if an option
 * needs it now (dump signal or interval, timeline, metrics, SESSTRIM_DUMP with
 * SESSTRIM_DUMP_ON_TERM); otherwise it starts later, see control_maybe_start (shim.h). */
void service_start(void);
/* Start the thread if it is not running (idempotent; not from a signal or atfork handler). */
void service_ensure_running(void);
void service_after_fork_child(void);
void service_child_restart(void);   /* fork child, first allocation: the thread again */
/* SIGTERM/SIGINT dumps on in this process now (the Python binding asks): 0 on, -1 not. */
int service_dump_on_sigterm(void);
/* Constructor, right after options_parse: false when this process must stay dormant
 * (SESSTRIM_FOLLOW_CHILDREN=off and it is an exec'd descendant of SESSTRIM_RUN_PID: no
 * tracking, no dump, and the library is removed from its LD_PRELOAD so its own children do
 * not load it). True otherwise. */
bool service_follow_check(void);
/* Create a thread of the shim's own: all signals blocked, not counted as a program thread. */
int shim_thread_create(void *(*fn)(void *), void *arg);
/* The same, not counted among the long-lived shim threads (the reaper counts itself). */
int shim_thread_create_raw(void *(*fn)(void *), void *arg);
/* Called first by a long-lived shim thread: wait until the process is 100 ms old. */
void shim_thread_settle(void);

/* ---- control.c */
bool control_open(void);            /* create the socket now (service thread) */
int control_fd(void);               /* the listening fd, identity checked; -1 if none */
bool control_is_open(void);
/* true while the socket is wanted but not open; *due = when to open it (CLOCK_REALTIME ns) */
bool control_due(uint64_t *due_realtime_ns);
void control_serve(int fd);         /* accept and answer what is pending, bounded */
void control_after_fork_child(void);
const char *control_name(char *buf, size_t len);  /* "@sesstrim-PID" */

/* ---- metrics.c: text answers into a caller's buffer (no malloc). */
struct tbuf { char *p; size_t len, cap; bool truncated; };
void tb_printf(struct tbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void render_stats(struct tbuf *b);    /* "key value" lines, "arena ..." and "session ..." lines */
void render_sessions(struct tbuf *b); /* one line per session, largest live bytes first */
void render_metrics(struct tbuf *b);  /* Prometheus text exposition 0.0.4 */
void metrics_write_file(void);        /* SESSTRIM_METRICS: temp file + rename */
#endif
