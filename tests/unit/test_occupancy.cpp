// test_occupancy.cpp: page occupancy (issue 5): resident heap pages bucketed by live bytes
// agree with the program's own count of sparse pages, and PIN records name who holds them.
#include "testutil.hpp"
#include <sstream>

using namespace st;


// "key=value" from a program's output line.
static long field(const std::string &out, const std::string &key)
{
    auto at = out.find(key + "=");
    REQUIRE(at != std::string::npos);
    return std::stol(out.substr(at + key.size() + 1));
}

struct SparseRun {
    long survivors, survivor_size, chunk_bytes, sparse_pages, span_pages;
};

static SparseRun run_sparse(const std::string &dump_path, const std::string &where,
                            const std::map<std::string, std::string> &env)
{
    auto r = run({prog("occupancy_sparse"), dump_path, std::to_string(64l << 20), std::to_string(64l << 10), where},
                 env);
    INFO(r.err);
    REQUIRE(r.status == 0);
    return {field(r.out, "survivors"), field(r.out, "survivor_size"), field(r.out, "survivor_chunk_bytes"),
            field(r.out, "sparse_pages"), field(r.out, "span_pages")};
}

static const st_rec_occupancy *occupancy_of(const Dump &dump, uint32_t arena)
{
    for (size_t i = 0; i < dump.d.n_occupancy; i++)
        if (dump.d.occupancy[i].arena_id == arena) return &dump.d.occupancy[i];
    return nullptr;
}

// The arena that holds the survivors: the only one with exactly that many live blocks.
static uint32_t arena_with_count(const Dump &dump, uint64_t count)
{
    uint32_t found = UINT32_MAX;
    for (size_t i = 0; i < dump.d.n_arenas; i++)
        if (dump.d.arenas[i].live_count >= count && dump.d.arenas[i].live_count < count + 16) found = dump.d.arenas[i].id;
    return found;
}

static void check_histogram(const Dump &dump, uint32_t arena, const SparseRun &p)
{
    const st_rec_occupancy *occ = occupancy_of(dump, arena);
    REQUIRE(occ != nullptr);
    CHECK(occ->page_size == 4096);
    uint64_t resident = 0;
    for (int b = 0; b < ST_OCC_BUCKETS; b++) resident += occ->pages[b];
    INFO("buckets: empty " << occ->pages[0] << ", <=10% " << occ->pages[1] << ", 90-100% " << occ->pages[10]
                           << "; program: sparse " << p.sparse_pages << ", span " << p.span_pages);
    // Each survivor's page holds one 80-byte chunk (2% of a page): bucket 1. The few other
    // blocks of the arena (if any) may share a page or add one.
    CHECK(std::labs((long)occ->pages[1] - p.sparse_pages) <= 4);
    // Between the first and last survivor every page was written (resident) and is now free
    // but for the survivors; glibc keeps a little more resident around its top chunk.
    long empty_expected = p.span_pages - p.sparse_pages;
    CHECK((long)occ->pages[0] >= empty_expected - 4);
    CHECK((long)occ->pages[0] <= empty_expected + 64);
    // The arena's resident bytes (mincore in dump_records) agree with the pages counted here.
    const st_rec_arena *a = dump.arena(arena);
    REQUIRE(a != nullptr);
    CHECK(resident * 4096 == a->resident_bytes);
}

TEST_CASE("sparse thread arena: occupancy buckets match the program's arithmetic, PIN names the site")
{
    auto dir = tempdir();
    auto p = run_sparse(d(dir, "o.bin"), "thread", {{"SESSTRIM_STACKS", "all"}});
    Dump dump(d(dir, "o.bin"));
    REQUIRE(dump.ok);
    uint32_t arena = arena_with_count(dump, (uint64_t)p.survivors);
    REQUIRE(arena != UINT32_MAX);
    REQUIRE(arena != 0);                                  // a thread arena
    check_histogram(dump, arena, p);

    // The survivors' site: exactly their count and bytes (stacks=all is exact).
    uint32_t site = 0;
    for (size_t i = 0; i < dump.d.n_sites; i++)
        if (dump.d.sites[i].s.live_count == (uint64_t)p.survivors &&
            dump.d.sites[i].s.live_bytes == (uint64_t)(p.survivors * p.survivor_size))
            site = dump.d.sites[i].s.id;
    REQUIRE(site != 0);
    // The arena's top PIN record (written first, by pages) is that site, on every sparse page.
    const st_rec_pin *top = nullptr;
    size_t pins_here = 0;
    for (size_t i = 0; i < dump.d.n_pins; i++) {
        if (dump.d.pins[i].arena_id != arena) continue;
        pins_here++;
        if (!top) top = &dump.d.pins[i];
    }
    REQUIRE(top != nullptr);
    CHECK(pins_here <= 10);
    CHECK(top->site_id == site);
    CHECK(std::labs((long)top->pages - p.sparse_pages) <= 4);
    CHECK(top->bytes == (uint64_t)p.chunk_bytes);

    auto text = run({build() + "/sesstrim-report", d(dir, "o.bin")}, {}, false);
    REQUIRE(text.status == 0);
    CHECK(contains(text.out, "survivor_block (occupancy_sparse.c:"));
}

TEST_CASE("sparse brk heap (main arena) with stacks off: histogram still right, pins go to site 0")
{
    auto dir = tempdir();
    auto p = run_sparse(d(dir, "o.bin"), "main", {{"SESSTRIM_STACKS", "off"}});
    Dump dump(d(dir, "o.bin"));
    REQUIRE(dump.ok);
    check_histogram(dump, 0, p);
    const st_rec_pin *top = nullptr;
    for (size_t i = 0; i < dump.d.n_pins; i++)
        if (dump.d.pins[i].arena_id == 0 && !top) top = &dump.d.pins[i];
    REQUIRE(top != nullptr);
    CHECK(top->site_id == 0);                             // unknown: no stacks recorded
    // The brk heap also holds the program's other blocks: one may share a survivor's page.
    CHECK(std::labs((long)top->pages - p.sparse_pages) <= 4);
    const long chunk = p.chunk_bytes / p.survivors;
    CHECK((long)top->bytes >= p.chunk_bytes - 4 * chunk);
    CHECK((long)top->bytes <= p.chunk_bytes + 4 * 4096 / 10);
}

TEST_CASE("a dense heap has nearly every resident page in the top buckets")
{
    auto dir = tempdir();
    // stacks_paths keeps 1300 blocks live and frees nothing: no sparse pages to speak of.
    auto r = run({prog("stacks_paths"), d(dir, "s.bin"), "1000", "100", "300", "5000"}, {{"SESSTRIM_STACKS", "all"}});
    INFO(r.err);
    REQUIRE(r.status == 0);
    Dump dump(d(dir, "s.bin"));
    REQUIRE(dump.ok);
    const st_rec_occupancy *occ = occupancy_of(dump, 0);
    REQUIRE(occ != nullptr);
    uint64_t resident = 0, dense = occ->pages[9] + occ->pages[10];
    for (int b = 0; b < ST_OCC_BUCKETS; b++) resident += occ->pages[b];
    INFO("resident " << resident << " dense " << dense);
    CHECK(resident >= 1500000 / 4096);
    CHECK(dense * 100 >= resident * 95);
    CHECK(occ->pages[1] <= 2);
}
