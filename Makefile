# sesstrim build. `make` builds the preload and the analyzer; `make help` lists targets.
# Sources are found by directory, so a new file in preload/, trim/, analyzer/, tests/unit/,
# tests/progs/, samples/<name>/ or bench/ needs no edit here.

CC      ?= cc
CXX     ?= g++
BUILD   ?= build
PREFIX  ?= /usr/local
DESTDIR ?=
VERSION ?= 0.4
BINDIR  ?= $(PREFIX)/bin
LIBDIR  ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR  ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
CSTD     := -std=c11 -D_GNU_SOURCE
OPT      ?= -O2 -g
DEPFLAGS  = -MMD -MP

# The preload: position independent, hidden by default (only ST_EXPORT symbols leave),
# initial-exec TLS so the recursion guard never calls into the TLS allocator.
PRELOAD_CFLAGS := $(CSTD) $(OPT) $(WARN) -flto -fPIC -fvisibility=hidden -ftls-model=initial-exec \
                  -fno-omit-frame-pointer -Iinclude -Ipreload -Itrim
# libunwind: a private PIC copy linked in and hidden (scripts/build-libunwind.sh says why).
UNWIND_A       := $(BUILD)/third/libunwind-private.a
PRELOAD_LIBS   := -Wl,--exclude-libs,ALL $(UNWIND_A) -lpthread -ldl
ANALYZER_CFLAGS := $(CSTD) $(OPT) $(WARN) -Iinclude -Ianalyzer $(shell pkg-config --cflags libdw 2>/dev/null)
ANALYZER_LIBS   := -ldw -lelf -lm -liberty
PROG_CFLAGS     := $(CSTD) $(OPT) $(WARN) -Iinclude -pthread
CXXFLAGS_TEST   := -std=c++17 -O1 -g -Wall -Wextra -Werror -Wno-unused-parameter -Iinclude -Ianalyzer -Itests/unit -pthread

