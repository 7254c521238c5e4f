/* libplug_a.c: plugin A of stacks_dlopen (plug_body.h). */
#define PLUG(x) plug_a_##x
#include "plug_body.h"
