// test_report.cpp: sesstrim-report on dumps written by tests/progs/dumpgen with numbers chosen
// here: the text and JSON reports must show the numbers computed from those inputs.
#include "testutil.hpp"
#include "report_test_json.hpp"
#include <cstdio>
#include <fstream>
#include <sstream>
#include "sesstrim_dump.h"

namespace {

const uint64_t KiB = 1024, MiB = 1024 * 1024;

std::string report_bin() { return st::build() + "/sesstrim-report"; }

// Writes `spec` to a file, runs dumpgen on it, returns the dump's path.
std::string make_dump(const std::string &dir, const std::string &name, const std::string &spec,
                      const std::vector<std::string> &flags = {})
{
    std::string spec_path = dir + "/" + name + ".spec", out = dir + "/" + name + ".bin";
    std::ofstream(spec_path) << spec;
    std::vector<std::string> argv{st::prog("dumpgen")};
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.push_back(spec_path);
    argv.push_back(out);
    st::Result r = st::run(argv, {}, false);
    INFO(r.err);
    REQUIRE(r.status == 0);
    return out;
}

st::Result report(const std::vector<std::string> &args)
{
    std::vector<std::string> argv{report_bin()};
    argv.insert(argv.end(), args.begin(), args.end());
    return st::run(argv, {}, false);
}

// The report's unit: one decimal place of the largest binary unit.
std::string human(uint64_t b)
{
    char buf[32];
    if (b < KiB) snprintf(buf, sizeof buf, "%llu B", (unsigned long long)b);
    else if (b < MiB) snprintf(buf, sizeof buf, "%.1f KiB", b / 1024.0);
    else if (b < 1024 * MiB) snprintf(buf, sizeof buf, "%.1f MiB", b / 1048576.0);
    else snprintf(buf, sizeof buf, "%.1f GiB", b / 1073741824.0);
    return buf;
}

std::string line_with(const std::string &text, const std::string &needle)
{
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line))
        if (line.find(needle) != std::string::npos) return line;
    return "";
}

// The section of a text report that starts with `heading`, up to the next empty line.
std::string section(const std::string &text, const std::string &heading)
{
    size_t at = text.find("\n" + heading);
    if (at == std::string::npos) return "";
    size_t end = text.find("\n\n", at + 1);
    return text.substr(at + 1, end == std::string::npos ? std::string::npos : end - at - 1);
}

// The --html page of a dump, read back.
std::string html_page(const std::string &bin)
{
    std::string path = bin + ".html";
    REQUIRE(report({"--no-symbols", "--html", path, bin}).status == 0);
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

} // namespace

