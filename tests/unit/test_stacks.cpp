// test_stacks.cpp: allocation stacks (issue 5): sites per call path with exact live bytes
// under SESSTRIM_STACKS=all, the module map with build ids, off, sampling rate, and fork.
#include "testutil.hpp"
#include "report.h"
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <gelf.h>
#include <libelf.h>
#include <sstream>
#include <vector>

using namespace st;


// The GNU build id of an ELF file, read here with libelf (not with the shim's code).
static std::vector<uint8_t> build_id_of_file(const std::string &path)
{
    std::vector<uint8_t> id;
    elf_version(EV_CURRENT);
    int fd = open(path.c_str(), O_RDONLY);
    if (fd < 0) return id;
    Elf *e = elf_begin(fd, ELF_C_READ, nullptr);
    for (Elf_Scn *scn = nullptr; e && id.empty() && (scn = elf_nextscn(e, scn));) {
        GElf_Shdr sh;
        if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE) continue;
        Elf_Data *data = elf_getdata(scn, nullptr);
        GElf_Nhdr nh;
        size_t off = 0, name_off, desc_off;
        while (data && (off = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
            if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
                !memcmp((char *)data->d_buf + name_off, "GNU", 4)) {
                auto *p = (uint8_t *)data->d_buf + desc_off;
                id.assign(p, p + nh.n_descsz);
                break;
            }
        }
    }
    if (e) elf_end(e);
    close(fd);
    return id;
}

static const st_dump_site *site_with(const Dump &dump, uint64_t count, uint64_t bytes)
{
    const st_dump_site *found = nullptr;
    for (size_t i = 0; i < dump.d.n_sites; i++) {
        const auto &s = dump.d.sites[i];
        if (s.s.live_count == count && s.s.live_bytes == bytes) {
            if (found) return nullptr;  // must be unique
            found = &s;
        }
    }
    return found;
}

static std::string real(const std::string &p)
{
    char buf[PATH_MAX];
    return realpath(p.c_str(), buf) ? buf : p;
}

TEST_CASE("stacks=all: two call paths give two sites with exact live bytes, symbolised by the report")
{
    auto dir = tempdir();
    const long count_a = 1000, size_a = 100, count_b = 300, size_b = 5000;
    auto r = run({prog("stacks_paths"), d(dir, "s.bin"), std::to_string(count_a), std::to_string(size_a),
                  std::to_string(count_b), std::to_string(size_b)},
                 {{"SESSTRIM_STACKS", "all"}});
    INFO(r.err);
    REQUIRE(r.status == 0);
    Dump dump(d(dir, "s.bin"));
    REQUIRE(dump.ok);
    CHECK((dump.d.process.flags & ST_PROC_STACKS));
    CHECK(dump.d.process.stack_sample_bytes == 1);

    const st_dump_site *a = site_with(dump, count_a, count_a * size_a);
    const st_dump_site *b = site_with(dump, count_b, count_b * size_b);
    REQUIRE(a != nullptr);
    REQUIRE(b != nullptr);
    CHECK(a->s.id != b->s.id);
    CHECK(a->s.total_allocs == (uint64_t)count_a);      // every allocation sampled, none freed
    CHECK(a->s.total_bytes == (uint64_t)(count_a * size_a));
    CHECK(b->s.total_bytes == (uint64_t)(count_b * size_b));
    REQUIRE(a->s.nframes >= 2);
    REQUIRE(b->s.nframes >= 2);
    CHECK(a->frames[0] != b->frames[0]);                 // innermost frames: two functions
    CHECK(a->s.nframes <= 32);

    // The main executable is in the module map with its build id, and covers both frames.
    const std::string exe = real(prog("stacks_paths"));
    const st_dump_module *main_mod = nullptr;
    for (size_t i = 0; i < dump.d.n_modules; i++)
        if (dump.d.modules[i].path == exe) main_mod = &dump.d.modules[i];
    REQUIRE(main_mod != nullptr);
    auto want = build_id_of_file(exe);
    REQUIRE(!want.empty());
    REQUIRE(main_mod->m.build_id_len == want.size());
    CHECK(memcmp(main_mod->m.build_id, want.data(), want.size()) == 0);
    for (auto *s : {a, b}) {
        CHECK(s->frames[0] >= main_mod->m.base);
        CHECK(s->frames[0] - main_mod->m.base < main_mod->m.size);
    }
    bool has_libc = false;
    for (size_t i = 0; i < dump.d.n_modules; i++) has_libc |= contains(dump.d.modules[i].path, "libc.so");
    CHECK(has_libc);

    // Offline symbolisation names the functions and their source lines.
    auto text = run({build() + "/sesstrim-report", d(dir, "s.bin")}, {}, false);
    INFO(text.out);
    REQUIRE(text.status == 0);
    CHECK(contains(text.out, "build_path_a (stacks_paths.c:"));
    CHECK(contains(text.out, "build_path_b (stacks_paths.c:"));
    CHECK(contains(text.out, "main (stacks_paths.c:"));
}

