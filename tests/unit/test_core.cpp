// test_core.cpp: the interposer core (issue 2): attribution to threads and arenas,
// cross-thread frees, every allocation kind, program mmaps, fork, robustness.
#include "testutil.hpp"
#include <fstream>
#include <set>
#include <sstream>
#include <sys/stat.h>

using namespace st;


static int count_lines_with(const std::string &text, const std::string &needle)
{
    std::istringstream in(text);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) n += contains(line, needle);
    return n;
}

static uint64_t hugepage_size()
{
    std::ifstream in("/proc/meminfo");
    std::string key;
    uint64_t v;
    while (in >> key >> v) {
        if (key == "Hugepagesize:") return v * 1024;
        std::string rest;
        std::getline(in, rest);
    }
    return 0;
}

TEST_CASE("threads allocating at once land in distinct arenas, and the report says so")
{
    auto dir = tempdir();
    const int threads = 4, blocks = 2000, size = 1000;
    auto r = run({prog("core_arenas"), d(dir, "alive.bin"), d(dir, "after.bin"), std::to_string(threads),
                  std::to_string(blocks), std::to_string(size)}, {});
    INFO(r.err);
    REQUIRE(r.status == 0);
    Dump dump(d(dir, "alive.bin"));
    REQUIRE(dump.ok);
    REQUIRE((dump.d.process.flags & ST_PROC_ARENA_LOGIC));
    std::set<uint32_t> homes;
    const uint64_t expected_live = (uint64_t)blocks * size + sizeof(void *) * blocks;
    for (int i = 0; i < threads; i++) {
        auto *t = dump.thread_named("worker-" + std::to_string(i));
        REQUIRE(t != nullptr);
        CHECK(t->live_bytes == expected_live);
        CHECK(t->home_arena != 0);              // a thread arena, not main
        homes.insert(t->home_arena);
        auto *a = dump.arena(t->home_arena);
        REQUIRE(a != nullptr);
        CHECK(a->kind == ST_ARENA_THREAD);
        CHECK(a->live_bytes == expected_live);  // nobody else allocated there
        CHECK(a->threads_seen == 1);
        CHECK(a->resident_bytes >= expected_live);
    }
    CHECK(homes.size() == (size_t)threads);    // 4 <= glibc's limit of 8 x cores

    auto text = run({build() + "/sesstrim-report", d(dir, "alive.bin")}, {}, false);
    REQUIRE(text.status == 0);
    CHECK(contains(text.out, "Arenas: " + std::to_string(dump.d.n_arenas)));
    for (int i = 0; i < threads; i++) CHECK(contains(text.out, "worker-" + std::to_string(i)));
}

TEST_CASE("tracked chunk bytes agree with mallinfo2 uordblks + hblkhd within 1%")
{
    auto dir = tempdir();
    auto r = run({prog("core_arenas"), d(dir, "alive.bin"), d(dir, "after.bin"), "4", "5000", "1000", "2"}, {});
    INFO(r.err);
    REQUIRE(r.status == 0);
    Dump dump(d(dir, "after.bin"));
    REQUIRE(dump.ok);
    const auto &p = dump.d.process;
    double glibc = (double)(p.mi_uordblks + p.mi_hblkhd);
    double tracked = (double)p.live_chunk_bytes;
    INFO("tracked " << tracked << " glibc " << glibc);
    REQUIRE(tracked > 20e6);
    CHECK(std::abs(tracked - glibc) <= 0.01 * glibc);
    CHECK(p.glibc_mmapped_count == 8);        // 4 threads x 2 blocks of 1 MiB
}