TEST_CASE("the RSS layers add up from the arenas and process numbers", "[report]")
{
    std::string dir = st::tempdir();
    const uint64_t rss = 900 * MiB, live0 = 30 * MiB, live1 = 200 * MiB, chunk_extra = 3 * MiB;
    const uint64_t bins = 40 * MiB, fast = 1 * MiB, top0 = 2 * MiB, top1 = 100 * MiB, mmapped = 64 * MiB;
    const uint64_t anon_mmaps = 50 * MiB, file_rss = 20 * MiB;
    char spec[2048];
    snprintf(spec, sizeof spec,
             "process pid=11 flags=1 rss_bytes=%llu rss_file_bytes=%llu live_bytes=%llu live_chunk_bytes=%llu "
             "glibc_mmapped_bytes=%llu glibc_mmapped_count=2 live_count=77\n"
             "arena id=0 kind=0 live_bytes=%llu live_chunk_bytes=%llu top_bytes=%llu top_resident_bytes=%llu\n"
             "arena id=1 kind=1 live_bytes=%llu live_chunk_bytes=%llu free_bin_bytes=%llu free_resident_bytes=%llu "
             "free_fast_bytes=%llu top_bytes=%llu top_resident_bytes=%llu resident_bytes=%llu threads_seen=3\n"
             "mmaps anon_bytes=%llu anon_count=4\n",
             (unsigned long long)rss, (unsigned long long)file_rss, (unsigned long long)(live0 + live1 + mmapped),
             (unsigned long long)(live0 + live1 + chunk_extra + mmapped), (unsigned long long)mmapped,
             (unsigned long long)live0, (unsigned long long)(live0 + MiB), (unsigned long long)top0,
             (unsigned long long)top0, (unsigned long long)live1, (unsigned long long)(live1 + 2 * MiB),
             (unsigned long long)(bins + 8 * MiB), (unsigned long long)bins, (unsigned long long)fast,
             (unsigned long long)top1, (unsigned long long)top1, (unsigned long long)(live1 + bins + top1),
             (unsigned long long)anon_mmaps);
    std::string dump = make_dump(dir, "layers", spec);

    const uint64_t overhead = chunk_extra;  // chunk bytes - requested bytes over the arenas
    const uint64_t free_total = bins + fast + top0 + top1;
    // file-backed RSS is its own layer (code, libraries), never the rest or the program's mmaps
    const uint64_t rest = rss - (live0 + live1) - overhead - free_total - mmapped - anon_mmaps - file_rss;

    st::Result t = report({"--no-symbols", dump});
    INFO(t.out << t.err);
    REQUIRE(t.status == 0);
    CHECK(st::contains(line_with(t.out, "live heap"), human(live0 + live1)));
    CHECK(st::contains(line_with(t.out, "allocator overhead"), human(overhead)));
    CHECK(st::contains(line_with(t.out, "free in arenas"), human(free_total)));
    CHECK(st::contains(line_with(t.out, "in top chunks"), human(top0 + top1)));
    CHECK(st::contains(line_with(t.out, "glibc mmapped chunks"), human(mmapped)));
    CHECK(st::contains(line_with(t.out, "program's mmaps"), human(anon_mmaps)));
    CHECK(st::contains(line_with(t.out, "the rest"), human(rest)));
    CHECK(st::contains(line_with(t.out, "code, libraries, files"), human(file_rss)));
    char pct[32];
    snprintf(pct, sizeof pct, "%.1f%%", 100.0 * (double)(top0 + top1) / (double)rss);
    CHECK(st::contains(line_with(t.out, "in top chunks"), pct));

    st::Result j = report({"--json", "--no-symbols", dump});
    REQUIRE(j.status == 0);
    jt::Value v = jt::parse(j.out);
    const jt::Value &l = v["layers"];
    CHECK(l["rss"].num == rss);
    CHECK(l["live_heap"].num == live0 + live1);
    CHECK(l["allocator_overhead"].num == overhead);
    CHECK(l["free_bins"].num == bins);
    CHECK(l["free_fast"].num == fast);
    CHECK(l["free_top"].num == top0 + top1);
    CHECK(l["glibc_mmapped"].num == mmapped);
    CHECK(l["program_mmaps"].num == anon_mmaps);
    CHECK(l["rest"].num == rest);
    CHECK(l["files"].num == file_rss);
    const jt::Value &a1 = v["arenas"][1];
    CHECK(a1["id"].num == 1);
    CHECK(a1["live_bytes"].num == live1);
    CHECK(a1["free_bytes"].num == bins + 8 * MiB + fast + top1);
    CHECK(a1["resident_bytes"].num == live1 + bins + top1);
    CHECK(a1["threads"].num == 3);
    CHECK(a1["kind"].str == "thread");
}

