// test_html.cpp: the HTML page's structure follows the dump: one bar per arena with its
// released bytes, one point per timeline record, one histogram per occupancy record, escaping.
#include "testutil.hpp"
#include <cstdio>
#include <deque>
#include <fstream>
#include <sstream>
#include "report.h"
#include "report_html.h"

namespace {

const uint64_t MiB = 1024 * 1024;

struct Built {
    st_dump d{};
    std::vector<st_rec_arena> arenas;
    std::vector<st_rec_trim> trims;
    std::vector<st_rec_trim_arena> trim_arenas;
    std::vector<st_dump_timeline> timeline;
    std::deque<std::vector<uint64_t>> resident;
    std::vector<st_rec_occupancy> occupancy;
    std::vector<st_rec_session> sessions;
    std::vector<st_rec_thread> threads;

    Built(uint32_t pid, uint32_t ppid)
    {
        d.process.pid = pid;
        d.process.ppid = ppid;
        d.process.rss_bytes = 100 * MiB;
        d.process.start_ns = 1000000000ull;
        d.process.time_ns = 9000000000ull;
        snprintf(d.process.exe, sizeof d.process.exe, "/usr/bin/app-%u", pid);
        snprintf(d.path, sizeof d.path, "/tmp/dump-%u.bin", pid);
    }
    void arena(uint32_t id, uint64_t live, uint64_t free_top)
    {
        st_rec_arena a{};
        a.id = id;
        a.kind = id ? ST_ARENA_THREAD : ST_ARENA_MAIN;
        a.live_bytes = a.live_chunk_bytes = live;
        a.top_bytes = free_top;
        a.top_resident_bytes = free_top / 2;   // half already released by an earlier trim
        a.free_bin_bytes = 3 * free_top;
        a.resident_bytes = live + free_top;
        arenas.push_back(a);
    }
    void trim(uint32_t seq, std::vector<std::pair<uint32_t, uint64_t>> per_arena)
    {
        st_rec_trim t{};
        t.seq = seq;
        t.trigger = ST_TRIG_IDLE;
        t.time_ns = d.process.start_ns + seq * 1000000000ull;
        for (auto &pa : per_arena) {
            t.released_bytes += pa.second;
            trim_arenas.push_back(st_rec_trim_arena{seq, pa.first, pa.second, 1000});
        }
        trims.push_back(t);
    }
    void sample(uint64_t t_ms, uint64_t rss, uint64_t live, uint32_t event, std::vector<uint64_t> per_arena)
    {
        resident.push_back(std::move(per_arena));
        st_dump_timeline p{};
        p.t.time_ns = d.process.start_ns + t_ms * 1000000ull;
        p.t.rss_bytes = rss;
        p.t.live_bytes = live;
        p.t.heap_resident_bytes = live;
        p.t.event = event;
        p.t.narenas = (uint32_t)resident.back().size();
        p.arena_resident = resident.back().data();
        timeline.push_back(p);
    }
    void occ(uint32_t arena_id, uint64_t seed)
    {
        st_rec_occupancy o{};
        o.arena_id = arena_id;
        o.page_size = 4096;
        for (int b = 0; b < ST_OCC_BUCKETS; b++) o.pages[b] = (seed * (b + 3)) % 41 + 1;
        occupancy.push_back(o);
    }
    st_dump *finish()
    {
        d.arenas = arenas.data(); d.n_arenas = arenas.size();
        d.trims = trims.data(); d.n_trims = trims.size();
        d.trim_arenas = trim_arenas.data(); d.n_trim_arenas = trim_arenas.size();
        d.timeline = timeline.data(); d.n_timeline = timeline.size();
        d.occupancy = occupancy.data(); d.n_occupancy = occupancy.size();
        d.sessions = sessions.data(); d.n_sessions = sessions.size();
        d.threads = threads.data(); d.n_threads = threads.size();
        return &d;
    }
};

std::string render(std::vector<st_dump> &dumps)
{
    std::string dir = st::tempdir(), path = dir + "/report.html";
    st_report_opts o{};
    o.top_n = 10;
    REQUIRE(report_html(path.c_str(), dumps.data(), dumps.size(), &o) == 0);
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    unlink(path.c_str());
    rmdir(dir.c_str());
    return ss.str();
}

size_t count(const std::string &hay, const std::string &needle)
{
    size_t n = 0;
    for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) n++;
    return n;
}

