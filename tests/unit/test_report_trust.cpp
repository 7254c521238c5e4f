// test_report_trust.cpp: issue 10, "reports a person can trust". Each case builds dumps with
// numbers chosen here (tests/progs/dumpgen) and checks that every byte lands in its layer,
// that derived numbers are bounded by the exact ones, that a process dumped twice is one
// process, and that every advice rule fires where it must and stays silent where it must.
#include "testutil.hpp"
#include "report_test_json.hpp"
#include <fstream>
#include <sstream>
#include "report.h"

namespace {

const uint64_t KiB = 1024, MiB = 1024 * 1024;

std::string make_dump(const std::string &dir, const std::string &name, const std::string &spec)
{
    std::string spec_path = dir + "/" + name + ".spec", out = dir + "/" + name + ".bin";
    std::ofstream(spec_path) << spec;
    st::Result r = st::run({st::prog("dumpgen"), spec_path, out}, {}, false);
    INFO(r.err);
    REQUIRE(r.status == 0);
    return out;
}

st::Result report(const std::vector<std::string> &args)
{
    std::vector<std::string> argv{st::build() + "/sesstrim-report", "--no-symbols"};
    argv.insert(argv.end(), args.begin(), args.end());
    return st::run(argv, {}, false);
}

jt::Value json_of(const std::vector<std::string> &args)
{
    std::vector<std::string> a{"--json"};
    a.insert(a.end(), args.begin(), args.end());
    st::Result r = report(a);
    INFO(r.err);
    REQUIRE(r.status == 0);
    return jt::parse(r.out);
}

// Sum of the layers that partition RSS (every key but the totals).
uint64_t layer_sum(const jt::Value &l)
{
    uint64_t sum = 0;
    for (auto &kv : l.obj)
        if (kv.first != "rss" && kv.first != "free_total" && kv.first != "heap_unresident") sum += kv.second.num;
    return sum;
}

std::vector<std::string> advice_ids(const jt::Value &v)
{
    std::vector<std::string> ids;
    for (auto &a : v["advice"].arr) ids.push_back(a["id"].str);
    return ids;
}

bool has(const std::vector<std::string> &v, const std::string &s)
{
    for (auto &x : v) if (x == s) return true;
    return false;
}

const jt::Value &advice(const jt::Value &v, const std::string &id)
{
    static const jt::Value none;
    for (auto &a : v["advice"].arr) if (a["id"].str == id) return a;
    return none;
}

} // namespace

TEST_CASE("files, the shim's tables and the program's mmaps are separate layers that sum to RSS", "[trust][layers]")
{
    std::string dir = st::tempdir();
    // RSS 300 MiB = 100 anon heap side + 60 file-backed + 40 shim + 50 program anon + 50 rest.
    // The program also mapped a 500 MiB file: file-backed, never "program's mmaps".
    std::string spec =
        "process pid=50 flags=1 rss_bytes=300M rss_anon_bytes=240M rss_file_bytes=60M meta_bytes=40M "
        "live_bytes=80M live_chunk_bytes=82M\n"
        "arena id=0 kind=0 live_bytes=80M live_chunk_bytes=82M top_bytes=18M top_resident_bytes=18M "
        "resident_bytes=100M\n"
        "mmaps anon_bytes=50M anon_count=2 file_bytes=500M file_count=1\n";
    jt::Value v = json_of({make_dump(dir, "files", spec)});
    const jt::Value &l = v["layers"];
    CHECK(l["files"].num == 60 * MiB);
    CHECK(l["shim"].num == 40 * MiB);
    CHECK(l["program_mmaps"].num == 50 * MiB);
    CHECK(l["rest"].num == 50 * MiB);
    CHECK(l["free_top"].num == 18 * MiB);
    CHECK(layer_sum(l) == 300 * MiB);

    // Redis-like: the shim's tables are most of a small process; the program mapped a
    // large anonymous region it barely touched. The shim keeps its own bytes.
    std::string redis = "process pid=51 flags=1 rss_bytes=34M rss_anon_bytes=32M rss_file_bytes=2M meta_bytes=27M\n"
                        "mmaps anon_bytes=1G anon_count=1\n";
    jt::Value r = json_of({make_dump(dir, "redis", redis)});
    CHECK(r["layers"]["shim"].num == 27 * MiB);
    CHECK(r["layers"]["program_mmaps"].num == 5 * MiB);
    CHECK(r["layers"]["files"].num == 2 * MiB);
    CHECK(layer_sum(r["layers"]) == 34 * MiB);
    st::Result t = report({make_dump(dir, "redis2", redis)});
    CHECK(st::contains(t.out, "sesstrim's own tables"));
    CHECK(st::contains(t.out, "27.0 MiB"));
}

