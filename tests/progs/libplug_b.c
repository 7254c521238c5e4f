/* libplug_b.c: plugin B of stacks_dlopen (plug_body.h). */
#define PLUG(x) plug_b_##x
#include "plug_body.h"
