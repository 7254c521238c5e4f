// test_sessions.cpp: session scopes end to end: tests/progs/session_scenarios does known
// allocations in sessions and prints its own bookkeeping; the dump must agree exactly.
#include "testutil.hpp"
#include "sesstrim.h"
#include <sstream>

namespace {

struct Scenario {
    std::map<std::string, unsigned long long> expect;
    std::string dump_path, err;
    int status = -1;
};

Scenario run_scenario(const std::string &name, const std::vector<std::string> &extra = {},
                      std::map<std::string, std::string> env = {})
{
    Scenario sc;
    sc.dump_path = st::tempdir() + "/" + name + ".dump";
    std::vector<std::string> argv{st::prog("session_scenarios"), name, sc.dump_path};
    argv.insert(argv.end(), extra.begin(), extra.end());
    env.emplace("SESSTRIM_DUMP", "");
    st::Result r = st::run(argv, env, true);
    sc.status = r.status;
    sc.err = r.err;
    std::istringstream in(r.out);
    std::string key;
    unsigned long long value;
    while (in >> key >> value) sc.expect[key] = value;
    INFO("stdout: " << r.out << "\nstderr: " << r.err);
    REQUIRE(r.status == 0);
    REQUIRE(sc.expect.count("dump_rc"));
    REQUIRE(sc.expect["dump_rc"] == 0);
    return sc;
}

} // namespace

TEST_CASE("sessions nest: allocations go to the innermost, end pops back to the parent")
{
    Scenario sc = run_scenario("nesting");
    auto &e = sc.expect;
    CHECK(e["current_is_inner"] == 1);
    CHECK(e["current_is_outer"] == 1);
    st::Dump d(sc.dump_path);
    REQUIRE(d.ok);
    const st_rec_session *outer = d.session_named("outer");
    const st_rec_session *inner = d.session_named("inner");
    REQUIRE(outer != nullptr);
    REQUIRE(inner != nullptr);
    CHECK(outer->id == e["outer_id"]);
    CHECK(inner->id == e["inner_id"]);
    CHECK(inner->parent_id == outer->id);
    CHECK((outer->flags & ST_SESSION_ENDED) == 0);
    CHECK((inner->flags & ST_SESSION_ENDED) != 0);
    CHECK(outer->live_bytes == e["outer_live"]);
    CHECK(outer->live_count == e["outer_count"]);
    CHECK(inner->leftover_bytes == e["inner_leftover"]);
    CHECK(inner->leftover_count == 1);
    CHECK(inner->total_alloc_bytes == e["inner_total"]);
    CHECK(inner->peak_bytes == e["inner_peak"]);
    CHECK(inner->frees == 1);
    CHECK(inner->end_ns >= inner->begin_ns);
    REQUIRE(d.d.has_session_summary);
    CHECK(d.d.session_summary.open_sessions == 1);
    CHECK(d.d.session_summary.ended_sessions_total == 1);
}

TEST_CASE("enter/leave: worker threads serve an open session; frees by another thread count")
{
    Scenario sc = run_scenario("enter_leave");
    auto &e = sc.expect;
    CHECK(e["workers_ok"] == 1);
    CHECK(e["main_current_after_leave"] == 0);
    st::Dump d(sc.dump_path);
    REQUIRE(d.ok);
    const st_rec_session *pool = d.session_named("pool");
    REQUIRE(pool != nullptr);
    CHECK(pool->live_bytes == e["pool_live"]);
    CHECK(pool->live_count == e["pool_count"]);
    CHECK(pool->frees == e["pool_frees"]);
    CHECK(pool->threads_seen == e["pool_threads"]);
}