TEST_CASE("free bytes on pages with live data belong to the arena's free layer", "[trust][layers]")
{
    std::string dir = st::tempdir();
    // 4 arenas, each 60 MiB resident: 10 MiB live chunks, 2 MiB whole free pages, 1 MiB top;
    // the other 47 MiB are free bytes on pages that also hold live data (fragmentation).
    std::string spec = "process pid=52 flags=1 rss_bytes=250M rss_anon_bytes=245M rss_file_bytes=5M "
                       "live_bytes=40M live_chunk_bytes=40M\n";
    for (int i = 0; i < 4; i++)
        spec += "arena id=" + std::to_string(i) + " kind=" + (i ? "1" : "0") +
                " live_bytes=10M live_chunk_bytes=10M free_bin_bytes=49M free_resident_bytes=2M top_bytes=1M "
                "top_resident_bytes=1M resident_bytes=60M\n";
    jt::Value v = json_of({make_dump(dir, "frag", spec)});
    const jt::Value &l = v["layers"];
    CHECK(l["free_partial"].num == 4 * 47 * MiB);
    CHECK(l["free_total"].num == 4 * 50 * MiB);
    CHECK(l["rest"].num == 5 * MiB);
    CHECK(layer_sum(l) == 250 * MiB);
    st::Result t = report({make_dump(dir, "frag2", spec)});
    std::istringstream in(t.out);
    std::string line, free_line;
    while (std::getline(in, line)) if (line.find("free in arenas") != std::string::npos) free_line = line;
    CHECK(st::contains(free_line, "200.0 MiB"));
}

TEST_CASE("arena threads are distinct threads; thread live bytes never wrap", "[trust][threads]")
{
    std::string dir = st::tempdir();
    // Two threads switched arenas back and forth: glibc-side counters say 101, the
    // thread records say 2 threads allocated from arena 1.
    std::string spec = "process pid=53 flags=1 rss_bytes=10M live_bytes=1M\n"
                       "arena id=1 kind=1 threads_seen=101\n"
                       "arena id=2 kind=1 threads_seen=57\n"
                       "thread idx=1 alloc_bytes=1M freed_bytes=3M cross_free_bytes=0 freed_by_others_bytes=0 "
                       "allocs=10 frees=30\n"
                       "arena_thread arena_id=1 thread_idx=1 allocs=5\n"
                       "arena_thread arena_id=2 thread_idx=1 allocs=5\n"
                       "thread idx=2 alloc_bytes=5M freed_bytes=1M allocs=50 frees=10 freed_by_others_bytes=1M "
                       "freed_by_others=5\n"
                       "arena_thread arena_id=1 thread_idx=2 allocs=50\n";
    jt::Value v = json_of({make_dump(dir, "thr", spec)});
    CHECK(v["arenas"][0]["threads"].num == 2);
    CHECK(v["arenas"][1]["threads"].num == 1);
    // thread 1 freed more than it allocated (counters read at different moments): 0, not 16 EiB
    CHECK(v["threads"][0]["live_bytes"].num == 0);
    CHECK(v["threads"][0]["live_count"].num == 0);
    CHECK(v["threads"][1]["live_bytes"].num == 3 * MiB);
    CHECK(v["threads"][1]["live_count"].num == 35);
    st::Result t = report({make_dump(dir, "thr2", spec)});
    CHECK_FALSE(st::contains(t.out, "EiB"));
    CHECK_FALSE(st::contains(t.out, "PiB"));
}

