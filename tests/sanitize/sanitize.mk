# sanitize.mk: the sanitizer builds behind `make sanitize` (included by the Makefile; outputs
# under $(BUILD)/sanitize/). tests/sanitize/run.sh runs them; README.md there says what each
# part proves.
#
# 1. ASan + UBSan: the analyzer (analyzer/*.c), sesstrim-report and the Catch2 tests that
#    exercise it, in $(SAN)/asan/, laid out like $(BUILD) (sesstrim-report, tests/test_*) so
#    the tests and scripts find it through ST_BUILD. float-cast-overflow is added to
#    -fsanitize=undefined (GCC leaves it out): a double -> integer conversion out of range is
#    undefined behaviour too, and the analyzer turns ratios into integers.
# 2. TSan: every preload/ and trim/ source with tsan_rename.h forced in, linked with
#    tsan_harness.c into one executable (tsan_rename.h says why the shim cannot be preloaded
#    into a TSan program).

SAN          := $(BUILD)/sanitize
ASAN_FLAGS   := -fsanitize=address,undefined,float-cast-overflow -fno-omit-frame-pointer -fno-sanitize-recover=all
# Tests whose binary needs nothing but the analyzer library in-process (the programs they
# run under the shim are the ordinary build's). Left out: test_sessions (calls the API
# in-process, so it needs the shim preloaded into itself), test_core and test_trim_stress
# (they test the shim, which the TSan part covers; the dumps they read are the same kind).
ASAN_TESTS   := test_report test_report_reader test_diff test_html test_occupancy test_stacks test_trim
ASAN_OBJ     := $(ANALYZER_SRC:%.c=$(SAN)/asan/obj/%.o)
ASAN_LIBOBJ  := $(filter-out $(SAN)/asan/obj/analyzer/main.o,$(ASAN_OBJ))
ASAN_LIB     := $(SAN)/asan/libsesstrim-analyzer.a
ASAN_REPORT  := $(SAN)/asan/sesstrim-report
ASAN_TEST_BIN := $(ASAN_TESTS:%=$(SAN)/asan/tests/%)
# GCC 12's -Wmaybe-uninitialized misfires inside libstdc++'s <regex> (pulled in by Catch2)
# once the sanitizers instrument it; GCC's manual warns that sanitizers make these warnings
# unreliable. The ordinary test build keeps the warning.
ASAN_CXXFLAGS := $(CXXFLAGS_TEST) $(ASAN_FLAGS) -Wno-maybe-uninitialized

$(SAN)/asan/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ANALYZER_CFLAGS) -O1 $(ASAN_FLAGS) $(DEPFLAGS) -c $< -o $@
$(ASAN_LIB): $(ASAN_LIBOBJ)
	rm -f $@ && ar rcs $@ $^
$(ASAN_REPORT): $(SAN)/asan/obj/analyzer/main.o $(ASAN_LIB)
	$(CC) $(ASAN_FLAGS) -o $@ $^ $(ANALYZER_LIBS)
$(SAN)/asan/tests/catch_main.o: tests/unit/catch_main.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(ASAN_CXXFLAGS) -c $< -o $@
$(SAN)/asan/tests/%: tests/unit/%.cpp $(SAN)/asan/tests/catch_main.o $(ASAN_LIB) tests/unit/testutil.hpp
	$(CXX) $(ASAN_CXXFLAGS) $(DEPFLAGS) -o $@ $< $(SAN)/asan/tests/catch_main.o $(ASAN_LIB) $(ANALYZER_LIBS) -ldl

# -Wno-error=tsan: GCC warns that TSan does not model __atomic_thread_fence (sessions.c).
# The fence there orders atomics against atomics only, so TSan loses nothing it could
# report; the warning stays visible in the build log.
TSAN_CFLAGS  := $(CSTD) -O1 -g $(WARN) -Wno-error=tsan -fPIE -fsanitize=thread -fno-omit-frame-pointer \
                -fvisibility=hidden -ftls-model=initial-exec -Iinclude -Ipreload -Itrim \
                -include tests/sanitize/tsan_rename.h
TSAN_OBJ     := $(PRELOAD_SRC:%.c=$(SAN)/tsan/obj/%.o)
TSAN_HARNESS := $(SAN)/tsan/tsan_harness

$(SAN)/tsan/obj/%.o: %.c tests/sanitize/tsan_rename.h
	@mkdir -p $(dir $@)
	$(CC) $(TSAN_CFLAGS) $(DEPFLAGS) -c $< -o $@
$(SAN)/tsan/obj/tsan_harness.o: tests/sanitize/tsan_harness.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O1 -g $(WARN) -fPIE -fsanitize=thread -fno-omit-frame-pointer -c $< -o $@
# libunwind with its pthread calls renamed to st_unw_pthread_* (tsan_harness.c says why).
TSAN_UNWIND  := $(SAN)/tsan/libunwind-tsan.a
TSAN_UNW_PTHREAD := mutex_lock mutex_unlock mutex_init once key_create setspecific
$(TSAN_UNWIND): $(UNWIND_A)
	@mkdir -p $(dir $@)
	objcopy $(foreach f,$(TSAN_UNW_PTHREAD),--redefine-sym pthread_$(f)=st_unw_pthread_$(f)) $< $@
$(TSAN_HARNESS): $(SAN)/tsan/obj/tsan_harness.o $(TSAN_OBJ) $(TSAN_UNWIND)
	$(CC) -fsanitize=thread -pie -o $@ $^ -ldl -lpthread

sanitize-build: $(ASAN_REPORT) $(ASAN_TEST_BIN) $(TSAN_HARNESS)
