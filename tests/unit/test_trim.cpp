// test_trim.cpp: each SESSTRIM_TRIM policy fires when, and only when, its condition holds;
// bad policy text warns per token; the trimmer thread exists only when needed.
#include "testutil.hpp"

#include <set>
#include <sstream>

namespace {

struct TrimCounts {
    size_t total = 0;
    std::map<uint32_t, size_t> by_trigger;
    size_t of(uint32_t trig) const { auto it = by_trigger.find(trig); return it == by_trigger.end() ? 0 : it->second; }
};

TrimCounts counts(const std::string &path)
{
    st::Dump d(path);
    INFO("dump " << path << ": " << d.error);
    REQUIRE(d.ok);
    TrimCounts c;
    for (size_t i = 0; i < d.d.n_trims; i++) {
        c.total++;
        c.by_trigger[d.d.trims[i].trigger]++;
    }
    return c;
}

st::Result run_policy(const std::string &mode, const std::string &dir, const std::string &policy,
                      const std::string &ms = "300", std::map<std::string, std::string> env = {})
{
    env["SESSTRIM_TRIM"] = policy;
    env["SESSTRIM_LOG"] = "stderr";
    st::Result r = st::run({st::prog("trim_policy"), mode, dir, ms}, env);
    INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
    REQUIRE(r.status == 0);
    return r;
}

size_t count_lines_with(const std::string &text, const std::string &needle)
{
    std::istringstream in(text);
    std::string line;
    size_t n = 0;
    while (std::getline(in, line)) if (st::contains(line, needle)) n++;
    return n;
}

// "thread NAME sigblk HEX" lines printed by trim_policy's `threads` mode.
std::vector<std::pair<std::string, unsigned long long>> threads_of(const std::string &out)
{
    std::vector<std::pair<std::string, unsigned long long>> v;
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
        char name[64], blk[32];
        if (sscanf(line.c_str(), "thread %63s sigblk %31s", name, blk) == 2)
            v.emplace_back(name, strtoull(blk, nullptr, 16));
    }
    return v;
}

} // namespace

TEST_CASE("idle fires once per idle period, never while allocating", "[trim][policy]")
{
    std::string dir = st::tempdir();
    run_policy("idle", dir, "idle=300ms", "300");
    TrimCounts busy = counts(dir + "/busy.dump"), idle = counts(dir + "/idle.dump"),
               idle2 = counts(dir + "/idle2.dump");
    CHECK(busy.of(ST_TRIG_IDLE) == 0);       // 1.2 s of constant allocation: never idle
    CHECK(idle.of(ST_TRIG_IDLE) == 1);       // 1.2 s idle: one trim, not one per tick
    CHECK(idle2.of(ST_TRIG_IDLE) == 2);      // activity re-arms it, the next idle fires again
    CHECK(idle2.total == idle2.of(ST_TRIG_IDLE));
}

TEST_CASE("rss fires above the mark only, and does not loop when memory is in use", "[trim][policy]")
{
    std::string dir = st::tempdir();
    st::Result r = run_policy("rss", dir, "rss>64M;quiet=100ms,min-interval=300ms", "300");
    TrimCounts below = counts(dir + "/below.dump"), freed = counts(dir + "/freed.dump"),
               live = counts(dir + "/live.dump");
    CHECK(below.of(ST_TRIG_RSS) == 0);
    CHECK(freed.of(ST_TRIG_RSS) >= 1);
    // Every RSS trim saw RSS above the mark.
    st::Dump d(dir + "/live.dump");
    REQUIRE(d.ok);
    for (size_t i = 0; i < d.d.n_trims; i++)
        if (d.d.trims[i].trigger == ST_TRIG_RSS) CHECK(d.d.trims[i].rss_before > (64ull << 20));
    // The freed garbage was released: the first RSS trim brought RSS under the mark.
    bool released_below = false;
    for (size_t i = 0; i < d.d.n_trims; i++)
        if (d.d.trims[i].trigger == ST_TRIG_RSS && d.d.trims[i].rss_after < (64ull << 20)) released_below = true;
    CHECK(released_below);
    // Live memory above the mark: trims while it grew (at most one per RSS growth of an
    // eighth of the mark), then, with RSS above the mark and the memory live, no trim
    // loop, even as threads go quiet (their arenas hold nothing free): none in 2 x 1.8 s
    // more, where min-interval=300ms would otherwise allow 12.
    CHECK(live.of(ST_TRIG_RSS) <= freed.of(ST_TRIG_RSS) + (192 / 8) + 2);
    size_t live2 = counts(dir + "/live2.dump").of(ST_TRIG_RSS);
    CHECK(live2 == live.of(ST_TRIG_RSS));
    CHECK(counts(dir + "/live3.dump").of(ST_TRIG_RSS) == live2);
    // Busy, then idle: the live memory is freed and the program rests. The trigger that
    // disarmed on live memory re-arms once the arenas that were busy go quiet, and the
    // freed memory goes back.
    st::Dump rel(dir + "/released.dump");
    REQUIRE(rel.ok);
    size_t rss_trims = 0;
    bool below_after_release = false;
    for (size_t i = 0; i < rel.d.n_trims; i++) {
        if (rel.d.trims[i].trigger != ST_TRIG_RSS) continue;
        if (++rss_trims > live2 && rel.d.trims[i].rss_after < (64ull << 20)) below_after_release = true;
    }
    CHECK(rss_trims > live2);
    CHECK(below_after_release);
    (void)r;
}