TEST_CASE("sampled site estimates are scaled offline and never above the exact totals", "[trust][sites]")
{
    std::string dir = st::tempdir();
    // Sampling every 512 KiB: one live sample of a 512 KiB allocation stands for 1/(1-e^-1).
    std::string spec = "process pid=54 flags=9 rss_bytes=100M live_bytes=20M live_count=100 total_allocs=1000 "
                       "stack_sample_bytes=512K\n"
                       "thread idx=0 alloc_bytes=30M allocs=1000\n"
                       "site id=1 sampled_live_bytes=512K sampled_live_count=1 total_bytes=2G total_allocs=9999 "
                       "frames=0x1000\n"
                       "site id=2 sampled_live_bytes=64M sampled_live_count=64 frames=0x2000\n";
    jt::Value v = json_of({make_dump(dir, "sites", spec)});
    const jt::Value *s1 = nullptr, *s2 = nullptr;
    for (auto &s : v["sites"].arr) (s["id"].num == 1 ? s1 : s2) = &s;
    REQUIRE(s1);
    REQUIRE(s2);
    double expect = 512.0 * 1024 / (1 - std::exp(-1.0));
    CHECK(s1->operator[]("live_bytes").num == (uint64_t)(expect + 0.5));
    CHECK(s1->operator[]("total_bytes").num == 30 * MiB);   // bounded by all bytes allocated
    CHECK(s1->operator[]("total_allocs").num == 1000);
    CHECK(s2->operator[]("live_bytes").num == 20 * MiB);    // bounded by the exact live heap
    CHECK(s2->operator[]("live_count").num <= 100);
}

TEST_CASE("the same pid twice is one process over time; the same file twice is one dump", "[trust][family]")
{
    std::string dir = st::tempdir();
    std::string early = make_dump(dir, "early", "process pid=60 ppid=1 time_ns=1000000000 rss_bytes=100M live_bytes=10M\n");
    std::string late = make_dump(dir, "late", "process pid=60 ppid=1 time_ns=6000000000 rss_bytes=150M live_bytes=40M\n");
    st::Result t = report({late, early});
    INFO(t.out);
    CHECK_FALSE(st::contains(t.out, "Process family"));
    CHECK(st::contains(t.out, "change since the dump 5.0 s earlier"));
    CHECK(st::contains(t.out, "RSS 100.0 MiB -> 150.0 MiB (+50.0 MiB)"));
    CHECK(st::contains(t.out, "live heap 10.0 MiB -> 40.0 MiB (+30.0 MiB)"));
    jt::Value v = json_of({early, late});
    CHECK_FALSE(v.has("processes"));
    CHECK(v["process"]["rss_bytes"].num == 150 * MiB);
    CHECK(v["previous"]["rss_bytes"].num == 100 * MiB);
    jt::Value twice = json_of({early, early});
    CHECK_FALSE(twice.has("processes"));
    CHECK(twice["previous"].type == jt::Value::Null);
    CHECK(twice["process"]["rss_bytes"].num == 100 * MiB);

    // A parent dumped twice and a child: the family counts the parent's latest dump once.
    std::string child = make_dump(dir, "child", "process pid=61 ppid=60 time_ns=5000000000 rss_bytes=20M live_bytes=2M\n");
    jt::Value f = json_of({early, child, late});
    CHECK(f["family"]["processes"].num == 2);
    CHECK(f["family"]["rss_bytes"].num == 170 * MiB);
    CHECK(f["processes"].arr.size() == 2);
}

TEST_CASE("shared memory is counted once in a family total", "[trust][family]")
{
    std::string dir = st::tempdir();
    // A parent and two forked children share a 1 GiB shared-anonymous buffer pool mapping
    // (all resident) and libc's code: the plain sum would add them three times.
    auto spec = [](int pid, int ppid, uint64_t priv) {
        return "process pid=" + std::to_string(pid) + " ppid=" + std::to_string(ppid) +
               " rss_bytes=" + std::to_string(1024 * MiB + 2 * MiB + priv) + "\n"
               "mapping start=0x7f0000000000 end=0x7f0040000000 rss=1G perms=11 name=\"/dev/zero (deleted)\"\n"
               "mapping start=0x7f1000000000 end=0x7f1000200000 rss=2M perms=5 name=/usr/lib/libc.so.6\n"
               "mapping start=0x1000 end=0x100000000 rss=" + std::to_string(priv) + " perms=3 kind=4\n";
    };
    std::string p = make_dump(dir, "pg", spec(70, 1, 100 * MiB));
    std::string c1 = make_dump(dir, "pg1", spec(71, 70, 10 * MiB));
    std::string c2 = make_dump(dir, "pg2", spec(72, 70, 20 * MiB));
    jt::Value v = json_of({p, c1, c2});
    CHECK(v["family"]["rss_bytes"].num == 1024 * MiB + 2 * MiB + 130 * MiB);
    CHECK(v["family"]["rss_sum_bytes"].num == 3 * (1026 * MiB) + 130 * MiB);
    st::Result t = report({p, c1, c2});
    CHECK(st::contains(t.out, "Process family: 3 processes, RSS 1.1 GiB in total (shared memory counted once"));
}