TEST_CASE("stacks=off records no sites and no modules")
{
    auto dir = tempdir();
    auto r = run({prog("stacks_paths"), d(dir, "s.bin"), "1000", "100", "300", "5000"}, {{"SESSTRIM_STACKS", "off"}});
    INFO(r.err);
    REQUIRE(r.status == 0);
    Dump dump(d(dir, "s.bin"));
    REQUIRE(dump.ok);
    CHECK(dump.d.n_sites == 0);
    CHECK(dump.d.n_modules == 0);
    CHECK(dump.d.process.stack_sample_bytes == 0);
    CHECK(dump.d.process.live_count >= 1300);   // tracking itself still runs
}

TEST_CASE("stacks=sample=1M over 100 MiB takes about 100 samples and estimates the bytes")
{
    auto dir = tempdir();
    const double total = 100.0 * (1 << 20), block = 65536, mean = 1 << 20;
    auto r = run({prog("stacks_sample"), d(dir, "s.bin"), std::to_string((long)total), std::to_string((long)block)},
                 {{"SESSTRIM_STACKS", "sample=1M"}});
    INFO(r.err);
    REQUIRE(r.status == 0);
    Dump dump(d(dir, "s.bin"));
    REQUIRE(dump.ok);
    CHECK(dump.d.process.stack_sample_bytes == (uint64_t)mean);
    // The churn site is the one that allocated the most; every block was freed again.
    const st_dump_site *churn = nullptr;
    for (size_t i = 0; i < dump.d.n_sites; i++)
        if (!churn || dump.d.sites[i].s.total_bytes > churn->s.total_bytes) churn = &dump.d.sites[i];
    REQUIRE(churn != nullptr);
    CHECK(churn->s.live_bytes == 0);
    // A block is sampled with probability p = 1 - e^(-block/mean); each sample stands for
    // 1/p blocks, so samples = total_allocs * p. Expected 1600 * 0.0606 = 97, sd ~9.5.
    const double p = 1 - std::exp(-block / mean);
    const double samples = (double)churn->s.total_allocs * p;
    INFO("samples " << samples << " estimated bytes " << churn->s.total_bytes);
    CHECK(samples >= 50);
    CHECK(samples <= 200);
    CHECK((double)churn->s.total_bytes >= 0.5 * total);
    CHECK((double)churn->s.total_bytes <= 2.0 * total);
    // One block size: the byte estimate is the count estimate times the block.
    CHECK(std::fabs((double)churn->s.total_bytes - (double)churn->s.total_allocs * block) <= block);
}

TEST_CASE("stacks=all with threads unwinding while the main thread forks: every child finishes")
{
    auto r = run({prog("stacks_fork"), "100"}, {{"SESSTRIM_STACKS", "all"}});
    INFO(r.out << r.err);
    CHECK(r.status == 0);
    CHECK(contains(r.out, "failed=0"));
}

TEST_CASE("C++ frames are shown demangled")
{
    auto dir = tempdir();
    auto r = run({prog("stacks_cxxname"), d(dir, "c.bin")}, {{"SESSTRIM_STACKS", "all"}});
    INFO(r.err);
    REQUIRE(r.status == 0);
    auto text = run({build() + "/sesstrim-report", d(dir, "c.bin")}, {}, false);
    INFO(text.out);
    REQUIRE(text.status == 0);
    CHECK(contains(text.out, "store::Table::grow(unsigned int) (stacks_cxxname.c:"));
    CHECK(!contains(text.out, "_ZN5store5Table4growEj"));
}