TEST_CASE("idle is per arena: a heartbeat thread does not keep idle arenas resident", "[trim][policy]")
{
    std::string dir = st::tempdir();
    st::Result r = run_policy("heartbeat", dir, "idle=300ms", "300");
    st::Dump d(dir + "/idle.dump");
    REQUIRE(d.ok);
    uint32_t hb_arena = UINT32_MAX;
    for (size_t i = 0; i < d.d.n_threads; i++)
        if (std::string(d.d.threads[i].name) == "heartbeat") hb_arena = d.d.threads[i].home_arena;
    REQUIRE(hb_arena != UINT32_MAX);
    // 96 MiB freed by four workers that went idle, while the heartbeat allocated every
    // 50 ms: idle trims fired and gave it back...
    uint64_t released = 0;
    std::set<uint32_t> idle_seqs;
    for (size_t i = 0; i < d.d.n_trims; i++)
        if (d.d.trims[i].trigger == ST_TRIG_IDLE) {
            idle_seqs.insert(d.d.trims[i].seq);
            released += d.d.trims[i].released_bytes;
        }
    CHECK(!idle_seqs.empty());
    CHECK(released >= (90ull << 20));
    // ...and none of them touched the heartbeat's arena, which was in use all along.
    size_t rows = 0;
    for (size_t i = 0; i < d.d.n_trim_arenas; i++) {
        if (!idle_seqs.count(d.d.trim_arenas[i].seq)) continue;
        rows++;
        CHECK(d.d.trim_arenas[i].arena_id != hb_arena);
    }
    CHECK(rows >= 4);
    (void)r;
}

// preload/hooks_malloc.c's account_free() calls trim_note_free(e->arena) (trim/trim_hot.h).
TEST_CASE("idle is per arena by the freed chunk's arena, not the freeing thread's", "[trim][policy][xfree]")
{
    std::string dir = st::tempdir();
    st::Result r = run_policy("xfree", dir, "idle=300ms", "300");
    INFO("stderr:\n" << r.err);
    st::Dump during(dir + "/freeing.dump"), after(dir + "/after.dump");
    REQUIRE(during.ok);
    REQUIRE(after.ok);
    uint32_t producer = UINT32_MAX, consumer = UINT32_MAX;
    for (size_t i = 0; i < during.d.n_threads; i++) {
        std::string name = during.d.threads[i].name;
        if (name == "producer") producer = during.d.threads[i].home_arena;
        if (name == "consumer") consumer = during.d.threads[i].home_arena;
    }
    REQUIRE(producer != UINT32_MAX);
    REQUIRE(consumer != UINT32_MAX);
    REQUIRE(producer != consumer);
    // While the consumer freed the producer's blocks every 50 ms (1.2 s, 4 idle periods),
    // the producer's arena was in use: no idle trim reached it. The consumer's own arena
    // saw nothing after its first allocation: idle trims reached it.
    std::set<uint32_t> idle_seqs;
    for (size_t i = 0; i < during.d.n_trims; i++)
        if (during.d.trims[i].trigger == ST_TRIG_IDLE) idle_seqs.insert(during.d.trims[i].seq);
    size_t consumer_rows = 0;
    for (size_t i = 0; i < during.d.n_trim_arenas; i++) {
        if (!idle_seqs.count(during.d.trim_arenas[i].seq)) continue;
        CHECK(during.d.trim_arenas[i].arena_id != producer);
        if (during.d.trim_arenas[i].arena_id == consumer) consumer_rows++;
    }
    CHECK(consumer_rows >= 1);
    // Once the frees stopped, the producer's arena went idle and its 24 MiB were released
    // (under glibc's raised trim threshold: glibc keeps them itself).
    uint32_t last_seq = idle_seqs.empty() ? 0 : *idle_seqs.rbegin();
    std::set<uint32_t> later_idle;
    for (size_t i = 0; i < after.d.n_trims; i++)
        if (after.d.trims[i].trigger == ST_TRIG_IDLE && after.d.trims[i].seq > last_seq)
            later_idle.insert(after.d.trims[i].seq);
    uint64_t producer_released = 0;
    for (size_t i = 0; i < after.d.n_trim_arenas; i++)
        if (later_idle.count(after.d.trim_arenas[i].seq) && after.d.trim_arenas[i].arena_id == producer)
            producer_released += after.d.trim_arenas[i].released_bytes;
    CHECK(producer_released >= (20ull << 20));
}

