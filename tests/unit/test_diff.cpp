// test_diff.cpp: `--diff OLD NEW` on dumps built in memory: rows are matched by session name,
// by module-relative frames (across ASLR), by arena id and thread name, and sorted by growth.
#include "testutil.hpp"
#include <cstdio>
#include <deque>
#include "report.h"

namespace {

const uint64_t MiB = 1024 * 1024;

// An st_dump whose arrays live in vectors owned by the builder.
struct Built {
    st_dump d{};
    std::vector<st_rec_session> sessions;
    std::vector<st_rec_arena> arenas;
    std::vector<st_rec_thread> threads;
    std::vector<st_dump_module> modules;
    std::vector<st_dump_site> sites;
    std::deque<std::vector<uint64_t>> frames;

    Built(uint32_t pid, const char *exe)
    {
        d.process.pid = pid;
        snprintf(d.process.exe, sizeof d.process.exe, "%s", exe);
        snprintf(d.path, sizeof d.path, "dump-%u.bin", pid);
    }
    void session(const char *name, uint64_t live, uint64_t count)
    {
        st_rec_session s{};
        s.id = sessions.size() + 1;
        s.live_bytes = live;
        s.live_count = count;
        snprintf(s.name, sizeof s.name, "%s", name);
        sessions.push_back(s);
    }
    void arena(uint32_t id, uint64_t live, uint64_t resident)
    {
        st_rec_arena a{};
        a.id = id;
        a.kind = id == 0 ? ST_ARENA_MAIN : ST_ARENA_THREAD;
        a.live_bytes = live;
        a.live_chunk_bytes = live;
        a.resident_bytes = resident;
        arenas.push_back(a);
    }
    void thread(const char *name, uint64_t live)
    {
        st_rec_thread t{};
        t.idx = (uint32_t)threads.size();
        t.live_bytes = live;
        snprintf(t.name, sizeof t.name, "%s", name);
        threads.push_back(t);
    }
    void module(const char *path, uint64_t base)
    {
        st_dump_module m{};
        m.m.base = base;
        m.m.size = 0x100000;
        snprintf(m.path, sizeof m.path, "%s", path);
        modules.push_back(m);
    }
    void site(uint32_t id, std::vector<uint64_t> f, uint64_t live)
    {
        frames.push_back(std::move(f));
        st_dump_site s{};
        s.s.id = id;
        s.s.nframes = (uint32_t)frames.back().size();
        s.s.live_bytes = live;
        s.frames = frames.back().data();
        sites.push_back(s);
    }
    st_dump *finish()
    {
        d.sessions = sessions.data(); d.n_sessions = sessions.size();
        d.arenas = arenas.data(); d.n_arenas = arenas.size();
        d.threads = threads.data(); d.n_threads = threads.size();
        d.modules = modules.data(); d.n_modules = modules.size();
        d.sites = sites.data(); d.n_sites = sites.size();
        uint64_t live = 0;
        for (auto &a : arenas) live += a.live_bytes;
        d.process.live_bytes = live;
        d.process.live_chunk_bytes = live;
        d.process.rss_bytes = live + 10 * MiB;
        return &d;
    }
};

std::string run_diff(st_dump *a, st_dump *b, bool json)
{
    char *buf = nullptr;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    REQUIRE(f != nullptr);
    st_report_opts o{};
    o.top_n = 10;
    o.symbolize = false;
    int rc = report_diff(f, a, b, json, &o);
    fclose(f);
    std::string s(buf, len);
    free(buf);
    REQUIRE(rc == 0);
    return s;
}

// The JSON on one line: the writer puts each member on its own indented line (strings never
// hold a raw newline, so dropping newlines and the indentation after them is safe).
std::string compact(const std::string &json)
{
    std::string out;
    for (size_t i = 0; i < json.size(); i++) {
        if (json[i] != '\n') { out += json[i]; continue; }
        while (i + 1 < json.size() && json[i + 1] == ' ') i++;
    }
    return out;
}

// The JSON object of one row: the object around `"<key_name>": <key>` in that section.
std::string json_row(const std::string &json_in, const std::string &section, const std::string &anchor)
{
    std::string json = compact(json_in);
    size_t sec = json.find("\"" + section + "\": [");
    REQUIRE(sec != std::string::npos);
    size_t at = json.find(anchor, sec);
    REQUIRE(at != std::string::npos);
    size_t open = json.rfind('{', at);
    int depth = 0;
    bool in_str = false;
    size_t end = open;
    for (; end < json.size(); end++) {
        char c = json[end];
        if (in_str) { if (c == '\\') end++; else if (c == '"') in_str = false; continue; }
        if (c == '"') in_str = true;
        else if (c == '{') depth++;
        else if (c == '}' && --depth == 0) break;
    }
    return json.substr(open, end + 1 - open);
}

// A number after `"side": {` ... `"field": ` inside one row.
int64_t json_num(const std::string &row, const std::string &side, const std::string &field)
{
    size_t s = row.find("\"" + side + "\": {");
    REQUIRE(s != std::string::npos);
    size_t f = row.find("\"" + field + "\": ", s);
    REQUIRE(f != std::string::npos);
    return std::stoll(row.substr(f + field.size() + 4));
}

std::string json_status(const std::string &row)
{
    size_t s = row.find("\"status\": \"");
    REQUIRE(s != std::string::npos);
    s += 11;
    return row.substr(s, row.find('"', s) - s);
}

} // namespace

