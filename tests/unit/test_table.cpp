// test_table.cpp: the shim's live table (preload/livetable.h) through growth, churn,
// cross-thread frees, a shrink, session moves and a dump taken mid-churn, checked exactly
// against what the program knows it holds (tests/progs/table_model.c); site ids packed in
// the table's 24-byte slots; metadata per live allocation within the table's load bounds.
#include "testutil.hpp"
#include <sstream>

using namespace st;

namespace {
struct Checkpoint { uint64_t count = 0, bytes = 0; std::map<uint64_t, uint64_t> session_bytes; };

std::map<std::string, Checkpoint> parse(const std::string &out)
{
    std::map<std::string, Checkpoint> m;
    std::istringstream in(out);
    std::string name, kind;
    while (in >> name >> kind) {
        if (kind == "count") {
            std::string w;
            in >> m[name].count >> w >> m[name].bytes;
        } else if (kind == "session") {
            uint64_t id, bytes;
            std::string w;
            in >> id >> w >> bytes;
            m[name].session_bytes[id] = bytes;
        } else {
            std::string rest;
            std::getline(in, rest);
        }
    }
    return m;
}

const st_rec_session *session(const Dump &dump, uint64_t id)
{
    for (size_t i = 0; i < dump.d.n_sessions; i++)
        if (dump.d.sessions[i].id == id) return &dump.d.sessions[i];
    return nullptr;
}
}  // namespace

TEST_CASE("the live table holds exactly the live blocks through growth, churn, shrink and session moves", "[table]")
{
    auto dir = tempdir();
    const int threads = 4;
    const long per = 60000;
    auto r = run({prog("table_model"), dir, std::to_string(threads), std::to_string(per)}, {{"SESSTRIM_LOG", "off"}});
    INFO(r.err);
    REQUIRE(r.status == 0);
    auto cps = parse(r.out);
    REQUIRE(cps.size() == 5);

    // The program's own bookkeeping (its arrays, stdio's buffer) is live too and does not
    // change after the first checkpoint: the dump's excess must be the same at each one.
    int64_t extra_count = -1, extra_bytes = -1;
    for (const char *name : {"churned", "shrunk", "kept", "emptied"}) {
        INFO(name);
        Dump dump(d(dir, std::string(name) + ".bin"));
        REQUIRE(dump.ok);
        const auto &cp = cps[name];
        const auto &p = dump.d.process;
        REQUIRE(p.live_count >= cp.count);
        REQUIRE(p.live_bytes >= cp.bytes);
        if (extra_count < 0) {
            extra_count = (int64_t)(p.live_count - cp.count);
            extra_bytes = (int64_t)(p.live_bytes - cp.bytes);
            CHECK(extra_count < 64);
        }
        CHECK((int64_t)(p.live_count - cp.count) == extra_count);
        CHECK((int64_t)(p.live_bytes - cp.bytes) == extra_bytes);
        // Session bytes follow the table's entries: a free or a keep debits the session its
        // entry names, so a wrongly packed session ref shows up here.
        for (auto &kv : cp.session_bytes) {
            INFO("session " << kv.first);
            auto *s = session(dump, kv.first);
            REQUIRE(s != nullptr);
            CHECK(s->live_bytes == kv.second);
        }
    }
    // A block moved by sesstrim_keep is found and re-packed: the "kept" session holds bytes.
    CHECK(cps["kept"].session_bytes.rbegin() != cps["kept"].session_bytes.rend());

    // Mid-churn dump: another thread allocated and freed throughout, so the table was
    // changing (and migrating) under the walk; the counted blocks are all there.
    {
        Dump dump(d(dir, "grown.bin"));
        REQUIRE(dump.ok);
        CHECK(dump.d.process.live_count >= cps["grown"].count + (uint64_t)extra_count);
        CHECK(dump.d.process.live_count <= cps["grown"].count + (uint64_t)extra_count + 4096);
    }

    // Metadata: at 240 k live the tables sit between 24/0.8 and 24/0.64 bytes per live
    // block (livetable.h), plus the shim's fixed tables (measured: 1.1 MiB mapped in a
    // program with one block live); after the 90% free and a trim they shrank with it.
    Dump churned(d(dir, "churned.bin")), shrunk(d(dir, "shrunk.bin"));
    REQUIRE(churned.ok);
    REQUIRE(shrunk.ok);
    double per_live = (double)churned.d.process.meta_bytes / (double)churned.d.process.live_count;
    INFO("metadata per live block " << per_live);
    CHECK(per_live <= 40.0 + 2.0 * 1048576.0 / (double)churned.d.process.live_count);
    CHECK(shrunk.d.process.meta_bytes * 3 < churned.d.process.meta_bytes);   // 10% left
    // Every counted block freed and a trim: the heaps' shards lost their tables entirely
    // (only shards holding the program's few bookkeeping blocks keep one).
    Dump emptied(d(dir, "emptied.bin"));
    REQUIRE(emptied.ok);
    INFO("meta bytes: shrunk " << shrunk.d.process.meta_bytes << ", emptied " << emptied.d.process.meta_bytes);
    CHECK(emptied.d.process.meta_bytes + 256 * 1024 < shrunk.d.process.meta_bytes);
}

TEST_CASE("site ids of every width survive the table's packing", "[table]")
{
    auto dir = tempdir();
    auto r = run({prog("table_model"), dir, "sites"}, {{"SESSTRIM_LOG", "off"}, {"SESSTRIM_STACKS", "all"}});
    INFO(r.err);
    REQUIRE(r.status == 0);
    Dump dump(d(dir, "sites.bin"));
    REQUIRE(dump.ok);
    // 400 stacks allocated 1, 2, ..., 400 blocks: each count must appear as one site's live
    // count (a site id split wrongly across the slot's words would merge or scatter them).
    std::map<uint64_t, int> counts;
    uint32_t max_id = 0;
    for (size_t i = 0; i < dump.d.n_sites; i++) {
        counts[dump.d.sites[i].s.live_count]++;
        max_id = std::max(max_id, dump.d.sites[i].s.id);
    }
    CHECK(max_id >= 400);       // ids past 4 and 8 bits were used
    int found = 0;
    for (uint64_t n = 1; n <= 400; n++) found += counts[n] >= 1;
    CHECK(found == 400);
}