PRELOAD_SRC   := $(sort $(wildcard preload/*.c trim/*.c))
PRELOAD_OBJ   := $(PRELOAD_SRC:%.c=$(BUILD)/obj/%.o)
READER_SRC    := $(sort $(wildcard analyzer/dump_reader.c analyzer/model*.c))
READER_OBJ    := $(READER_SRC:%.c=$(BUILD)/obj/%.o)
ANALYZER_SRC  := $(sort $(wildcard analyzer/*.c))
ANALYZER_OBJ  := $(ANALYZER_SRC:%.c=$(BUILD)/obj/%.o)
ANALYZER_LIBOBJ := $(filter-out $(BUILD)/obj/analyzer/main.o,$(ANALYZER_OBJ))

TEST_SRC      := $(sort $(wildcard tests/unit/test_*.cpp))
TEST_BIN      := $(TEST_SRC:tests/unit/%.cpp=$(BUILD)/tests/%)
PROG_SRC      := $(sort $(filter-out tests/progs/lib%.c,$(wildcard tests/progs/*.c)))
PROG_BIN      := $(PROG_SRC:tests/progs/%.c=$(BUILD)/tests/progs/%)
PROG_LIB_SRC  := $(sort $(wildcard tests/progs/lib*.c))
PROG_LIB      := $(PROG_LIB_SRC:tests/progs/%.c=$(BUILD)/tests/progs/%.so)
SAMPLE_SRC    := $(sort $(wildcard samples/*/*.c))
SAMPLE_BIN    := $(SAMPLE_SRC:samples/%.c=$(BUILD)/samples/%)
HOST_SRC      := $(sort $(wildcard tests/host/*.c tests/host/*.cpp))
HOST_BIN      := $(basename $(HOST_SRC:tests/host/%=$(BUILD)/tests/host/%))
BENCH_SRC     := $(sort $(wildcard bench/*.c))
BENCH_BIN     := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

# The `sesstrim` command: cli/*.c plus the shim's option table (preload/options.c, units.c)
# compiled for the CLI, so `sesstrim options` prints exactly what the library parses.
CLI_SRC  := $(sort $(wildcard cli/*.c))
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/cli-opt/options.o $(BUILD)/obj/cli-opt/units.o \
            $(BUILD)/obj/cli-gen/attach_py.o
CLI_CFLAGS := $(CSTD) $(OPT) $(WARN) -Iinclude -Ipreload $(shell pkg-config --cflags ncursesw 2>/dev/null)
CLI_LIBS := $(shell pkg-config --libs ncursesw 2>/dev/null || echo -lncursesw)
CLI      := $(BUILD)/sesstrim

LIB      := $(BUILD)/libsesstrim.so
REPORT   := $(BUILD)/sesstrim-report
READERLIB := $(BUILD)/libsesstrim-analyzer.a

.PHONY: all deps test demo bench stress fuzz sanitize sanitize-build install uninstall clean help check-build
all: $(LIB) $(REPORT) $(CLI)

help:
	@echo "make            build $(LIB) and $(REPORT)"
	@echo "make deps       install the Debian packages needed (as root) or say which"
	@echo "make test       build everything and run the whole suite"
	@echo "make demo       install what is missing, build, run a sample, print its report"
	@echo "make bench      overhead, trim and analyzer benchmarks (ratios in one run)"
	@echo "make stress     long trim-vs-churn stress run, then the host battery 10 times"
	@echo "make fuzz       fuzz the dump reader (libFuzzer, clang)"
	@echo "make sanitize   ASan/UBSan analyzer + TSan shim harness (tests/sanitize/README.md)"
	@echo "make install    PREFIX=$(PREFIX) DESTDIR=$(DESTDIR) (also BINDIR LIBDIR INCLUDEDIR MANDIR PKGCONFIGDIR)"

deps:
	@scripts/install-deps.sh

$(BUILD)/obj/preload/%.o $(BUILD)/obj/trim/%.o: CFLAGS_USED = $(PRELOAD_CFLAGS)
$(BUILD)/obj/analyzer/%.o: CFLAGS_USED = $(ANALYZER_CFLAGS)
$(BUILD)/obj/cli/%.o: CFLAGS_USED = $(CLI_CFLAGS)

$(BUILD)/obj/cli-opt/%.o: preload/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CLI_CFLAGS) $(DEPFLAGS) -c $< -o $@

# cli/attach.py (the gdb script of `sesstrim attach`) embedded as a C string.
$(BUILD)/obj/cli-gen/attach_py.c: cli/attach.py
	@mkdir -p $(dir $@)
	@{ echo 'const char attach_py[] = {'; od -An -v -tx1 $< | sed 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g'; echo '0};'; } > $@
$(BUILD)/obj/cli-gen/attach_py.o: $(BUILD)/obj/cli-gen/attach_py.c
	$(CC) -c $< -o $@

$(CLI): $(CLI_OBJ)
	$(CC) -o $@ $^ $(CLI_LIBS)


$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_USED) $(DEPFLAGS) -c $< -o $@

$(UNWIND_A): scripts/build-libunwind.sh
	@mkdir -p $(dir $@)
	@scripts/build-libunwind.sh $@

$(LIB): $(PRELOAD_OBJ) $(UNWIND_A)
	$(CC) -shared -flto -O2 -Wl,-z,defs -Wl,--no-undefined -o $@ $(PRELOAD_OBJ) $(PRELOAD_LIBS)

# The same library built for tests with -DST_DEBUG: lock ranks checked on every acquisition,
# ST_ASSERT aborts. Tests run programs under it (tests/scripts/test_debug_build.sh).
DEBUG_LIB := $(BUILD)/libsesstrim-debug.so
DEBUG_OBJ := $(PRELOAD_SRC:%.c=$(BUILD)/obj-debug/%.o)
$(BUILD)/obj-debug/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -flto -O2,$(PRELOAD_CFLAGS)) -O1 -DST_DEBUG=1 $(DEPFLAGS) -c $< -o $@
$(DEBUG_LIB): $(DEBUG_OBJ) $(UNWIND_A)
	$(CC) -shared -Wl,-z,defs -Wl,--no-undefined -o $@ $(DEBUG_OBJ) $(PRELOAD_LIBS)

$(READERLIB): $(ANALYZER_LIBOBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(REPORT): $(BUILD)/obj/analyzer/main.o $(READERLIB)
	$(CC) -o $@ $^ $(ANALYZER_LIBS)

# Tests: one Catch2 main compiled once, linked into every tests/unit/test_*.cpp binary.
$(BUILD)/tests/catch_main.o: tests/unit/catch_main.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_TEST) -c $< -o $@

$(BUILD)/tests/%: tests/unit/%.cpp $(BUILD)/tests/catch_main.o $(READERLIB) tests/unit/testutil.hpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_TEST) $(DEPFLAGS) -o $@ $< $(BUILD)/tests/catch_main.o $(READERLIB) $(ANALYZER_LIBS) -ldl

$(BUILD)/tests/progs/%: tests/progs/%.c
	@mkdir -p $(dir $@)
	$(CC) $(PROG_CFLAGS) -o $@ $< -ldl

$(BUILD)/tests/progs/%.so: tests/progs/%.c
	@mkdir -p $(dir $@)
	$(CC) $(PROG_CFLAGS) -shared -fPIC -o $@ $<

# The hostile-host battery (tests/host/run.sh): plain programs, like tests/progs.
$(BUILD)/tests/host/%: tests/host/%.c tests/host/host.h
	@mkdir -p $(dir $@)
	$(CC) $(PROG_CFLAGS) -o $@ $< -ldl

$(BUILD)/tests/host/%: tests/host/%.cpp
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 -O2 -g -Wall -Wextra -Werror -pthread -o $@ $<

$(BUILD)/samples/%: samples/%.c
	@mkdir -p $(dir $@)
	$(CC) $(PROG_CFLAGS) -o $@ $< -ldl -lm

$(BUILD)/bench/%: bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(PROG_CFLAGS) -o $@ $< -ldl -lm

check-build: all $(DEBUG_LIB) $(READERLIB) $(TEST_BIN) $(PROG_BIN) $(PROG_LIB) $(SAMPLE_BIN) $(BENCH_BIN) \
             $(HOST_BIN) sanitize-build

test: deps
	@$(MAKE) -s --no-print-directory check-build
	@tests/run.sh

demo: deps
	@$(MAKE) -s --no-print-directory all $(SAMPLE_BIN)
	@scripts/demo.sh

bench: deps
	@$(MAKE) -s --no-print-directory all $(SAMPLE_BIN) $(BENCH_BIN) $(PROG_BIN)
	@bench/run.sh

stress: deps
	@$(MAKE) -s --no-print-directory all $(PROG_BIN) $(HOST_BIN)
	@tests/stress.sh; s=$$?; tests/host/stress.sh && exit $$s

fuzz:
	@$(MAKE) -s --no-print-directory all
	@tests/fuzz/run.sh

# Sanitizer builds (rules in tests/sanitize/sanitize.mk, outputs in $(BUILD)/sanitize/).
include tests/sanitize/sanitize.mk
sanitize: deps
	@$(MAKE) -s --no-print-directory all $(PROG_BIN) sanitize-build
	@tests/sanitize/run.sh

# Where a distribution puts things: the library in LIBDIR (sesstrim finds it as ../lib or
# ../lib/x86_64-linux-gnu from BINDIR), both commands in BINDIR, the header-only API, the
# pkg-config file (generated here, so it names the PREFIX installed to), three man pages.
install: all
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) \
	           $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man7
	install -m 0755 $(LIB) $(DESTDIR)$(LIBDIR)/libsesstrim.so
	install -m 0755 $(REPORT) $(DESTDIR)$(BINDIR)/sesstrim-report
	install -m 0755 $(CLI) $(DESTDIR)$(BINDIR)/sesstrim
	install -m 0644 include/sesstrim.h include/sesstrim_dump.h $(DESTDIR)$(INCLUDEDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' \
	    -e 's|@VERSION@|$(VERSION)|g' sesstrim.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/sesstrim.pc
	chmod 0644 $(DESTDIR)$(PKGCONFIGDIR)/sesstrim.pc
	install -m 0644 man/sesstrim.1 man/sesstrim-report.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 man/sesstrim.7 $(DESTDIR)$(MANDIR)/man7/

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libsesstrim.so $(DESTDIR)$(BINDIR)/sesstrim-report $(DESTDIR)$(BINDIR)/sesstrim \
	      $(DESTDIR)$(INCLUDEDIR)/sesstrim.h $(DESTDIR)$(INCLUDEDIR)/sesstrim_dump.h \
	      $(DESTDIR)$(PKGCONFIGDIR)/sesstrim.pc $(DESTDIR)$(MANDIR)/man1/sesstrim.1 \
	      $(DESTDIR)$(MANDIR)/man1/sesstrim-report.1 $(DESTDIR)$(MANDIR)/man7/sesstrim.7

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