TEST_CASE("sessions are matched by name, summed when a name repeats, and sorted by growth")
{
    Built o(10, "/bin/app"), n(11, "/bin/app");
    o.session("alpha", 1 * MiB, 10);
    o.session("beta", 4 * MiB, 40);
    o.session("beta", 1 * MiB, 5);
    o.session("gone", 3 * MiB, 3);
    n.session("alpha", 9 * MiB, 90);
    n.session("beta", 6 * MiB, 60);
    n.session("fresh", 2 * MiB, 2);
    st_dump *a = o.finish(), *b = n.finish();

    std::string json = run_diff(a, b, true);
    std::string alpha = json_row(json, "sessions", "\"name\": \"alpha\"");
    CHECK(json_num(alpha, "delta", "live_bytes") == int64_t(8 * MiB));
    CHECK(json_num(alpha, "new", "live_count") == 90);
    std::string beta = json_row(json, "sessions", "\"name\": \"beta\"");
    CHECK(json_num(beta, "old", "live_bytes") == int64_t(5 * MiB));
    CHECK(json_num(beta, "old", "sessions") == 2);
    CHECK(json_num(beta, "delta", "live_bytes") == int64_t(1 * MiB));
    CHECK(json_status(json_row(json, "sessions", "\"name\": \"fresh\"")) == "new");
    std::string gone = json_row(json, "sessions", "\"name\": \"gone\"");
    CHECK(json_status(gone) == "gone");
    CHECK(json_num(gone, "delta", "live_bytes") == -int64_t(3 * MiB));

    // text: the biggest growth comes first, then smaller growth; shrinks after
    std::string text = run_diff(a, b, false);
    size_t sec = text.find("sessions by name");
    REQUIRE(sec != std::string::npos);
    size_t pa = text.find("alpha", sec), pf = text.find("fresh", sec), pb = text.find("beta", sec),
           pg = text.find("gone", sec);
    REQUIRE(pa != std::string::npos);
    REQUIRE(pf != std::string::npos);
    REQUIRE(pb != std::string::npos);
    REQUIRE(pg != std::string::npos);
    CHECK(pa < pf);
    CHECK(pf < pb);
    CHECK(pb < pg);
    CHECK(st::contains(text, "+8.0 MiB"));
}

TEST_CASE("sites are matched by module-relative frames, whatever the load address")
{
    Built o(20, "/bin/app"), n(21, "/bin/app");
    const uint64_t base_old = 0x555500000000, base_new = 0x561200000000;   // ASLR moved it
    o.module("/bin/app", base_old);
    n.module("/bin/app", base_new);
    o.site(1, {base_old + 0x1234, base_old + 0x5678}, 2 * MiB);
    o.site(2, {base_old + 0x2000, base_old + 0x5678}, 7 * MiB);
    n.site(9, {base_new + 0x1234, base_new + 0x5678}, 5 * MiB);   // same stack, other id
    n.site(3, {0x7fff00001000}, 1 * MiB);                         // outside any module
    st_dump *a = o.finish(), *b = n.finish();

    std::string json = run_diff(a, b, true);
    std::string same = json_row(json, "sites", "\"frames\": \"/bin/app+0x1234;/bin/app+0x5678\"");
    CHECK(json_status(same) == "grew");
    CHECK(json_num(same, "old", "live_bytes") == int64_t(2 * MiB));
    CHECK(json_num(same, "delta", "live_bytes") == int64_t(3 * MiB));
    CHECK(json_status(json_row(json, "sites", "\"frames\": \"/bin/app+0x2000;/bin/app+0x5678\"")) == "gone");
    CHECK(json_status(json_row(json, "sites", "\"frames\": \"0x7fff00001000\"")) == "new");
    // exactly three site rows: the moved stack was not split into a "new" and a "gone"
    size_t sec = json.find("\"sites\": ["), end = json.find("]", sec), rows = 0;
    for (size_t p = json.find("\"frames\"", sec); p != std::string::npos && p < end; p = json.find("\"frames\"", p + 1))
        rows++;
    CHECK(rows == 3);
}