TEST_CASE("arena, thread and cross-thread free tables carry the dump's numbers", "[report]")
{
    std::string dir = st::tempdir();
    std::string spec =
        "process pid=12 flags=1 rss_bytes=10M\n"
        "arena id=0 kind=0 live_bytes=1M live_count=10 threads_seen=1\n"
        "arena id=1 kind=1 live_bytes=3M live_count=30 threads_seen=2 attached_threads=2\n"
        "thread idx=0 tid=500 name=main allocs=111 frees=22 live_bytes=1M home_arena=0 flags=2\n"
        "thread idx=1 tid=501 name=producer allocs=3333 frees=44 alloc_bytes=3M home_arena=1\n"
        "thread idx=2 tid=502 name=consumer allocs=5 frees=3000 cross_frees=2990 cross_free_bytes=7M home_arena=1\n"
        "xfree freer_idx=2 alloc_idx=1 count=2990 bytes=7M\n"
        "xfree freer_idx=0 alloc_idx=1 count=3 bytes=300K\n";
    std::string dump = make_dump(dir, "threads", spec);
    st::Result t = report({"--no-symbols", dump});
    INFO(t.out);
    REQUIRE(t.status == 0);
    std::string producer = line_with(t.out, " producer ");
    CHECK(st::contains(producer, "501"));
    CHECK(st::contains(producer, "3333"));
    CHECK(st::contains(producer, "3.0 MiB"));
    std::string consumer = line_with(t.out, " consumer ");
    CHECK(st::contains(consumer, "2990"));
    CHECK(st::contains(consumer, "7.0 MiB"));
    CHECK(st::contains(t.out, "Cross-thread frees: 2993 frees, 7.3 MiB"));
    // The matrix row of the consumer has 7 MiB in the producer's column, main's has 300 KiB.
    std::string matrix = section(t.out, "Cross-thread frees");
    CHECK(st::contains(line_with(matrix, "  2 consumer"), "7.0 MiB"));
    CHECK(st::contains(line_with(matrix, "  0 main "), "300.0 KiB"));
    CHECK(st::contains(line_with(matrix, "freer \\ allocator"), "1 producer"));
    std::string arena1 = line_with(t.out, "     1 thread");
    CHECK(st::contains(arena1, "3.0 MiB"));
    CHECK(st::contains(arena1, " 30 "));

    jt::Value v = jt::parse(report({"--json", "--no-symbols", dump}).out);
    REQUIRE(v["xfree"].arr.size() == 2);
    CHECK(v["xfree"][0]["freer"].num == 2);
    CHECK(v["xfree"][0]["allocator"].num == 1);
    CHECK(v["xfree"][0]["bytes"].num == 7 * MiB);
    CHECK(v["threads"][2]["name"].str == "consumer");
    CHECK(v["threads"][2]["cross_frees"].num == 2990);
}

TEST_CASE("sessions: open and ended, with leftovers, in text and JSON", "[report]")
{
    std::string dir = st::tempdir();
    std::string spec =
        "process pid=13 flags=1 rss_bytes=400M live_bytes=100M\n"
        "session id=5 name=request-open live_bytes=2M live_count=20 peak_bytes=9M\n"
        "session id=6 name=request-done flags=1 live_bytes=40M live_count=4 peak_bytes=50M leftover_bytes=40M "
        "leftover_count=4\n"
        "session_summary folded_sessions=100 folded_leftover_bytes=1M ended_sessions_total=101 open_sessions=1\n"
        "session_site session_id=6 site_id=4 bytes=10M count=1\n"
        "session_site session_id=6 site_id=3 bytes=30M count=3\n"
        "session_site session_id=5 site_id=3 bytes=2M count=20\n"
        "site id=3 live_bytes=32M frames=0xabc\n";
    std::string dump = make_dump(dir, "sessions", spec);
    st::Result t = report({dump});
    INFO(t.out);
    REQUIRE(t.status == 0);
    std::string open = line_with(t.out, "request-open");
    CHECK(st::contains(open, "open"));
    CHECK(st::contains(open, "2.0 MiB"));
    CHECK(st::contains(open, "9.0 MiB"));
    std::string done = line_with(t.out, "request-done");
    CHECK(st::contains(done, "ended"));
    CHECK(st::contains(done, "40.0 MiB"));
    CHECK(st::contains(t.out, "101 ended in total (100 folded"));
    // Leftovers by site, largest first, only the ended session's.
    std::string by_site = section(t.out, "  leftovers of 'request-done' (session 6) by site:");
    CHECK(st::contains(line_with(by_site, "site      3"), "30.0 MiB        3 allocations  0xabc"));
    CHECK(by_site.find("site      3") < by_site.find("site      4"));
    CHECK_FALSE(st::contains(by_site, "2.0 MiB"));
    // 41 MiB left over out of 100 MiB live: the leftovers rule fires with its numbers.
    CHECK(st::contains(t.out, "101 ended sessions left 41.0 MiB live"));

    jt::Value v = jt::parse(report({"--json", "--no-symbols", dump}).out);
    REQUIRE(v["sessions"].arr.size() == 2);
    const jt::Value &s = v["sessions"][1];
    CHECK(s["id"].num == 6);
    CHECK(s["name"].str == "request-done");
    CHECK(s["live_bytes"].num == 40 * MiB);
    CHECK(s["live_count"].num == 4);
    CHECK(s["peak_bytes"].num == 50 * MiB);
    CHECK(s["ended"].boolean == true);
    CHECK(v["sessions"][0]["ended"].boolean == false);
    bool found = false;
    for (auto &a : v["advice"].arr) found |= a["id"].str == "session-leftovers" && a["bytes_at_stake"].num == 41 * MiB;
    CHECK(found);
}