TEST_CASE("sampled sites ship their raw live samples; the reader scales them, bounded by the exact totals")
{
    auto dir = tempdir();
    const double mean = 64 * 1024;
    // 300 blocks of 5000 bytes and 1000 of 100 bytes stay live: about 23 samples expected.
    auto r = run({prog("stacks_paths"), d(dir, "s.bin"), "1000", "100", "300", "5000"},
                 {{"SESSTRIM_STACKS", "sample=64K"}});
    INFO(r.err);
    REQUIRE(r.status == 0);
    Dump dump(d(dir, "s.bin"));
    REQUIRE(dump.ok);
    REQUIRE(dump.d.process.stack_sample_bytes == (uint64_t)mean);
    uint64_t raw_count = 0;
    for (size_t i = 0; i < dump.d.n_sites; i++) {
        const auto &s = dump.d.sites[i].s;
        if (!s.sampled_live_count) continue;
        raw_count += s.sampled_live_count;
        // Scaled offline from the raw figures (same formula as the sampler), never above the
        // exact live totals of the process.
        double size = (double)s.sampled_live_bytes / (double)s.sampled_live_count;
        double p = -std::expm1(-(size < 1 ? 1 : size) / mean);
        double want = std::min((double)s.sampled_live_count / p, (double)dump.d.process.live_count);
        CHECK(std::fabs((double)s.live_count - want) <= 1.0);
        CHECK(s.live_bytes <= dump.d.process.live_bytes);
        CHECK(s.sampled_live_count <= s.live_count);
    }
    INFO("raw live samples " << raw_count);
    CHECK(raw_count >= 3);
}

// Issue 10: frames are named against the modules loaded when they were captured. Library A
// is loaded, allocates, is unloaded; library B (the same code under other names) is then
// mapped at the same addresses and allocates too. A's frames must still read as A's.
TEST_CASE("a library unloaded during the run keeps its frames' names when another is loaded where it was")
{
    auto dir = tempdir();
    const std::string lib_a = real(prog("libplug_a.so")), lib_b = real(prog("libplug_b.so"));
    auto r = run({prog("stacks_dlopen"), d(dir, "s.bin"), lib_a, lib_b, "100", "3000", "200", "5000"},
                 {{"SESSTRIM_STACKS", "all"}});
    INFO(r.out << r.err);
    REQUIRE(r.status == 0);
    unsigned long base_a = 0, base_b = 0;
    REQUIRE(sscanf(r.out.c_str(), "base_a=%lx base_b=%lx", &base_a, &base_b) == 2);
    REQUIRE(base_a == base_b);   // else this run does not test the reuse of an address range
    Dump dump(d(dir, "s.bin"));
    REQUIRE(dump.ok);
    const st_dump_site *a = site_with(dump, 100, 300000), *b = site_with(dump, 200, 1000000);
    REQUIRE(a != nullptr);
    REQUIRE(b != nullptr);
    CHECK(a->frames[0] == b->frames[0]);   // the same return address in both libraries
    CHECK(a->s.module_epoch < b->s.module_epoch);
    // A stack in code that was never unloaded stays one site across the unload.
    const st_dump_site *m = site_with(dump, 14, 14 * 777);
    CHECK(m != nullptr);
    // Both libraries are in the module map, A gone before B came.
    const st_dump_module *ma = nullptr, *mb = nullptr;
    for (size_t i = 0; i < dump.d.n_modules; i++) {
        if (dump.d.modules[i].path == lib_a) ma = &dump.d.modules[i];
        if (dump.d.modules[i].path == lib_b) mb = &dump.d.modules[i];
    }
    REQUIRE(ma != nullptr);
    REQUIRE(mb != nullptr);
    CHECK(ma->m.base == mb->m.base);
    CHECK(ma->m.gone_epoch != 0);
    CHECK(ma->m.gone_epoch <= mb->m.first_epoch);
    CHECK(mb->m.gone_epoch == 0);               // still loaded at dump time
    // The one frame formatter names each site's frames from its own library.
    for (auto [site, fn] : {std::pair{a, "plug_a_"}, std::pair{b, "plug_b_"}}) {
        struct st_symbolizer *sym = symbolizer_new(&dump.d);
        char where[512];
        symbolize_frame(sym, site, 0, where, sizeof where);
        INFO(where);
        CHECK(contains(where, std::string(fn) + "block (plug_body.h:"));
        symbolize_frame(sym, site, 1, where, sizeof where);
        CHECK(contains(where, std::string(fn) + "fill (plug_body.h:"));
        symbolizer_free(sym);
    }
    auto text = run({build() + "/sesstrim-report", d(dir, "s.bin")}, {}, false);
    INFO(text.out);
    REQUIRE(text.status == 0);
    CHECK(contains(text.out, "plug_a_block (plug_body.h:"));
    CHECK(contains(text.out, "plug_b_block (plug_body.h:"));
}