TEST_CASE("frees on a consumer thread count as cross-thread frees against the producer and its arena")
{
    auto dir = tempdir();
    const int count = 5000, size = 700;
    auto r = run({prog("core_xfree"), d(dir, "x.bin"), std::to_string(count), std::to_string(size)}, {});
    INFO(r.err);
    REQUIRE(r.status == 0);
    Dump dump(d(dir, "x.bin"));
    REQUIRE(dump.ok);
    auto *prod = dump.thread_named("producer");
    auto *cons = dump.thread_named("consumer");
    REQUIRE(prod);
    REQUIRE(cons);
    CHECK(prod->allocs == (uint64_t)count);
    CHECK(prod->freed_by_others == (uint64_t)count);
    CHECK(prod->freed_by_others_bytes == (uint64_t)count * size);
    CHECK(prod->live_bytes == 0);
    CHECK(cons->cross_frees == (uint64_t)count);
    CHECK(cons->cross_free_bytes == (uint64_t)count * size);
    bool cell = false;
    for (size_t i = 0; i < dump.d.n_xfrees; i++) {
        auto &x = dump.d.xfrees[i];
        if (x.freer_idx == cons->idx && x.alloc_idx == prod->idx) {
            cell = true;
            CHECK(x.count == (uint64_t)count);
            CHECK(x.bytes == (uint64_t)count * size);
        }
    }
    CHECK(cell);
    // the producer's blocks came from its own thread arena, recorded as such
    bool attributed = false;
    for (size_t i = 0; i < dump.d.n_arena_threads; i++) {
        auto &at = dump.d.arena_threads[i];
        if (at.thread_idx == prod->idx) {
            attributed = true;
            CHECK(at.arena_id == prod->home_arena);
            CHECK(at.arena_id != 0);
            CHECK(at.allocs == (uint64_t)count);
        }
    }
    CHECK(attributed);
}

TEST_CASE("memalign family, calloc, realloc, mmapped chunks and the program's mmaps are attributed")
{
    auto dir = tempdir();
    auto r = run({prog("core_kinds"), d(dir, "0.bin"), d(dir, "1.bin"), d(dir, "2.bin"), d(dir, "file")}, {});
    INFO(r.err);
    REQUIRE(r.status == 0);
    unsigned long expected = 0, mmapped = 0, anon = 0, file = 0, anon_after = 0;
    auto pos = r.out.find("expected_live=");
    REQUIRE(pos != std::string::npos);
    REQUIRE(sscanf(r.out.c_str() + pos, "expected_live=%lu mmapped=%lu anon=%lu file=%lu anon_after=%lu",
                   &expected, &mmapped, &anon, &file, &anon_after) == 5);
    Dump d0(d(dir, "0.bin")), d1(d(dir, "1.bin")), d2(d(dir, "2.bin"));
    REQUIRE(d0.ok);
    REQUIRE(d1.ok);
    REQUIRE(d2.ok);
    CHECK(d1.d.process.live_bytes - d0.d.process.live_bytes == expected);
    CHECK(d1.d.threads[0].live_bytes - d0.d.threads[0].live_bytes == expected);
    CHECK(d1.d.process.glibc_mmapped_count - d0.d.process.glibc_mmapped_count == 1);
    CHECK(d1.d.process.glibc_mmapped_bytes - d0.d.process.glibc_mmapped_bytes >= mmapped);
    // everything but the mmapped chunk lives in the main arena
    REQUIRE(d0.arena(0));
    REQUIRE(d1.arena(0));
    CHECK(d1.arena(0)->live_bytes - d0.arena(0)->live_bytes == expected - mmapped);
    CHECK(d2.d.process.live_bytes == d0.d.process.live_bytes);
    REQUIRE(d1.d.has_mmaps);
    CHECK(d1.d.mmaps.anon_bytes == anon);
    CHECK(d1.d.mmaps.file_bytes == file);
    CHECK(d2.d.mmaps.anon_bytes == anon_after);   // partial munmap splits the region
    CHECK(d2.d.mmaps.file_bytes == 0);
}

TEST_CASE("a forked child keeps working and writes its own dump")
{
    auto dir = tempdir();
    auto r = run({prog("core_fork"), "300"}, {{"SESSTRIM_DUMP", d(dir, "d-%p.bin")}});
    INFO(r.err);
    REQUIRE(r.status == 0);
    int parent = 0, child = 0, cstatus = -1;
    auto cp = r.out.find("child="), pp = r.out.find("parent=");
    REQUIRE(cp != std::string::npos);
    REQUIRE(pp != std::string::npos);
    sscanf(r.out.c_str() + cp, "child=%d", &child);
    sscanf(r.out.c_str() + pp, "parent=%d child_status=%d", &parent, &cstatus);
    CHECK(cstatus == 0);
    Dump pd(d(dir, "d-" + std::to_string(parent) + ".bin"));
    Dump cd(d(dir, "d-" + std::to_string(child) + ".bin"));
    REQUIRE(pd.ok);
    REQUIRE(cd.ok);
    CHECK(cd.d.process.ppid == (uint32_t)parent);
    CHECK((cd.d.process.flags & ST_PROC_FORK_CHILD));
    CHECK(!(pd.d.process.flags & ST_PROC_FORK_CHILD));
    CHECK(cd.d.process.live_bytes >= pd.d.process.live_bytes + 300 * 10000);
}