TEST_CASE("advice fires only when both the bytes and the ratio are large", "[report][advice]")
{
    std::string dir = st::tempdir();
    // 15 thread arenas with 40.8 MiB top chunks each = 612 MiB of a 700 MiB RSS.
    const uint64_t top = 612 * MiB / 15;
    std::string spec = "process pid=14 flags=1 rss_bytes=700M\n";
    for (int i = 1; i <= 15; i++)
        spec += "arena id=" + std::to_string(i) + " kind=1 top_bytes=" + std::to_string(top) +
                " top_resident_bytes=" + std::to_string(top) + "\n";
    st::Result t = report({"--no-symbols", make_dump(dir, "tops", spec)});
    INFO(t.out);
    CHECK(st::contains(t.out, human(top * 15) + " free in 15 thread-arena top chunks"));
    CHECK(st::contains(t.out, "SESSTRIM_TRIM=idle"));
    // The MALLOC_ARENA_MAX rule: 15 arenas, suggests 3 thread arenas (+ main): saves 12/15 of it.
    CHECK(st::contains(t.out, "MALLOC_ARENA_MAX=4 would trade up to " + human(top * 15 * 12 / 15)));

    // Same ratio but only 5 MiB at stake: nothing.
    std::string small = "process pid=15 flags=1 rss_bytes=6M\n"
                        "arena id=1 kind=1 top_bytes=5M top_resident_bytes=5M\n";
    t = report({"--no-symbols", make_dump(dir, "small", small)});
    CHECK(st::contains(t.out, "Advice: none"));
    // 20 MiB at stake but in a 1 GiB process: ratio 1.02, nothing.
    std::string diluted = "process pid=16 flags=1 rss_bytes=1G\n"
                          "arena id=1 kind=1 top_bytes=20M top_resident_bytes=20M\n";
    t = report({"--no-symbols", make_dump(dir, "diluted", diluted)});
    CHECK(st::contains(t.out, "Advice: none"));
}

TEST_CASE("page occupancy: histogram, pinning sites and the advice line", "[report][advice]")
{
    std::string dir = st::tempdir();
    // 4 KiB pages: 5000 sparse pages (19.5 MiB) of 6100 resident: 82%.
    std::string spec = "process pid=17 flags=9 rss_bytes=30M page_size=4096\n"
                       "occupancy arena_id=1 page_size=4096 pages=200,5000,100,100,100,100,100,100,100,100,100\n"
                       "site id=42 live_bytes=1M live_count=5000 frames=0x1234\n"
                       "pin arena_id=1 site_id=42 pages=4000 bytes=800K\n"
                       "pin arena_id=1 site_id=43 pages=1000 bytes=200K\n";
    st::Result t = report({"--no-symbols", make_dump(dir, "occ", spec)});
    INFO(t.out);
    CHECK(st::contains(line_with(t.out, "  0-10%"), "5000 pages"));
    CHECK(st::contains(t.out, "page occupancy: 82% of resident heap pages (5000 of 6100, 19.5 MiB) hold < 10% live bytes"));
    CHECK(st::contains(t.out, "site #42 (4000 pages), site #43 (1000 pages)"));
    jt::Value v = jt::parse(report({"--json", "--no-symbols", make_dump(dir, "occ2", spec)}).out);
    CHECK(v["occupancy"]["buckets"][1].num == 5000);
    CHECK(v["occupancy"]["total_pages"].num == 200 + 5000 + 9 * 100);
    CHECK(v["occupancy"]["pins"][0]["site"].num == 42);
}