TEST_CASE("arenas by id, threads by name, layers and RSS follow the inputs")
{
    Built o(30, "/bin/app"), n(31, "/bin/app");
    o.arena(0, 10 * MiB, 12 * MiB);
    o.arena(1, 20 * MiB, 30 * MiB);
    n.arena(0, 11 * MiB, 12 * MiB);
    n.arena(1, 60 * MiB, 90 * MiB);
    n.arena(2, 5 * MiB, 6 * MiB);
    o.thread("worker", 1 * MiB);
    o.thread("worker", 1 * MiB);
    n.thread("worker", 3 * MiB);
    n.thread("worker", 4 * MiB);
    n.thread("main", 1 * MiB);
    st_dump *a = o.finish(), *b = n.finish();

    std::string json = run_diff(a, b, true);
    std::string a1 = json_row(json, "arenas", "\"id\": 1,");
    CHECK(json_num(a1, "delta", "resident_bytes") == int64_t(60 * MiB));
    CHECK(json_num(a1, "delta", "live_bytes") == int64_t(40 * MiB));
    CHECK(json_status(json_row(json, "arenas", "\"id\": 2,")) == "new");
    CHECK(json_status(json_row(json, "arenas", "\"id\": 0,")) == "same");   // resident unchanged

    std::string w = json_row(json, "threads", "\"name\": \"worker\"");
    CHECK(json_num(w, "old", "threads") == 2);
    CHECK(json_num(w, "delta", "live_bytes") == int64_t(5 * MiB));

    std::string live = json_row(json, "layers", "\"name\": \"live_heap\"");
    CHECK(json_num(live, "delta", "bytes") == int64_t(b->process.live_bytes - a->process.live_bytes));
    size_t rss = json.find("\"rss\": {");
    REQUIRE(rss != std::string::npos);
    CHECK(std::stoll(json.substr(json.find("\"delta\": ", rss) + 9)) ==
          int64_t(b->process.rss_bytes - a->process.rss_bytes));

    // arena 1 grew most, so it leads its text section
    std::string text = run_diff(a, b, false);
    size_t sec = text.find("arenas by id");
    REQUIRE(sec != std::string::npos);
    size_t first_row = text.find('\n', sec) + 1;
    CHECK(text.substr(first_row, text.find('\n', first_row) - first_row).find("  1") != std::string::npos);
    CHECK(st::contains(text, "+60.0 MiB"));
}

TEST_CASE("dumps of different programs are compared with a warning")
{
    Built o(40, "/bin/one"), n(41, "/bin/two");
    o.session("s", 1 * MiB, 1);
    n.session("s", 2 * MiB, 1);
    st_dump *a = o.finish(), *b = n.finish();
    CHECK(st::contains(run_diff(a, b, false), "warning: different programs"));
    CHECK(st::contains(run_diff(a, b, true), "\"same_program\": false"));
}

TEST_CASE("names are escaped in the JSON diff")
{
    Built o(50, "/bin/app"), n(51, "/bin/app");
    o.session("say \"hi\"\\now", 1 * MiB, 1);
    n.session("say \"hi\"\\now", 3 * MiB, 1);
    st_dump *a = o.finish(), *b = n.finish();
    std::string json = run_diff(a, b, true);
    std::string row = json_row(json, "sessions", "\"name\": \"say \\\"hi\\\"\\\\now\"");
    CHECK(json_num(row, "delta", "live_bytes") == int64_t(2 * MiB));
}