TEST_CASE("a pointer from before the shim loaded is passed through untouched")
{
    auto dir = tempdir();
    auto r = run({prog("core_early")}, {{"LD_PRELOAD", lib() + ":" + build() + "/tests/progs/libearly.so"},
                                        {"SESSTRIM_DUMP", d(dir, "e.bin")}});
    INFO(r.err);
    REQUIRE(r.status == 0);
    CHECK(contains(r.out, "ok"));
    Dump dump(d(dir, "e.bin"));
    REQUIRE(dump.ok);
    CHECK(dump.d.process.untracked_frees >= 2);   // the realloc and the free
}

TEST_CASE("malformed options get one warning line each and the default")
{
    auto dir = tempdir();
    auto r = run({prog("core_xfree"), d(dir, "x.bin"), "100", "10"},
                 {{"SESSTRIM_STACKS", "banana"}, {"SESSTRIM_DUMP_INTERVAL", "fast"}, {"SESSTRIM_ARENA_MAX", "-3"},
                  {"SESSTRIM_DUMP_SIGNAL", "KILL"}, {"SESSTRIM_TIMELINE_INTERVAL", "500us"}});
    INFO(r.err);
    REQUIRE(r.status == 0);
    CHECK(count_lines_with(r.err, "SESSTRIM_STACKS=banana") == 1);
    CHECK(count_lines_with(r.err, "SESSTRIM_DUMP_INTERVAL=fast") == 1);
    CHECK(count_lines_with(r.err, "SESSTRIM_ARENA_MAX=-3") == 1);
    CHECK(count_lines_with(r.err, "SESSTRIM_DUMP_SIGNAL=KILL") == 1);
    CHECK(count_lines_with(r.err, "SESSTRIM_TIMELINE_INTERVAL=500us") == 1);  // below 1 ms
    Dump dump(d(dir, "x.bin"));
    REQUIRE(dump.ok);
    CHECK(dump.d.process.stack_sample_bytes == 512 * 1024);  // the default
}

TEST_CASE("dump path: unwritable gets one line, a symlink is replaced not followed, mode 0600")
{
    auto dir = tempdir();
    auto r = run({prog("core_fork"), "1"}, {{"SESSTRIM_DUMP", "/nonexistent-dir/sub/d.bin"}});
    REQUIRE(r.status == 0);
    CHECK(count_lines_with(r.err, "cannot create") >= 1);
    CHECK(contains(r.out, "parent="));

    std::string target = d(dir, "victim.txt"), link = d(dir, "link.bin");
    { std::ofstream(target) << "precious"; }
    REQUIRE(symlink(target.c_str(), link.c_str()) == 0);
    auto r2 = run({prog("core_xfree"), link, "10", "10"}, {});
    REQUIRE(r2.status == 0);
    std::ifstream in(target);
    std::string content;
    in >> content;
    CHECK(content == "precious");
    struct stat sb;
    REQUIRE(lstat(link.c_str(), &sb) == 0);
    CHECK(S_ISREG(sb.st_mode));
    CHECK((sb.st_mode & 0777) == 0600);
    Dump dump(link);
    CHECK(dump.ok);
}

TEST_CASE("with another malloc preloaded, arena logic turns itself off with one line")
{
    const char *libs[] = {"/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
                          "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"};
    int checked = 0;
    for (const char *other : libs) {
        if (!file_exists(other)) continue;
        checked++;
        SECTION(other)
        {
            auto dir = tempdir();
            auto r = run({prog("core_xfree"), d(dir, "x.bin"), "1000", "100"}, {{"LD_PRELOAD", lib() + ":" + other}});
            INFO(r.err);
            REQUIRE(r.status == 0);
            CHECK(count_lines_with(r.err, "not glibc's") == 1);
            Dump dump(d(dir, "x.bin"));
            REQUIRE(dump.ok);
            CHECK((dump.d.process.flags & ST_PROC_FOREIGN_MALLOC));
            CHECK(!(dump.d.process.flags & ST_PROC_ARENA_LOGIC));
            CHECK(dump.d.n_arenas == 0);
            auto *cons = dump.thread_named("consumer");
            REQUIRE(cons);
            CHECK(cons->cross_frees == 1000);     // accounting still works
        }
    }
    if (!checked) WARN("neither jemalloc nor tcmalloc is installed (make deps installs both): not checked");
}