TEST_CASE("a free is credited to the owning session, whichever thread and session free it")
{
    Scenario sc = run_scenario("xfree");
    auto &e = sc.expect;
    st::Dump d(sc.dump_path);
    REQUIRE(d.ok);
    const st_rec_session *owner = d.session_named("owner");
    const st_rec_session *other = d.session_named("other");
    REQUIRE(owner != nullptr);
    REQUIRE(other != nullptr);
    CHECK(owner->live_bytes == e["owner_live"]);
    CHECK(owner->live_count == e["owner_count"]);
    CHECK(owner->frees == e["owner_frees"]);
    CHECK(other->frees == e["other_frees"]);
    CHECK(other->leftover_bytes == e["other_live"]);
}

TEST_CASE("keep hands a live allocation to the parent (or a named session)")
{
    Scenario sc = run_scenario("keep");
    auto &e = sc.expect;
    CHECK(e["keep_rc"] == 1);
    CHECK(e["keep_named_rc"] == 1);
    CHECK(e["keep_untracked_rc"] == 0);
    CHECK(e["keep_to_ended_rc"] == 0);
    st::Dump d(sc.dump_path);
    REQUIRE(d.ok);
    const st_rec_session *parent = d.session_named("parent");
    const st_rec_session *child = d.session_named("child");
    REQUIRE(parent != nullptr);
    REQUIRE(child != nullptr);
    CHECK(child->leftover_bytes == e["child_leftover"]);
    CHECK(child->leftover_count == 0);
    CHECK(child->total_alloc_bytes == e["child_total"]);
    CHECK(parent->live_bytes == e["parent_live"]);
    CHECK(parent->kept_in_bytes == e["parent_kept_in"]);
    CHECK(parent->kept_in_count == e["parent_kept_in_count"]);
    CHECK(parent->peak_bytes >= parent->live_bytes);
}

TEST_CASE("threads created inside a session inherit it, unless SESSTRIM_SESSION_INHERIT=off")
{
    SECTION("inherit on (default)") {
        Scenario sc = run_scenario("inherit");
        auto &e = sc.expect;
        CHECK(e["child_saw"] == e["spawner_id"]);
        st::Dump d(sc.dump_path);
        REQUIRE(d.ok);
        const st_rec_session *spawner = d.session_named("spawner");
        REQUIRE(spawner != nullptr);
        CHECK(spawner->live_bytes == e["thread_bytes"]);
        CHECK(spawner->live_count == e["thread_count"]);
        CHECK(spawner->threads_seen == 2);
    }
    SECTION("inherit off") {
        Scenario sc = run_scenario("inherit", {}, {{"SESSTRIM_SESSION_INHERIT", "off"}});
        auto &e = sc.expect;
        CHECK(e["child_saw"] == 0);
        st::Dump d(sc.dump_path);
        REQUIRE(d.ok);
        const st_rec_session *spawner = d.session_named("spawner");
        REQUIRE(spawner != nullptr);
        CHECK(spawner->live_bytes == 0);
        CHECK(spawner->threads_seen == 1);
    }
}

TEST_CASE("100k short sessions keep the shim's memory bounded; leaky ones stay in detail")
{
    const unsigned long long kept = 200;
    std::map<std::string, std::string> env{{"SESSTRIM_SESSIONS_KEPT", std::to_string(kept)},
                                           {"SESSTRIM_SESSION_LEFTOVER_LOG", "1000000"}};
    Scenario small = run_scenario("churn", {"10000", "1000"}, env);
    Scenario large = run_scenario("churn", {"100000", "1000"}, env);
    st::Dump ds(small.dump_path), dl(large.dump_path);
    REQUIRE(ds.ok);
    REQUIRE(dl.ok);
    for (auto *pair : {&small, &large}) {
        const st::Dump &d = pair == &small ? ds : dl;
        auto &e = pair->expect;
        REQUIRE(d.d.has_session_summary);
        const st_rec_session_summary &sum = d.d.session_summary;
        CHECK(sum.ended_sessions_total == e["sessions"]);
        CHECK(sum.open_sessions == 0);
        CHECK(d.d.n_sessions == std::min<unsigned long long>(kept, e["sessions"]));
        CHECK(sum.folded_sessions + d.d.n_sessions == e["sessions"]);
        // Sessions with leftovers are preferred: all leaky ones are still in detail.
        unsigned long long leaky = 0, leftover = 0;
        for (size_t i = 0; i < d.d.n_sessions; i++) {
            if (d.d.sessions[i].leftover_count) leaky++;
            leftover += d.d.sessions[i].leftover_bytes;
        }
        CHECK(leaky == e["leaky_sessions"]);
        CHECK(leftover + sum.folded_leftover_bytes == e["leaked_bytes"]);
    }
    // Ten times the sessions must not cost shim memory per session: the growth must stay
    // under one byte per extra session (a record per session would be ~200 bytes each).
    uint64_t meta_small = ds.d.process.meta_bytes, meta_large = dl.d.process.meta_bytes;
    INFO("meta_bytes 10k: " << meta_small << ", 100k: " << meta_large);
    CHECK(meta_small > 0);
    CHECK(meta_large < meta_small + 90000);
}