TEST_CASE("an exit dump: leftovers of ended sessions are bounded by what is live now", "[trust][advice]")
{
    std::string dir = st::tempdir();
    std::string spec = "process pid=80 reason=1 flags=1 rss_bytes=200M live_bytes=778K\n"
                       "session id=1 name=req flags=1 leftover_bytes=97M leftover_count=10\n";
    st::Result t = report({make_dump(dir, "exit", spec)});
    INFO(t.out);
    CHECK(st::contains(t.out, "written at exit"));
    CHECK_FALSE(st::contains(t.out, "100% of live heap"));
    CHECK_FALSE(st::contains(t.out, "session-leftovers"));
    jt::Value v = json_of({make_dump(dir, "exit2", spec)});
    CHECK_FALSE(has(advice_ids(v), "session-leftovers"));
}

TEST_CASE("the configuration in force is in the dump and the advice accounts for it", "[trust][advice][config]")
{
    std::string dir = st::tempdir();
    std::string base = "process pid=81 flags=1 rss_bytes=700M start_ns=1000000000 time_ns=100000000000\n";
    for (int i = 1; i <= 15; i++)
        base += "arena id=" + std::to_string(i) + " kind=1 top_bytes=40M top_resident_bytes=40M\n";

    // No config record: the policy to try, and that the dump does not say what was in force.
    jt::Value none = json_of({make_dump(dir, "noconf", base)});
    CHECK(st::contains(advice(none, "trim-thread-tops")["text"].str, "SESSTRIM_TRIM=idle=2s would return it"));
    CHECK(none["config"].type == jt::Value::Null);

    // idle=2s was in force and never fired: never recommend it again; say why.
    std::string idle = base + "config trim_idle_ns=2000000000 env=SESSTRIM_TRIM=idle=2s\n";
    jt::Value v = json_of({make_dump(dir, "idle", idle)});
    std::string text = advice(v, "trim-thread-tops")["text"].str;
    INFO(text);
    CHECK_FALSE(st::contains(text, "would return it"));
    CHECK(st::contains(text, "SESSTRIM_TRIM=idle=2s was in force but never fired"));
    CHECK(st::contains(text, "never paused"));
    CHECK(v["config"]["trim"]["idle_ns"].num == 2000000000ull);
    CHECK(v["config"]["environment"][0].str == "SESSTRIM_TRIM=idle=2s");
    st::Result t = report({make_dump(dir, "idle2", idle)});
    CHECK(st::contains(t.out, "settings in force: SESSTRIM_TRIM=idle=2s"));

    // rss>1G never reached: the reason is the threshold.
    jt::Value r = json_of({make_dump(dir, "rss", base + "config trim_rss_high=1G\n")});
    CHECK(st::contains(advice(r, "trim-thread-tops")["text"].str, "RSS 700.0 MiB stayed below rss>1.0 GiB"));

    // It fired: say so, no new policy.
    jt::Value f = json_of({make_dump(dir, "fired", base + "config trim_idle_ns=2000000000\n"
                                                        "trim seq=1 trigger=1 released_bytes=100M\n")});
    CHECK(st::contains(advice(f, "trim-thread-tops")["text"].str, "was in force and trimmed 1 times"));

    // MALLOC_ARENA_MAX already at the suggestion: that rule stays silent.
    jt::Value am = json_of({make_dump(dir, "am", base + "config env_arena_max=2\n")});
    CHECK_FALSE(has(advice_ids(am), "malloc-arena-max"));
    CHECK(has(advice_ids(none), "malloc-arena-max"));
}