// The value of attribute `attr` in the first element after `anchor`.
std::string attr_after(const std::string &html, const std::string &anchor, const std::string &attr)
{
    size_t a = html.find(anchor);
    REQUIRE(a != std::string::npos);
    size_t p = html.find(attr + "=\"", a);
    REQUIRE(p != std::string::npos);
    p += attr.size() + 2;
    return html.substr(p, html.find('"', p) - p);
}

} // namespace

TEST_CASE("arena bars carry live, free and the bytes trims released from each arena")
{
    Built b(100, 1);
    b.arena(0, 8 * MiB, 1 * MiB);
    b.arena(1, 16 * MiB, 3 * MiB);
    b.arena(2, 4 * MiB, 7 * MiB);
    b.trim(1, {{1, 2 * MiB}, {2, 5 * MiB}});
    b.trim(2, {{2, 1 * MiB}});
    std::vector<st_dump> dumps{*b.finish()};
    std::string html = render(dumps);

    CHECK(count(html, "class=\"arena-bar\"") == b.arenas.size());
    for (auto &a : b.arenas) {
        uint64_t released = 0;
        for (auto &ta : b.trim_arenas) if (ta.arena_id == a.id) released += ta.released_bytes;
        std::string anchor = "class=\"arena-bar\" data-arena-id=\"" + std::to_string(a.id) + "\"";
        CHECK(attr_after(html, anchor, "data-live") == std::to_string(a.live_chunk_bytes));
        CHECK(attr_after(html, anchor, "data-free") == std::to_string(arena_free_resident(&a)));
        CHECK(attr_after(html, anchor, "data-free-total") == std::to_string(arena_free_bytes(&a)));
        CHECK(attr_after(html, anchor, "data-released") == std::to_string(released));
    }
    CHECK(count(html, "<tr class=\"trim\">") == b.trims.size());
}

TEST_CASE("timeline: one point per record, series per arena, a marker per event")
{
    Built b(200, 1);
    b.arena(0, 1 * MiB, 0);
    size_t events = 0;
    for (uint64_t i = 0; i < 37; i++) {
        uint32_t ev = i % 9 == 4 ? ST_EV_TRIM : i % 5 == 2 ? ST_EV_SESSION_END : ST_EV_SAMPLE;
        if (ev != ST_EV_SAMPLE) events++;
        b.sample(i * 250, (50 + i) * MiB, (10 + i) * MiB, ev, {i * MiB, 2 * i * MiB, 3 * MiB});
    }
    std::vector<st_dump> dumps{*b.finish()};
    std::string html = render(dumps);

    CHECK(count(html, "class=\"tl-point\"") == b.timeline.size());
    CHECK(count(html, "class=\"series series-arena\"") == 3);
    CHECK(count(html, "class=\"event event-") == events);
    CHECK(attr_after(html, "data-i=\"36\"", "data-rss") == std::to_string(b.timeline[36].t.rss_bytes));
    CHECK(attr_after(html, "class=\"chart timeline\"", "data-records") == std::to_string(b.timeline.size()));
}

TEST_CASE("a very long timeline keeps its lines but drops the point markers")
{
    Built b(210, 1);
    for (uint64_t i = 0; i < HTML_MAX_TIMELINE_POINTS + 10; i++) b.sample(i, (i % 50) * MiB, MiB, ST_EV_SAMPLE, {});
    std::vector<st_dump> dumps{*b.finish()};
    std::string html = render(dumps);
    CHECK(count(html, "class=\"tl-point\"") == 0);
    CHECK(count(html, "class=\"series series-rss\"") == 1);
    CHECK(st::contains(html, "point markers omitted"));
}

