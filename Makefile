# sesstrim build. `make` builds the preload and the analyzer; `make help` lists targets.
# Sources are found by directory, so a new file in preload/, trim/, analyzer/, tests/unit/,
# tests/progs/, samples/<name>/ or bench/ needs no edit here.

CC      ?= cc
CXX     ?= g++
BUILD   ?= build
PREFIX  ?= /usr/local
DESTDIR ?=

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
ANALYZER_LIBS   := -ldw -lelf -lm -lstdc++
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
BENCH_SRC     := $(sort $(wildcard bench/*.c))
BENCH_BIN     := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

LIB      := $(BUILD)/libsesstrim.so
REPORT   := $(BUILD)/sesstrim-report
READERLIB := $(BUILD)/libsesstrim-analyzer.a

.PHONY: all deps test demo bench stress fuzz sanitize sanitize-build install uninstall clean help check-build
all: $(LIB) $(REPORT)

help:
	@echo "make            build $(LIB) and $(REPORT)"
	@echo "make deps       install the Debian packages needed (as root) or say which"
	@echo "make test       build everything and run the whole suite"
	@echo "make demo       install what is missing, build, run a sample, print its report"
	@echo "make bench      overhead, trim and analyzer benchmarks (ratios in one run)"
	@echo "make stress     long trim-vs-churn stress run"
	@echo "make fuzz       fuzz the dump reader (libFuzzer, clang)"
	@echo "make sanitize   ASan/UBSan analyzer + TSan shim harness (tests/sanitize/README.md)"
	@echo "make install    PREFIX=$(PREFIX) DESTDIR=$(DESTDIR)"

deps:
	@scripts/install-deps.sh

$(BUILD)/obj/preload/%.o $(BUILD)/obj/trim/%.o: CFLAGS_USED = $(PRELOAD_CFLAGS)
$(BUILD)/obj/analyzer/%.o: CFLAGS_USED = $(ANALYZER_CFLAGS)

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

$(BUILD)/samples/%: samples/%.c
	@mkdir -p $(dir $@)
	$(CC) $(PROG_CFLAGS) -o $@ $< -ldl -lm

$(BUILD)/bench/%: bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(PROG_CFLAGS) -o $@ $< -ldl -lm

check-build: all $(DEBUG_LIB) $(READERLIB) $(TEST_BIN) $(PROG_BIN) $(PROG_LIB) $(SAMPLE_BIN) $(BENCH_BIN) \
             $(ASAN_REPORT) $(TSAN_HARNESS)

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
	@$(MAKE) -s --no-print-directory all $(PROG_BIN)
	@tests/stress.sh

fuzz:
	@$(MAKE) -s --no-print-directory all
	@tests/fuzz/run.sh

# Sanitizer builds (rules in tests/sanitize/sanitize.mk, outputs in $(BUILD)/sanitize/).
include tests/sanitize/sanitize.mk
sanitize: deps
	@$(MAKE) -s --no-print-directory all $(PROG_BIN) sanitize-build
	@tests/sanitize/run.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include
	install -m 0755 $(LIB) $(DESTDIR)$(PREFIX)/lib/libsesstrim.so
	install -m 0755 $(REPORT) $(DESTDIR)$(PREFIX)/bin/sesstrim-report
	install -m 0644 include/sesstrim.h include/sesstrim_dump.h $(DESTDIR)$(PREFIX)/include/

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/lib/libsesstrim.so $(DESTDIR)$(PREFIX)/bin/sesstrim-report \
	      $(DESTDIR)$(PREFIX)/include/sesstrim.h $(DESTDIR)$(PREFIX)/include/sesstrim_dump.h

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