TEST_CASE("advice names the other-threads bucket and bounds bytes at stake by RSS", "[trust][advice]")
{
    std::string dir = st::tempdir();
    std::string spec = "process pid=82 flags=1 rss_bytes=200M\n"
                       "thread idx=2 name=consumer freed_bytes=60M cross_free_bytes=60M\n"
                       "xfree freer_idx=2 alloc_idx=4294967295 count=600 bytes=60M\n";
    st::Result t = report({make_dump(dir, "others", spec)});
    INFO(t.out);
    CHECK(st::contains(t.out, "allocated by other threads"));
    CHECK_FALSE(st::contains(t.out, "4294967295"));

    // Sparse pages claim 2 GiB in a 286 MiB process: at stake is at most the RSS.
    std::string occ = "process pid=83 flags=1 rss_bytes=286M page_size=4096\n"
                      "occupancy arena_id=1 page_size=4096 pages=0,524288,0,0,0,0,0,0,0,0,0\n";
    jt::Value v = json_of({make_dump(dir, "occ", occ)});
    for (auto &a : v["advice"].arr) CHECK(a["bytes_at_stake"].num <= 286 * MiB);
    CHECK(has(advice_ids(v), "page-occupancy"));
}

// Every rule: a dump where it must fire and one where it must not.
TEST_CASE("every advice rule fires where it must and stays silent where it must not", "[trust][advice]")
{
    std::string dir = st::tempdir();
    struct Case { const char *id; std::string fire, quiet; };
    std::string tops = "process pid=90 flags=1 rss_bytes=100M\narena id=1 kind=1 top_bytes=50M top_resident_bytes=50M\n";
    std::vector<Case> cases = {
        {"foreign-malloc", "process pid=90 flags=2\n", "process pid=90 flags=1\n"},
        {"trim-thread-tops", tops,
         "process pid=90 flags=1 rss_bytes=100M\narena id=1 kind=1 top_bytes=5M top_resident_bytes=5M\n"},
        {"trim-free-bins",
         "process pid=90 flags=1 rss_bytes=100M\narena id=1 kind=1 free_bin_bytes=60M free_resident_bytes=50M\n",
         "process pid=90 flags=1 rss_bytes=100M\narena id=1 kind=1 free_bin_bytes=60M free_resident_bytes=1M\n"},
        {"page-occupancy",
         "process pid=90 flags=1 rss_bytes=100M\noccupancy arena_id=1 page_size=4096 pages=0,10000,0,0,0,0,0,0,0,0,0\n",
         "process pid=90 flags=1 rss_bytes=100M\noccupancy arena_id=1 page_size=4096 pages=0,100,0,0,0,0,0,0,0,0,10000\n"},
        {"malloc-arena-max",
         [] { std::string s = "process pid=90 flags=1 rss_bytes=200M\n";
              for (int i = 1; i <= 8; i++) s += "arena id=" + std::to_string(i) + " kind=1 top_bytes=20M top_resident_bytes=20M\n";
              return s; }(),
         [] { std::string s = "process pid=90 flags=1 rss_bytes=200M\n";
              for (int i = 1; i <= 3; i++) s += "arena id=" + std::to_string(i) + " kind=1 top_bytes=20M top_resident_bytes=20M\n";
              return s; }()},
        {"session-leftovers",
         "process pid=90 flags=1 rss_bytes=200M live_bytes=100M\nsession id=1 name=a flags=1 leftover_bytes=60M\n",
         "process pid=90 flags=1 rss_bytes=200M live_bytes=100M\nsession id=1 name=a flags=1 leftover_bytes=1M\n"},
        {"cross-thread-frees",
         "process pid=90 flags=1 rss_bytes=200M\nthread idx=1 freed_bytes=60M\nxfree freer_idx=1 alloc_idx=2 count=9 bytes=60M\n",
         "process pid=90 flags=1 rss_bytes=200M\nthread idx=1 freed_bytes=600M\nxfree freer_idx=1 alloc_idx=2 count=9 bytes=6M\n"},
        {"untracked-frees", "process pid=90 flags=1 total_frees=9000 untracked_frees=1000\n",
         "process pid=90 flags=1 total_frees=900000 untracked_frees=1000\n"},
        {"fragmentation",
         "process pid=90 flags=1 rss_bytes=100M\narena id=1 kind=1 address=1 live_chunk_bytes=20M resident_bytes=80M\n",
         "process pid=90 flags=1 rss_bytes=100M\narena id=1 kind=1 address=1 live_chunk_bytes=75M resident_bytes=80M\n"},
        {"trim-threshold",
         "process pid=90 flags=1 rss_bytes=100M\narena id=0 kind=0 top_bytes=50M top_resident_bytes=50M\n",
         "process pid=90 flags=1 rss_bytes=100M\narena id=0 kind=0 top_bytes=50M top_resident_bytes=50M\n"
         "config env_trim_threshold=131072\n"},
    };
    for (auto &c : cases) {
        INFO(c.id);
        jt::Value fire = json_of({make_dump(dir, std::string(c.id) + "-fire", c.fire)});
        jt::Value quiet = json_of({make_dump(dir, std::string(c.id) + "-quiet", c.quiet)});
        CHECK(has(advice_ids(fire), c.id));
        CHECK_FALSE(has(advice_ids(quiet), c.id));
    }
    // A single-threaded program's main arena (read through mallinfo2: no address, no bin
    // residency): its free bins are whole pages a trim returns, and the rule says so.
    jt::Value m = json_of({make_dump(dir, "mainbins", "process pid=90 flags=1 rss_bytes=70M\n"
                                                      "arena id=0 kind=0 free_bin_bytes=64M resident_bytes=65M "
                                                      "live_chunk_bytes=1M\n")});
    CHECK(has(advice_ids(m), "trim-free-bins"));
    CHECK(m["layers"]["free_bins"].num == 64 * MiB);
    jt::Value tt = json_of({make_dump(dir, "tt", cases.back().fire)});
    CHECK(st::contains(advice(tt, "trim-threshold")["text"].str, "GLIBC_TUNABLES=glibc.malloc.trim_threshold="));
}