TEST_CASE("occupancy: one histogram of eleven buckets per arena record")
{
    Built b(300, 1);
    for (uint32_t a = 0; a < 5; a++) b.occ(a, 7 + a * 13);
    std::vector<st_dump> dumps{*b.finish()};
    std::string html = render(dumps);
    CHECK(count(html, "class=\"chart occupancy\"") == b.occupancy.size());
    CHECK(count(html, "class=\"occ-bar\"") == b.occupancy.size() * ST_OCC_BUCKETS);
    for (auto &o : b.occupancy)
        for (int k = 0; k < ST_OCC_BUCKETS; k++) {
            std::string anchor = "class=\"chart occupancy\" data-arena-id=\"" + std::to_string(o.arena_id) + "\"";
            size_t at = html.find(anchor);
            REQUIRE(at != std::string::npos);
            std::string sub = html.substr(at);
            CHECK(attr_after(sub, "data-bucket=\"" + std::to_string(k) + "\"", "data-pages") ==
                  std::to_string(o.pages[k]));
        }
}

TEST_CASE("a process family gets one section per process and a parent-first table")
{
    Built parent(1000, 1), c1(1001, 1000), c2(1002, 1000);
    std::vector<st_dump> dumps{*c2.finish(), *parent.finish(), *c1.finish()};   // any order on the command line
    REQUIRE(model_family_order(dumps.data(), dumps.size()) == 0);  // the model orders (main does this)
    std::string html = render(dumps);
    CHECK(count(html, "<section class=\"process\"") == 3);
    CHECK(count(html, "<tr class=\"family-row\"") == 3);
    CHECK(count(html, "class=\"proc-bar\"") == 3);
    size_t p = html.find("family-row\" data-pid=\"1000\""), k1 = html.find("family-row\" data-pid=\"1001\""),
           k2 = html.find("family-row\" data-pid=\"1002\"");
    REQUIRE(p != std::string::npos);
    REQUIRE(k1 != std::string::npos);
    REQUIRE(k2 != std::string::npos);
    CHECK(p < k1);
    CHECK(p < k2);
    CHECK(k2 < k1);  // siblings keep the given order, as in the text and JSON reports
    CHECK(attr_after(html, "family-row\" data-pid=\"1002\"", "data-ppid") == "1000");
}

TEST_CASE("the page is self-contained and escapes what the dump says")
{
    Built b(400, 1);
    st_rec_session s{};
    s.id = 1;
    s.live_bytes = 5 * MiB;
    snprintf(s.name, sizeof s.name, "<img src=x onerror=alert(1)>&");
    b.sessions.push_back(s);
    st_rec_thread t{};
    snprintf(t.name, sizeof t.name, "<b>\"th\"</b>");
    b.threads.push_back(t);
    snprintf(b.d.process.cmdline, sizeof b.d.process.cmdline, "app --x='<script>'");
    std::vector<st_dump> dumps{*b.finish()};
    std::string html = render(dumps);
    CHECK_FALSE(st::contains(html, "<img"));
    CHECK_FALSE(st::contains(html, "<script"));
    CHECK_FALSE(st::contains(html, "<b>\""));
    CHECK(st::contains(html, "&lt;img src=x onerror=alert(1)&gt;&amp;"));
    CHECK_FALSE(st::contains(html, "http://"));
    CHECK_FALSE(st::contains(html, "https://"));
    CHECK_FALSE(st::contains(html, "<link"));
    CHECK(st::contains(html, "No timeline in this dump"));
}

TEST_CASE("an unwritable path is one error line and status 2")
{
    Built b(500, 1);
    std::vector<st_dump> dumps{*b.finish()};
    st_report_opts o{};
    CHECK(report_html("/nonexistent-dir/x/report.html", dumps.data(), dumps.size(), &o) == 2);
}