TEST_CASE("timeline and trims tables", "[report]")
{
    std::string dir = st::tempdir();
    std::string spec = "process pid=18 flags=1 rss_bytes=10M start_ns=1000000000\n";
    for (int i = 0; i < 100; i++)
        spec += "timeline time_ns=" + std::to_string(1000000000ull + i * 100000000ull) +
                " rss_bytes=" + std::to_string((i + 1) * MiB) + " live_bytes=" + std::to_string(MiB) +
                (i == 50 ? " event=1 event_arg=1" : "") + " resident=" + std::to_string(i * KiB) + "\n";
    spec += "trim seq=1 trigger=1 time_ns=6000000000 rss_before=51M rss_after=11M released_bytes=40M "
            "duration_ns=2500000 arenas_trimmed=3 arenas_skipped=1\n";
    st::Result t = report({"--no-symbols", make_dump(dir, "tl", spec)});
    INFO(t.out);
    CHECK(st::contains(t.out, "Timeline: 100 samples over 9.9 s"));
    std::string tl = section(t.out, "Timeline");
    CHECK(st::contains(line_with(tl, "  RSS "), "1.0 MiB -> 100.0 MiB"));
    // One trim event at sample 50 of 100, drawn in column 30 of 60.
    std::string events = line_with(tl, "  events");
    CHECK(events.find('T') == events.find("events") + 15 + 30);
    std::string trim = line_with(t.out, "idle");
    CHECK(st::contains(trim, "5.00"));
    CHECK(st::contains(trim, "51.0 MiB"));
    CHECK(st::contains(trim, "40.0 MiB"));
    CHECK(st::contains(trim, "2.50"));
    CHECK(st::contains(trim, "3/4"));
    jt::Value v = jt::parse(report({"--json", "--no-symbols", make_dump(dir, "tl2", spec)}).out);
    CHECK(v["timeline"].arr.size() == 100);
    CHECK(v["timeline"][50]["event"].str == "trim");
    CHECK(v["timeline"][99]["arena_resident"][0].num == 99 * KiB);
    CHECK(v["trims"][0]["released_bytes"].num == 40 * MiB);
}

TEST_CASE("a trim's newer figures: lock hold, tops, bins, shim tables, slices and flags in text, JSON, HTML", "[report]")
{
    std::string dir = st::tempdir();
    // Figures chosen so no two are alike; flags 0x5 = malloc_trim pass and an invalid free list.
    std::string spec = "process pid=19 flags=1 rss_bytes=10M start_ns=1000000000\n"
                       "trim seq=4 trigger=3 time_ns=3000000000 rss_before=90M rss_after=30M released_bytes=60M "
                       "duration_ns=7000000 arenas_trimmed=2 arenas_skipped=1 max_lock_hold_ns=1234000 "
                       "top_released_bytes=21M bin_released_bytes=37M slices=17 flags=5 shim_released_bytes=2M\n";
    std::string bin = make_dump(dir, "tr", spec);
    st::Result t = report({"--no-symbols", bin});
    INFO(t.out);
    std::string row = line_with(section(t.out, "Trims"), "every");
    CHECK(st::contains(row, "21.0 MiB"));
    CHECK(st::contains(row, "37.0 MiB"));
    CHECK(st::contains(row, "2.0 MiB"));
    CHECK(st::contains(row, "1.234"));
    CHECK(st::contains(row, " 17 "));
    CHECK(st::contains(row, "malloc_trim,free-list-invalid"));
    jt::Value v = jt::parse(report({"--json", "--no-symbols", bin}).out);
    const jt::Value &j = v["trims"][0];
    CHECK(j["trigger"].str == "every");
    CHECK(j["max_lock_hold_ns"].num == 1234000);
    CHECK(j["top_released_bytes"].num == 21 * MiB);
    CHECK(j["bin_released_bytes"].num == 37 * MiB);
    CHECK(j["shim_released_bytes"].num == 2 * MiB);
    CHECK(j["slices"].num == 17);
    CHECK(j["flags"].num == 5);
    REQUIRE(j["flag_names"].arr.size() == 2);
    CHECK(j["flag_names"][0].str == "malloc_trim");
    CHECK(j["flag_names"][1].str == "free-list-invalid");
    std::string html = html_page(bin);
    std::string hrow = html.substr(html.find("<tr class=\"trim\">"));
    hrow = hrow.substr(0, hrow.find("</tr>"));
    INFO(hrow);
    for (const char *want : {">every<", ">21.0 MiB<", ">37.0 MiB<", ">2.0 MiB<", ">1.234 ms<", ">17<",
                             ">malloc_trim, free-list-invalid<"})
        CHECK(st::contains(hrow, want));
}