TEST_CASE("idle-all keeps the process-wide meaning: a heartbeat anywhere prevents it", "[trim][policy]")
{
    std::string dir = st::tempdir();
    run_policy("idle", dir, "idle-all=300ms", "300");
    CHECK(counts(dir + "/busy.dump").of(ST_TRIG_IDLE) == 0);
    CHECK(counts(dir + "/idle.dump").of(ST_TRIG_IDLE) == 1);
    CHECK(counts(dir + "/idle2.dump").of(ST_TRIG_IDLE) == 2);
    std::string dir2 = st::tempdir();
    run_policy("heartbeat", dir2, "idle-all=300ms", "300");
    CHECK(counts(dir2 + "/idle.dump").of(ST_TRIG_IDLE) == 0);
}

TEST_CASE("every and free-resident: busy arenas are left alone, trimmed once they rest", "[trim][policy]")
{
    for (std::string policy : {"every=200ms;quiet=100ms,min-interval=0", "free-resident>16M;quiet=100ms"}) {
        INFO(policy);
        uint32_t trig = policy[0] == 'e' ? ST_TRIG_PERIODIC : ST_TRIG_FREE_RESIDENT;
        std::string dir = st::tempdir();
        run_policy("busy-idle", dir, policy, "300");
        st::Dump busy(dir + "/busy.dump"), idle(dir + "/idle.dump");
        REQUIRE(busy.ok);
        REQUIRE(idle.ok);
        // While two threads churned 64 MiB, nothing was released from their arenas.
        uint64_t busy_released = 0, idle_released = 0;
        for (size_t i = 0; i < busy.d.n_trims; i++) busy_released += busy.d.trims[i].released_bytes;
        for (size_t i = 0; i < idle.d.n_trims; i++)
            if (idle.d.trims[i].trigger == trig) idle_released += idle.d.trims[i].released_bytes;
        CHECK(busy_released < (8ull << 20));
        if (trig == ST_TRIG_FREE_RESIDENT) CHECK(counts(dir + "/busy.dump").of(trig) == 0);
        // Once they stopped, with 64 MiB freed, the trigger fired and released it.
        CHECK(idle_released >= busy_released + (56ull << 20));
    }
}

TEST_CASE("a single-threaded program's main arena is measured, reported and trimmed", "[trim][main]")
{
    std::string dir = st::tempdir();
    st::Result r = run_policy("main", dir, "free-resident>32M", "300");
    st::Dump d(dir + "/main.dump");
    REQUIRE(d.ok);
    // Reported: the main arena's record carries its address and glibc's own numbers.
    bool main_seen = false;
    for (size_t i = 0; i < d.d.n_arenas; i++) {
        const auto &a = d.d.arenas[i];
        if (a.id != 0) continue;
        main_seen = true;
        CHECK(a.kind == ST_ARENA_MAIN);
        CHECK(a.address != 0);
        CHECK(a.system_bytes >= (64ull << 20));
        CHECK(a.free_bin_bytes >= (63ull << 20));      // the freed blocks, one free chunk
    }
    CHECK(main_seen);
    // Measured and trimmed: free-resident>32M fired on the 64 MiB freed in main_arena's
    // bins, and the bin release gave those pages back in several lock holds.
    REQUIRE(d.d.n_trims >= 1);
    const auto &t = d.d.trims[0];
    CHECK(t.trigger == ST_TRIG_FREE_RESIDENT);
    CHECK(t.bin_released_bytes >= (60ull << 20));
    CHECK(t.rss_before - t.rss_after >= (56ull << 20));
    CHECK((t.flags & 1u) == 0);                        // no malloc_trim(0) pass
    // The lock was dropped between slices: each hold is shorter than the whole trim.
    CHECK(t.slices >= 2);
    CHECK(t.max_lock_hold_ns > 0);
    CHECK(t.max_lock_hold_ns < t.duration_ns);
    CHECK(st::contains(r.err, "longest arena lock "));
}

