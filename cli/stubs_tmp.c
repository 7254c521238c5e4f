#include "cli.h"
int cmd_run(int argc, char **argv) { (void)argc; (void)argv; return 2; }
int cmd_top(int argc, char **argv) { (void)argc; (void)argv; return 2; }
int cmd_attach(int argc, char **argv) { (void)argc; (void)argv; return 2; }