TEST_CASE("a process family: one table, every process, JSON processes array", "[report]")
{
    std::string dir = st::tempdir();
    std::string parent = make_dump(dir, "p", "process pid=100 ppid=1 rss_bytes=10M live_bytes=1M exe=/bin/parent\n");
    std::string c1 = make_dump(dir, "c1", "process pid=101 ppid=100 rss_bytes=20M live_bytes=2M exe=/bin/server\n"
                                          "thread idx=0 name=server\nthread idx=1 name=worker\n");
    std::string c2 = make_dump(dir, "c2", "process pid=102 ppid=100 rss_bytes=30M live_bytes=3M exe=/bin/server\n");
    // Given child first: the report still puts the parent first, its children under it.
    st::Result t = report({"--no-symbols", c1, parent, c2});
    INFO(t.out);
    REQUIRE(t.status == 0);
    CHECK(st::contains(t.out, "Process family: 3 processes, RSS 60.0 MiB in total (shared memory counted once; "
                              "60.0 MiB summed), live heap 6.0 MiB"));
    std::string row = line_with(t.out, "     101      100");
    CHECK(st::contains(row, "`-server"));
    CHECK(st::contains(row, "20.0 MiB"));
    CHECK(st::contains(t.out, "==== pid 102 ===="));
    CHECK(t.out.find("     100        1") < t.out.find("     101      100"));
    jt::Value v = jt::parse(report({"--json", "--no-symbols", c2, c1, parent}).out);
    REQUIRE(v["processes"].arr.size() == 3);
    CHECK_FALSE(v.has("process"));  // a family: each process once, in "processes"
    CHECK(v["processes"][0]["process"]["pid"].num == 100);
    CHECK(v["processes"][1]["process"]["pid"].num == 102);  // children keep the given order
    CHECK(v["processes"][2]["process"]["pid"].num == 101);
    CHECK(v["processes"][2]["threads"].arr.size() == 2);
    CHECK(v["family"]["rss_bytes"].num == 60 * MiB);
}