TEST_CASE("every fires periodically and not more often than its period", "[trim][policy]")
{
    std::string dir = st::tempdir();
    run_policy("every", dir, "every=200ms;min-interval=0", "200");   // runs ~2 s
    TrimCounts c = counts(dir + "/end.dump");
    CHECK(c.of(ST_TRIG_PERIODIC) >= 3);
    CHECK(c.of(ST_TRIG_PERIODIC) <= 12);     // 2 s / 200 ms + start slack
    CHECK(c.total == c.of(ST_TRIG_PERIODIC));

    std::string dir2 = st::tempdir();
    run_policy("every", dir2, "idle=1h", "200");
    CHECK(counts(dir2 + "/end.dump").total == 0);
}

TEST_CASE("session-end fires after a session ends, not before", "[trim][policy]")
{
    std::string dir = st::tempdir();
    run_policy("session", dir, "session-end", "300");
    CHECK(counts(dir + "/open.dump").total == 0);
    TrimCounts ended = counts(dir + "/ended.dump");
    CHECK(ended.of(ST_TRIG_SESSION_END) == 1);
    CHECK(ended.total == 1);
}

TEST_CASE("free-resident fires when freed memory stays resident, not for memory in use", "[trim][policy]")
{
    std::string dir = st::tempdir();
    run_policy("free", dir, "free-resident>32M", "300");
    TrimCounts inuse = counts(dir + "/inuse.dump"), freed = counts(dir + "/freed.dump"),
               after = counts(dir + "/after.dump");
    CHECK(inuse.of(ST_TRIG_FREE_RESIDENT) == 0);    // 128 MiB live, little free
    CHECK(freed.of(ST_TRIG_FREE_RESIDENT) >= 1);    // 128 MiB freed into thread arenas
    CHECK(after.of(ST_TRIG_FREE_RESIDENT) == freed.of(ST_TRIG_FREE_RESIDENT)); // released: quiet
    st::Dump d(dir + "/freed.dump");
    REQUIRE(d.ok);
    uint64_t released = 0;
    for (size_t i = 0; i < d.d.n_trims; i++) released += d.d.trims[i].released_bytes;
    CHECK(released > (64ull << 20));
}

TEST_CASE("the API trim releases thread-arena tops that malloc_trim(0) keeps", "[trim][api]")
{
    std::string dir = st::tempdir();
    // glibc=on: the API trim runs malloc_trim(0) first (opt-in), so the report can split
    // the release into glibc's pass and the shim's own.
    st::Result r = st::run({st::prog("trim_policy"), "api", dir}, {{"SESSTRIM_TRIM", "glibc=on"}});
    INFO(r.out << r.err);
    REQUIRE(r.status == 0);
    unsigned long long before = 0, glibc = 0, api = 0;
    long long released = 0;
    auto at = r.out.find("api before_mib=");
    REQUIRE(at != std::string::npos);
    REQUIRE(sscanf(r.out.c_str() + at, "api before_mib=%llu after_malloc_trim_mib=%llu after_api_mib=%llu released=%lld",
                   &before, &glibc, &api, &released) == 4);
    // 96 MiB freed into four thread arenas' tops.
    CHECK(before >= 64);
    CHECK(api + 48 < glibc);                  // the top pass releases what glibc keeps
    CHECK(released >= (long long)((glibc - api - 2) << 20));
    st::Dump d(dir + "/api.dump");
    REQUIRE(d.ok);
    REQUIRE(d.d.n_trims == 1);
    CHECK(d.d.trims[0].trigger == ST_TRIG_API);
    CHECK(d.d.trims[0].arenas_trimmed >= 1);
    uint64_t per_arena = 0;
    for (size_t i = 0; i < d.d.n_trim_arenas; i++) {
        CHECK(d.d.trim_arenas[i].seq == d.d.trims[0].seq);
        per_arena += d.d.trim_arenas[i].released_bytes;
    }
    CHECK(per_arena == d.d.trims[0].released_bytes);
    CHECK(st::contains(r.err, "trim #1 api: rss "));

    // The report splits the release into glibc's pass and the top chunks, from those rows.
    uint64_t tops = 0;
    for (size_t i = 0; i < d.d.n_trim_arenas; i++)
        if (d.d.trim_arenas[i].arena_id != ST_TRIM_ARENA_GLIBC_PASS) tops += d.d.trim_arenas[i].released_bytes;
    CHECK(tops > 0);
    auto text = st::run({st::build() + "/sesstrim-report", dir + "/api.dump"}, {}, false);
    REQUIRE(text.status == 0);
    auto json = st::run({st::build() + "/sesstrim-report", "--json", dir + "/api.dump"}, {}, false);
    REQUIRE(json.status == 0);
    CHECK(st::contains(json.out, "\"arena\": \"malloc_trim\""));
    CHECK(st::contains(text.out, "thread arenas "));
    // the summary carries the same sum, in the report's own units
    char fmt[64];
    snprintf(fmt, sizeof fmt, "%.1f MiB", (double)tops / 1048576.0);
    INFO(text.out);
    CHECK(st::contains(text.out, std::string("thread arenas ") + fmt));
    // The log line and the report name the trigger with the same word (one table).
    auto at_log = r.err.find("trim #1 ");
    REQUIRE(at_log != std::string::npos);
    std::string word = r.err.substr(at_log + 8, r.err.find(':', at_log) - at_log - 8);
    CHECK(st::contains(text.out, " " + word + " "));
    CHECK(st::contains(json.out, "\"trigger\": \"" + word + "\""));
}