TEST_CASE("glibc.malloc.hugetlb=2 changes the heap size and attribution follows it")
{
    uint64_t huge = hugepage_size();
    REQUIRE(huge > 0);
    auto dir = tempdir();
    auto r = run({prog("core_arenas"), d(dir, "alive.bin"), d(dir, "after.bin"), "2", "500", "100"},
                 {{"GLIBC_TUNABLES", "glibc.malloc.hugetlb=2"}});
    INFO(r.err);
    REQUIRE(r.status == 0);
    Dump dump(d(dir, "alive.bin"));
    REQUIRE(dump.ok);
    CHECK(dump.d.process.heap_max_size == 4 * huge);
    CHECK((dump.d.process.flags & ST_PROC_ARENA_LOGIC));
    auto *w0 = dump.thread_named("worker-0");
    auto *w1 = dump.thread_named("worker-1");
    REQUIRE(w0);
    REQUIRE(w1);
    CHECK(w0->home_arena != w1->home_arena);
    CHECK(w0->home_arena != 0);
}

TEST_CASE("an unverified glibc version gets accounting without arena internals and one line")
{
    auto dir = tempdir();
    auto r = run({prog("core_xfree"), d(dir, "x.bin"), "100", "10"}, {{"SESSTRIM_TEST_GLIBC_VERSION", "2.99"}});
    INFO(r.err);
    REQUIRE(r.status == 0);
    CHECK(count_lines_with(r.err, "outside the verified range") == 1);
    Dump dump(d(dir, "x.bin"));
    REQUIRE(dump.ok);
    CHECK((dump.d.process.flags & ST_PROC_UNVERIFIED_GLIBC));
    CHECK(dump.d.n_arenas == 0);
    CHECK(dump.thread_named("consumer")->cross_frees == 100);
}

TEST_CASE("SESSTRIM_LOG sends lines to a file or nowhere; %p and %t expand in paths")
{
    auto dir = tempdir();
    auto r = run({prog("core_xfree"), d(dir, "x-%p-%t.bin"), "10", "10"},
                 {{"SESSTRIM_LOG", d(dir, "log-%p.txt")}, {"SESSTRIM_STACKS", "nope"}});
    REQUIRE(r.status == 0);
    CHECK(!contains(r.err, "sesstrim["));           // nothing on stderr
    std::string logname, dumpname;
    for (auto &name : {std::string("log-"), std::string("x-")}) {
        auto ls = run({"sh", "-c", "ls " + dir + " | grep '^" + name + "'"}, {}, false);
        (name == "log-" ? logname : dumpname) = ls.out.substr(0, ls.out.find('\n'));
    }
    REQUIRE(!logname.empty());
    REQUIRE(!dumpname.empty());
    std::ifstream in(d(dir, logname));
    std::stringstream log;
    log << in.rdbuf();
    CHECK(count_lines_with(log.str(), "SESSTRIM_STACKS=nope") == 1);
    CHECK(dumpname.find('%') == std::string::npos);  // both %p and %t were replaced
    Dump dump(d(dir, dumpname));
    CHECK(dump.ok);
    CHECK(logname == "log-" + std::to_string(dump.d.process.pid) + ".txt");

    auto quiet = run({prog("core_xfree"), d(dir, "q.bin"), "10", "10"},
                     {{"SESSTRIM_LOG", "off"}, {"SESSTRIM_STACKS", "nope"}});
    REQUIRE(quiet.status == 0);
    CHECK(quiet.err.empty());
}

TEST_CASE("edge cases of the malloc API behave exactly as without the shim")
{
    auto plain = run({prog("core_edges")}, {}, false);
    auto shim = run({prog("core_edges")}, {{"SESSTRIM_LOG", "off"}});
    REQUIRE(plain.status == 0);
    INFO(shim.err);
    CHECK(shim.status == 0);
    CHECK(shim.out == plain.out);
    CHECK(count_lines_with(plain.out, "\n") == count_lines_with(shim.out, "\n"));
}