TEST_CASE("Python frames are named from PYFRAME records in text, JSON, HTML and diff; a bad one is refused", "[report]")
{
    std::string dir = st::tempdir();
    // Two Python frames (ids 2 and 1) in front of a C frame, as the shim writes them.
    std::string spec = "process pid=21 live_bytes=10M live_count=10\n"
                       "site id=1 live_bytes=3M live_count=3 frames=0xFFFE000000000002,0xFFFE000000000001,0x401000\n"
                       "pyframe id=1 line=40 file=/srv/app/main.py func=serve\n"
                       "pyframe id=2 line=7 file=/srv/app/cache.py func=fill_cache\n";
    std::string bin = make_dump(dir, "py", spec);
    st::Result t = report({"--no-symbols", bin});
    INFO(t.out);
    REQUIRE(t.status == 0);
    CHECK(st::contains(t.out, "fill_cache (/srv/app/cache.py:7)"));
    CHECK(st::contains(t.out, "serve (/srv/app/main.py:40)"));
    CHECK(!st::contains(t.out, "0xfffe"));
    CHECK(!st::contains(t.out, "unknown type"));
    jt::Value v = jt::parse(report({"--json", "--no-symbols", bin}).out);
    const jt::Value &fr = v["sites"][0]["frames"];
    CHECK(fr[0]["where"].str == "fill_cache (/srv/app/cache.py:7)");
    CHECK(fr[0]["python"].boolean);
    CHECK(fr[0]["function"].str == "fill_cache");
    CHECK(fr[0]["file"].str == "/srv/app/cache.py");
    CHECK(fr[0]["line"].num == 7);
    CHECK(fr[1]["function"].str == "serve");
    CHECK(!fr[2].has("python"));
    std::string html = html_page(bin);
    CHECK(st::contains(html, "fill_cache (/srv/app/cache.py:7)<br>serve (/srv/app/main.py:40)"));
    // The diff keys a Python frame by its location, not by the run's ids: the same
    // location under other ids in the newer dump is the same site.
    std::string newer = make_dump(dir, "py2", "process pid=21 live_bytes=10M live_count=10\n"
                       "site id=1 live_bytes=5M live_count=5 frames=0xFFFE000000000001,0xFFFE000000000002,0x401000\n"
                       "pyframe id=2 line=40 file=/srv/app/main.py func=serve\n"
                       "pyframe id=1 line=7 file=/srv/app/cache.py func=fill_cache\n");
    st::Result diff = report({"--diff", "--no-symbols", bin, newer});
    INFO(diff.out);
    REQUIRE(diff.status == 0);
    CHECK(st::contains(line_with(diff.out, "fill_cache (/srv/app/cache.py:7)"), "+2.0 MiB"));
    // A location whose lengths overrun its record, or id 0: refused like any corrupt record.
    for (const char *bad : {"pyframe id=3 line=1 file=a.py func=f file_len=500\n",
                            "pyframe id=0 line=1 file=a.py func=f\n"}) {
        st::Result r = report({make_dump(dir, "bad", "process pid=21\n" + std::string(bad))});
        INFO(bad << r.err);
        CHECK(r.status == 2);
        CHECK(st::contains(r.err, "record PYFRAME at byte "));
        CHECK(st::contains(r.err, "(corrupt)"));
    }
}

TEST_CASE("JSON strings from the dump are escaped and valid UTF-8", "[report][json]")
{
    std::string dir = st::tempdir();
    std::string spec = "process pid=19 exe=\"/bin/a b\\\\c\" cmdline=\"say \\\"hi\\\"\"\n"
                       "session id=1 name=\"caf\xc3\xa9 \xff\xfe tab\tq\\\"\"\n"
                       "thread idx=0 name=0123456789abcdefXYZ\n";  // fills name[16] without NUL
    std::string dump = make_dump(dir, "esc", spec);
    st::Result j = report({"--json", "--no-symbols", dump});
    REQUIRE(j.status == 0);
    jt::Value v = jt::parse(j.out);  // throws on invalid JSON
    CHECK(v["session_summary"].type == jt::Value::Null);
    std::string name = v["sessions"][0]["name"].str;
    CHECK(st::contains(name, "caf\xc3\xa9"));
    CHECK(st::contains(name, "\xef\xbf\xbd"));  // U+FFFD for the invalid bytes
    CHECK(st::contains(name, "\t"));
    CHECK(v["threads"][0]["name"].str == "0123456789abcde");  // forced NUL at byte 16
}

TEST_CASE("command line: help, version, usage errors and load errors", "[report][cli]")
{
    CHECK(report({"--help"}).status == 0);
    st::Result v = report({"--version"});
    CHECK(v.status == 0);
    CHECK(st::contains(v.out, "dump format 1"));
    for (auto args : std::vector<std::vector<std::string>>{{}, {"--bogus"}, {"--top"}, {"--top", "0", "x"},
                                                           {"--top", "12abc", "x"}, {"--diff", "a"}}) {
        st::Result r = report(args);
        CHECK(r.status == 1);
        CHECK(st::contains(r.err, "sesstrim-report: "));
    }
    std::string dir = st::tempdir();
    std::string good = make_dump(dir, "g", "process pid=20\n");
    std::string bad = make_dump(dir, "b", "process pid=21\n", {"--truncate", "100"});
    st::Result r = report({good, bad});
    CHECK(r.status == 2);
    CHECK(r.out.empty());
    // the PROCESS record: its header and its struct padded to 8 bytes
    size_t need = sizeof(st_record_header) + ((sizeof(st_rec_process) + 7) & ~size_t(7));
    CHECK(r.err == "sesstrim-report: " + bad + ": truncated at byte 100 (record at byte 24 needs " +
                       std::to_string(need) + " bytes, no END record)\n");
}