TEST_CASE("--json of one dump does not repeat itself", "[trust][json]")
{
    std::string dir = st::tempdir();
    std::string d = make_dump(dir, "one", "process pid=91 rss_bytes=1M\nsession id=1 name=only\n");
    st::Result r = report({"--json", d});
    jt::Value v = jt::parse(r.out);
    CHECK_FALSE(v.has("processes"));
    CHECK(v["sessions"].arr.size() == 1);
    size_t n = 0;
    for (size_t at = r.out.find("\"only\""); at != std::string::npos; at = r.out.find("\"only\"", at + 1)) n++;
    CHECK(n == 1);
}

TEST_CASE("C++ and Rust symbols are demangled with libiberty", "[trust][symbols]")
{
    auto dm = [](const char *m) {
        char *s = demangle_symbol(m);
        std::string out = s ? s : "";
        free(s);
        return out;
    };
    CHECK(dm("_Z9ht_createj") == "ht_create(unsigned int)");
    CHECK(dm("_ZN4core3fmt5write17h0123456789abcdefE") == "core::fmt::write");
    CHECK(dm("_RNvCs15kBYyAo9fc_7mycrate7example") == "mycrate::example");
    CHECK(dm("plain_c_name").empty());
}

TEST_CASE("the text report puts the advice right after the summary", "[trust][text]")
{
    std::string dir = st::tempdir();
    std::string spec = "process pid=92 flags=1 rss_bytes=100M\narena id=1 kind=1 top_bytes=50M top_resident_bytes=50M\n"
                       "thread idx=0 name=main\n";
    st::Result t = report({make_dump(dir, "order", spec)});
    size_t summary = t.out.find("\nSummary:"), advice = t.out.find("\nAdvice\n"), arenas = t.out.find("\nArenas:");
    REQUIRE(summary != std::string::npos);
    REQUIRE(advice != std::string::npos);
    REQUIRE(arenas != std::string::npos);
    CHECK(summary < advice);
    CHECK(advice < arenas);
}