TEST_CASE("API contract inside a preloaded process: nesting, enter/leave, end and keep codes")
{
    if (!sesstrim_active()) {
        WARN("shim not preloaded: checking the no-shim values only");
        CHECK(sesstrim_session_begin("x") == 0);
        CHECK(sesstrim_session_end(1) == -1);
        return;
    }
    sesstrim_session_t before = sesstrim_session_current();
    sesstrim_session_t a = sesstrim_session_begin("api-a");
    REQUIRE(a != 0);
    CHECK(sesstrim_session_current() == a);
    sesstrim_session_t b = sesstrim_session_begin(nullptr);
    REQUIRE(b != 0);
    CHECK(b != a);
    CHECK(sesstrim_session_current() == b);
    CHECK(sesstrim_session_enter(a) == 0);          // re-entering an open session nests
    CHECK(sesstrim_session_current() == a);
    CHECK(sesstrim_session_leave(a) == 0);
    CHECK(sesstrim_session_current() == b);
    CHECK(sesstrim_session_end(b) == 0);
    CHECK(sesstrim_session_end(b) == -1);           // already ended
    CHECK(sesstrim_session_enter(b) == -1);         // ended sessions cannot be entered
    CHECK(sesstrim_session_current() == a);
    CHECK(sesstrim_session_end(a) == 0);
    CHECK(sesstrim_session_current() == before);
    CHECK(sesstrim_session_end(0) == -1);
    CHECK(sesstrim_session_enter(12345) == -1);     // never issued
    CHECK(sesstrim_keep(nullptr, 0) == -1);
}

TEST_CASE("without the shim the C API returns its nothing values and the program runs")
{
    std::string dump = st::tempdir() + "/none.dump";
    st::Result r = st::run({st::prog("session_scenarios"), "noshim", dump}, {}, false);
    INFO("stdout: " << r.out << "\nstderr: " << r.err);
    CHECK(r.status == 0);
    CHECK(st::contains(r.out, "noshim_ok 1"));
    CHECK(!st::file_exists(dump));
}

TEST_CASE("a fork child keeps the current session and accounts for itself")
{
    Scenario sc = run_scenario("fork");
    auto &e = sc.expect;
    CHECK(e["child_ok"] == 1);
    st::Dump parent(sc.dump_path), child(sc.dump_path + ".child");
    REQUIRE(parent.ok);
    REQUIRE(child.ok);
    const st_rec_session *p = parent.session_named("across-fork");
    const st_rec_session *c = child.session_named("across-fork");
    REQUIRE(p != nullptr);
    REQUIRE(c != nullptr);
    CHECK(p->live_bytes == e["parent_live"]);
    CHECK(c->live_bytes == e["child_live"]);
    CHECK(c->id == p->id);
}