TEST_CASE("process flags and the rules for untracked frees and cross-thread frees", "[report][advice]")
{
    std::string dir = st::tempdir();
    st::Result t = report({"--no-symbols", make_dump(dir, "foreign",
                           "process pid=30 flags=2 total_frees=90000 untracked_frees=10000 rss_bytes=10M\n")});
    INFO(t.out);
    CHECK(st::contains(t.out, "arena logic off: malloc is not glibc's"));
    CHECK(st::contains(t.out, "10000 frees (10.0% of all) of pointers the shim never saw"));
    t = report({"--no-symbols", make_dump(dir, "unverified", "process pid=31 flags=4 glibc_version=2.99\n")});
    CHECK(st::contains(t.out, "arena logic off: glibc 2.99 is outside the verified range"));
    t = report({"--no-symbols", make_dump(dir, "fork", "process pid=32 flags=17 total_frees=100 untracked_frees=5\n")});
    CHECK(st::contains(t.out, "forked child"));
    CHECK_FALSE(st::contains(t.out, "never saw"));  // 5 of 105: below both thresholds

    // 60 MiB of 80 MiB freed bytes crossed threads: producer/consumer.
    std::string spec = "process pid=33 flags=1 rss_bytes=200M\n"
                       "thread idx=1 name=producer freed_bytes=20M\n"
                       "thread idx=2 name=consumer freed_bytes=60M cross_free_bytes=60M\n"
                       "xfree freer_idx=2 alloc_idx=1 count=600 bytes=60M\n";
    t = report({"--no-symbols", make_dump(dir, "xfree", spec)});
    CHECK(st::contains(t.out, "60.0 MiB (75% of freed bytes, 600 frees) freed by another thread"));
    CHECK(st::contains(t.out, "thread 2 'consumer' frees 60.0 MiB allocated by thread 1 'producer'"));
}

TEST_CASE("timeline halves tell linear growth from a plateau", "[report]")
{
    std::string dir = st::tempdir();
    std::string grow = "process pid=34\n", flat = "process pid=35\n";
    for (int i = 0; i <= 10; i++) {
        grow += "timeline time_ns=" + std::to_string(i) + " live_bytes=" + std::to_string(i * 10 * MiB) + "\n";
        flat += "timeline time_ns=" + std::to_string(i) + " live_bytes=" + std::to_string((i < 5 ? i : 5) * 10 * MiB) + "\n";
    }
    st::Result g = report({"--no-symbols", make_dump(dir, "grow", grow)});
    st::Result f = report({"--no-symbols", make_dump(dir, "flat", flat)});
    CHECK(st::contains(g.out, "live heap 0 B -> 50.0 MiB in the first half, -> 100.0 MiB in the second"));
    CHECK(st::contains(f.out, "live heap 0 B -> 50.0 MiB in the first half, -> 50.0 MiB in the second"));
}

TEST_CASE("--top N limits the top tables, largest first", "[report][cli]")
{
    std::string dir = st::tempdir();
    std::string spec = "process pid=40 flags=8 live_bytes=100M\n";
    for (int i = 1; i <= 12; i++)
        spec += "site id=" + std::to_string(i) + " live_bytes=" + std::to_string(i * MiB) + " frames=" +
                std::to_string(0x1000 * i) + "\n";
    std::string dump = make_dump(dir, "top", spec);
    std::string sites = section(report({"--no-symbols", "--top", "3", dump}).out, "Top sites");
    INFO(sites);
    CHECK(st::contains(sites, "12.0 MiB"));
    CHECK(st::contains(sites, "10.0 MiB"));
    CHECK_FALSE(st::contains(sites, " 9.0 MiB"));
    CHECK(sites.find("12.0 MiB") < sites.find("11.0 MiB"));
    std::string all = section(report({"--no-symbols", dump}).out, "Top sites");
    CHECK(st::contains(all, " 3.0 MiB"));  // default 10 rows
    CHECK_FALSE(st::contains(all, " 2.0 MiB"));
}
