/* cli.h: the parts of the `sesstrim` command (cli/). Ordinary C: it runs beside the target,
 * never inside it, and may allocate. */
#ifndef SESSTRIM_CLI_H
#define SESSTRIM_CLI_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Each subcommand: argv[0] is the subcommand's name; returns the exit status. */
int cmd_run(int argc, char **argv);
int cmd_ctl(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_attach(int argc, char **argv);
int cmd_options(int argc, char **argv);
int cmd_report(int argc, char **argv);

/* The directory holding this executable (no trailing slash). */
const char *cli_self_dir(void);
/* The shim library: $SESSTRIM_LIB, else beside this executable, else ../lib. NULL if none. */
const char *cli_find_library(void);
/* The analyzer: sesstrim-report beside this executable, else "sesstrim-report" on PATH. */
const char *cli_find_report(void);

/* Send one request line to PID's control socket and read the whole answer into a buffer
 * the caller frees. Returns 0, or -1 with a message printed to stderr (no socket, refused,
 * timeout). timeout_ms bounds the whole exchange. */
int ctl_request(pid_t pid, const char *request, char **answer, size_t *len, int timeout_ms);
/* As root, take the uid/gid of PID before connecting (the shim serves its own uid only). */
void ctl_become_owner(pid_t pid);
#endif