TEST_CASE("ending a session logs leftovers above the threshold and can dump each time")
{
    std::string dir = st::tempdir();
    std::string pattern = dir + "/on-end.dump";
    SECTION("below the threshold: no line") {
        Scenario sc = run_scenario("nesting", {}, {{"SESSTRIM_SESSION_LEFTOVER_LOG", "1000000"}});
        CHECK(!st::contains(sc.err, "\"inner\""));
    }
    SECTION("above it: one line naming the session and its bytes; a dump per end") {
        Scenario sc = run_scenario("nesting", {}, {{"SESSTRIM_SESSION_LEFTOVER_LOG", "100"},
                                                   {"SESSTRIM_DUMP_ON_SESSION_END", "on"},
                                                   {"SESSTRIM_DUMP", pattern}});
        std::string want = "\"inner\" ended leaving " + std::to_string(sc.expect["inner_leftover"]) + " bytes";
        INFO("stderr: " << sc.err);
        CHECK(st::contains(sc.err, want));
        // Two sessions end (inner, then outer after the scenario's own dump), then the exit dump.
        size_t dumps = 0;
        for (size_t at = 0; (at = sc.err.find("dump written: " + pattern, at)) != std::string::npos; at++) dumps++;
        CHECK(dumps == 3);
        CHECK(st::file_exists(pattern));
    }
}

TEST_CASE("an ended session's leftovers are grouped by allocation site when stacks are on")
{
    SECTION("stacks on: the groups add up to the leftovers") {
        Scenario sc = run_scenario("nesting", {}, {{"SESSTRIM_STACKS", "all"}});
        st::Dump d(sc.dump_path);
        REQUIRE(d.ok);
        const st_rec_session *inner = d.session_named("inner");
        REQUIRE(inner != nullptr);
        uint64_t bytes = 0, count = 0;
        for (size_t i = 0; i < d.d.n_session_sites; i++) {
            const st_rec_session_site &s = d.d.session_sites[i];
            if (s.session_id != inner->id) continue;
            bytes += s.bytes;
            count += s.count;
            if (s.site_id == 0) continue;   // 0: allocation without a recorded stack
            bool known = false;
            for (size_t k = 0; k < d.d.n_sites; k++) known |= d.d.sites[k].s.id == s.site_id;
            CHECK(known);
        }
        CHECK(bytes == sc.expect["inner_leftover"]);
        CHECK(count == 1);
    }
    SECTION("stacks off: no site records") {
        Scenario sc = run_scenario("nesting", {}, {{"SESSTRIM_STACKS", "off"}});
        st::Dump d(sc.dump_path);
        REQUIRE(d.ok);
        CHECK(d.d.n_session_sites == 0);
    }
}

TEST_CASE("concurrent sessions, cross-thread frees after end and a shared session add up exactly")
{
    Scenario sc = run_scenario("concurrent", {"20000"}, {{"SESSTRIM_SESSIONS_KEPT", "100"}});
    auto &e = sc.expect;
    st::Dump d(sc.dump_path);
    REQUIRE(d.ok);
    REQUIRE(d.d.has_session_summary);
    const st_rec_session_summary &sum = d.d.session_summary;
    const st_rec_session *shared = d.session_named("cc-shared");
    REQUIRE(shared != nullptr);
    CHECK(shared->total_alloc_bytes == e["shared_alloc_bytes"]);
    CHECK(shared->live_bytes == 0);
    CHECK(shared->live_count == 0);
    CHECK(shared->threads_seen == e["shared_threads"]);
    uint64_t bytes = sum.folded_alloc_bytes, allocs = sum.folded_allocs, live = 0;
    for (size_t i = 0; i < d.d.n_sessions; i++) {
        const st_rec_session &s = d.d.sessions[i];
        if (std::string(s.name) != "cc") continue;
        bytes += s.total_alloc_bytes;
        allocs += s.total_allocs;
        live += s.live_bytes;
    }
    CHECK(sum.ended_sessions_total == e["sessions"]);
    CHECK(bytes == e["session_alloc_bytes"]);
    CHECK(allocs == e["session_allocs"]);
    CHECK(live == 0);                   // every handed-over block was freed by the end
    CHECK(sum.open_sessions == 1);
}
