/* config.h for glibc's tests built outside glibc (tests/glibc/build.sh passes it with
   -include, as glibc's build passes libc-symbols.h, which includes its generated
   config.h). Only what the testsuite view (_ISOMAC) of support/ and malloc/ needs. */
#ifndef SESSTRIM_GLIBC_TESTS_CONFIG_H
#define SESSTRIM_GLIBC_TESTS_CONFIG_H

/* configure's --with-timeoutfactor default: support_test_main scales TIMEOUT by it. */
#define TIMEOUTFACTOR 1

/* Symbol-visibility annotations of glibc's internal headers (include/*.h): no-ops
   outside libc.so. */
#define libc_hidden_proto(name, ...)

/* glibc's build makes <limits.h> visible everywhere through its internal headers;
   some support/ files (temp_file.c, support_descriptors.c) rely on that. */
#include <limits.h>

#endif