TEST_CASE("a trim gives the shim's own unused table memory back", "[trim][table]")
{
    std::string dir = st::tempdir();
    st::Result r = st::run({st::prog("trim_policy"), "table", dir}, {{"SESSTRIM_TRIM", ""}});
    INFO(r.out << r.err);
    REQUIRE(r.status == 0);
    unsigned long long before = 0, after = 0;
    long long released = 0;
    auto at = r.out.find("table before_mib=");
    REQUIRE(at != std::string::npos);
    REQUIRE(sscanf(r.out.c_str() + at, "table before_mib=%llu after_mib=%llu released=%lld", &before, &after, &released) == 3);
    st::Dump d(dir + "/table.dump");
    REQUIRE(d.ok);
    REQUIRE(d.d.n_trims == 1);
    // 1 M live entries grew the table to at least 32 MiB; with them freed it shrinks back.
    CHECK(d.d.trims[0].shim_released_bytes >= (24ull << 20));
    CHECK(after + 24 <= before);
}

TEST_CASE("the trimmer thread exists only with a policy, with every signal blocked", "[trim][thread]")
{
    st::Result none = run_policy("threads", st::tempdir(), "", "50");
    auto t0 = threads_of(none.out);
    REQUIRE(!t0.empty());
    for (auto &t : t0) CHECK(t.first != "sesstrim-trim");

    st::Result with = run_policy("threads", st::tempdir(), "idle=5s", "50");
    int found = 0;
    for (auto &t : threads_of(with.out)) {
        if (t.first != "sesstrim-trim") continue;
        found++;
        for (int sig : {SIGINT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM, SIGCHLD, SIGPIPE, SIGHUP, SIGPROF})
            CHECK((t.second >> (sig - 1) & 1) == 1);
    }
    CHECK(found == 1);

    // Settings without a trigger: told so, and no thread.
    st::Result settings = run_policy("threads", st::tempdir(), "min-interval=1s", "50");
    CHECK(st::contains(settings.err, "names no trigger"));
    for (auto &t : threads_of(settings.out)) CHECK(t.first != "sesstrim-trim");
}

TEST_CASE("bad policy text: one warning naming each bad token, the rest still applies", "[trim][grammar]")
{
    st::Result r = run_policy("threads", st::tempdir(), "idle=2x, bogus ,rss>abc;every=5s,free-resident=0,pad=-1", "50");
    CHECK(count_lines_with(r.err, "'idle=2x'") == 1);
    CHECK(count_lines_with(r.err, "'bogus'") == 1);
    CHECK(count_lines_with(r.err, "'rss>abc'") == 1);
    CHECK(count_lines_with(r.err, "'free-resident=0'") == 1);
    CHECK(count_lines_with(r.err, "'pad=-1'") == 1);
    CHECK(count_lines_with(r.err, "SESSTRIM_TRIM: ignoring") == 5);
    CHECK(st::contains(r.err, "trim policy: every=5s;"));
}

TEST_CASE("the grammar: units, separators and spellings", "[trim][grammar]")
{
    st::Result r = run_policy("threads", st::tempdir(),
                              " idle=1.5s , rss>512MiB ; every=2m,session_end,free-resident>=64k;"
                              "min-interval=250ms,quiet=0,pad=8K,glibc=off,check=20ms", "50");
    CHECK(count_lines_with(r.err, "SESSTRIM_TRIM: ignoring") == 0);
    CHECK(st::contains(r.err, "trim policy: idle=1500ms,rss>512M,every=120s,session-end,free-resident>64K;"
                              "min-interval=250ms,quiet=0s,check=20ms,pad=8K\n"));
    // glibc=off is the default now (not echoed); the process-wide idle has its own name.
    st::Result r2 = run_policy("threads", st::tempdir(), "idle_all=3s,glibc=on", "50");
    CHECK(count_lines_with(r2.err, "SESSTRIM_TRIM: ignoring") == 0);
    CHECK(st::contains(r2.err, "trim policy: idle-all=3s;min-interval=1s,quiet=1s,check=250ms,glibc=on\n"));
}

TEST_CASE("fork: the child gets its own trimmer and both keep trimming", "[trim][fork]")
{
    std::string dir = st::tempdir();
    st::Result r = run_policy("fork", dir, "every=100ms;min-interval=0", "200");
    int trimmers = 0;
    for (auto &t : threads_of(r.out)) if (t.first == "sesstrim-trim") trimmers++;
    CHECK(trimmers == 1);                    // listed by the child
    TrimCounts child = counts(dir + "/child.dump"), parent = counts(dir + "/parent.dump");
    CHECK(child.of(ST_TRIG_PERIODIC) >= 3);
    CHECK(parent.of(ST_TRIG_PERIODIC) >= 3);
}

TEST_CASE("SESSTRIM_ARENA_MAX and SESSTRIM_TRIM_THRESHOLD reach glibc", "[trim][mallopt]")
{
    auto api_run = [](std::map<std::string, std::string> env, unsigned long long &before, size_t &arenas) {
        std::string dir = st::tempdir();
        env["SESSTRIM_TRIM"] = "";
        st::Result r = st::run({st::prog("trim_policy"), "api", dir}, env);
        INFO(r.out << r.err);
        REQUIRE(r.status == 0);
        auto at = r.out.find("api before_mib=");
        REQUIRE(at != std::string::npos);
        REQUIRE(sscanf(r.out.c_str() + at, "api before_mib=%llu", &before) == 1);
        st::Dump d(dir + "/api.dump");
        REQUIRE(d.ok);
        arenas = d.d.n_arenas;
    };
    unsigned long long before_default = 0, before_one = 0, before_thr = 0;
    size_t arenas_default = 0, arenas_one = 0, arenas_thr = 0;
    api_run({}, before_default, arenas_default);
    api_run({{"SESSTRIM_ARENA_MAX", "1"}}, before_one, arenas_one);
    api_run({{"SESSTRIM_TRIM_THRESHOLD", "131072"}}, before_thr, arenas_thr);
    // Four threads allocating at once get arenas of their own by default, share one with 1.
    CHECK(arenas_default >= 3);
    CHECK(arenas_one == 1);
    // A fixed 128 KiB trim threshold: glibc shrinks the tops itself as the garbage is freed.
    CHECK(before_default >= 64);
    CHECK(before_thr * 4 < before_default);
}

TEST_CASE("a foreign malloc: trims fall back to malloc_trim(0), said once", "[trim][foreign]")
{
    const std::string jemalloc = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2";
    if (!st::file_exists(jemalloc)) { WARN("jemalloc not installed: not checked"); return; }
    std::string dir = st::tempdir();
    // The shim first, jemalloc next: the shim's next malloc is jemalloc's.
    st::Result r = run_policy("every", dir, "every=100ms;min-interval=0", "100",
                              {{"LD_PRELOAD", st::lib() + ":" + jemalloc}});
    CHECK(count_lines_with(r.err, "fall back to malloc_trim(0)") == 1);
    TrimCounts c = counts(dir + "/end.dump");
    CHECK(c.of(ST_TRIG_PERIODIC) >= 3);
    st::Dump d(dir + "/end.dump");
    REQUIRE(d.ok);
    for (size_t i = 0; i < d.d.n_trims; i++) CHECK(d.d.trims[i].arenas_trimmed == 0);
}
