// test_report_reader.cpp: the dump reader in-process: every truncation and every flipped byte
// of a valid dump is refused with one line, newer writers' dumps load, symbols resolve offline.
#include "testutil.hpp"
#include "report.h"
#include <elfutils/libdwelf.h>
#include <gelf.h>
#include <fstream>
#include <iterator>

namespace {

std::string make_dump(const std::string &spec, const std::vector<std::string> &flags = {})
{
    std::string dir = st::tempdir();
    std::ofstream(dir + "/d.spec") << spec;
    std::vector<std::string> argv{st::prog("dumpgen")};
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.push_back(dir + "/d.spec");
    argv.push_back(dir + "/d.bin");
    st::Result r = st::run(argv, {}, false);
    INFO(r.err);
    REQUIRE(r.status == 0);
    return dir + "/d.bin";
}

std::string slurp(const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

const char *spec_all =
    "process pid=7 ppid=1 rss_bytes=64M exe=/bin/x\n"
    "arena id=0 kind=0 live_bytes=1M\narena id=1 kind=1 live_bytes=2M\n"
    "thread idx=0 name=main\nxfree freer_idx=0 alloc_idx=1 count=1 bytes=8\n"
    "mmaps anon_bytes=4096 anon_count=1\nmapping start=0x1000 end=0x2000 rss=4096 kind=4 name=[anon]\n"
    "session id=1 name=s\nsession_summary folded_sessions=3\nsession_site session_id=1 site_id=1 bytes=9\n"
    "site id=1 frames=0x10,0x20,0x30\nmodule base=0x400000 size=0x1000 path=/bin/x build_id=abcd\n"
    "trim seq=1 trigger=6\ntrim_arena seq=1 arena_id=1\ntimeline time_ns=1 resident=5,6\n"
    "occupancy arena_id=1 pages=1,2,3,4,5,6,7,8,9,10,11\npin arena_id=1 site_id=1 pages=2\n"
    "pyframe id=1 line=12 file=app.py func=handler\n";

} // namespace

TEST_CASE("every record type is read back with its values", "[reader]")
{
    st::Dump d(make_dump(spec_all));
    REQUIRE(d.ok);
    CHECK(d.d.process.pid == 7);
    CHECK(std::string(d.d.process.exe) == "/bin/x");
    CHECK(d.d.n_arenas == 2);
    CHECK(d.arena(1)->live_bytes == 2u << 20);
    CHECK(d.d.n_threads == 1);
    CHECK(d.d.n_xfrees == 1);
    CHECK(d.d.has_mmaps);
    CHECK(d.d.mmaps.anon_bytes == 4096);
    REQUIRE(d.d.n_mappings == 1);
    CHECK(std::string(d.d.mappings[0].name) == "[anon]");
    CHECK(d.d.n_sessions == 1);
    CHECK(d.d.has_session_summary);
    CHECK(d.d.session_summary.folded_sessions == 3);
    CHECK(d.d.n_session_sites == 1);
    REQUIRE(d.d.n_sites == 1);
    REQUIRE(d.d.sites[0].s.nframes == 3);
    CHECK(d.d.sites[0].frames[2] == 0x30);
    REQUIRE(d.d.n_modules == 1);
    CHECK(std::string(d.d.modules[0].path) == "/bin/x");
    CHECK(d.d.modules[0].m.build_id_len == 2);
    CHECK(d.d.modules[0].m.build_id[1] == 0xcd);
    CHECK(d.d.n_trims == 1);
    CHECK(d.d.n_trim_arenas == 1);
    REQUIRE(d.d.n_timeline == 1);
    REQUIRE(d.d.timeline[0].t.narenas == 2);
    CHECK(d.d.timeline[0].arena_resident[1] == 6);
    REQUIRE(d.d.n_occupancy == 1);
    CHECK(d.d.occupancy[0].pages[10] == 11);
    CHECK(d.d.n_pins == 1);
    REQUIRE(d.d.n_pyframes == 1);
    CHECK(d.d.pyframes[0].p.line == 12);
    CHECK(std::string(d.d.pyframes[0].file) == "app.py");
    CHECK(std::string(d.d.pyframes[0].func) == "handler");
    CHECK(d.d.unknown_records == 0);
}

TEST_CASE("every truncation and every flipped byte is refused with one line", "[reader]")
{
    std::string data = slurp(make_dump(spec_all));
    REQUIRE(data.size() > 100);
    st_dump d;
    char err[512];
    for (size_t len = 0; len < data.size(); len++) {
        INFO("length " << len);
        REQUIRE(st_dump_parse(data.data(), len, &d, err, sizeof err) != 0);
        REQUIRE(strchr(err, '\n') == nullptr);
        REQUIRE(strlen(err) > 0);
        REQUIRE(st::contains(err, len == 0 ? "empty" : "truncated"));
    }
    for (size_t pos = 0; pos < data.size(); pos++) {
        std::string bad = data;
        bad[pos] ^= 0x20;
        INFO("flipped byte " << pos);
        REQUIRE(st_dump_parse(bad.data(), bad.size(), &d, err, sizeof err) != 0);
        REQUIRE(strchr(err, '\n') == nullptr);
    }
    REQUIRE(st_dump_parse(data.data(), data.size(), &d, err, sizeof err) == 0);
    st_dump_free(&d);
}

TEST_CASE("a newer writer: longer records and unknown types load", "[reader][compat]")
{
    // fixed=200: the arena record carries 72 bytes this reader does not know.
    st::Dump d(make_dump("process pid=8\narena id=3 live_bytes=5 threads_seen=9 fixed=200\n"
                         "record type=4000 fixed=8 total=64\nsite id=2 frames=0x77 fixed=64\n"));
    INFO(d.error);
    REQUIRE(d.ok);
    CHECK(d.d.unknown_records == 1);
    REQUIRE(d.arena(3) != nullptr);
    CHECK(d.arena(3)->live_bytes == 5);
    CHECK(d.arena(3)->threads_seen == 9);
    // The frames follow the writer's 64-byte fixed part, not this reader's 40 bytes.
    REQUIRE(d.d.n_sites == 1);
    REQUIRE(d.d.sites[0].s.nframes == 1);
    CHECK(d.d.sites[0].frames[0] == 0x77);
}

TEST_CASE("limits: huge records, counts beyond the bytes, a second PROCESS", "[reader]")
{
    struct Case { const char *spec; const char *word; };
    for (auto c : std::vector<Case>{{"process pid=1\narena claim_total=0x8000000\n", "exceeds"},
                                    {"process pid=1\nsite frames=1 nframes=3\n", "do not fit"},
                                    {"process pid=1\nprocess pid=2\n", "PROCESS"},
                                    {"arena id=1\n", "no PROCESS"},
                                    {"process pid=1\nmmaps\nmmaps\n", "MMAPS"}}) {
        st::Dump d(make_dump(c.spec));
        INFO(c.spec << " -> " << d.error);
        CHECK_FALSE(d.ok);
        CHECK(st::contains(d.error, c.word));
    }
}

// The address of `main` and the build id of a binary, read with libelf.
static bool elf_facts(const std::string &path, uint64_t *main_addr, std::string *build_id)
{
    elf_version(EV_CURRENT);
    int fd = open(path.c_str(), O_RDONLY);
    if (fd < 0) return false;
    Elf *e = elf_begin(fd, ELF_C_READ, nullptr);
    bool found = false;
    const void *id = nullptr;
    ssize_t n = dwelf_elf_gnu_build_id(e, &id);
    for (ssize_t i = 0; i < n; i++) {
        char h[3];
        snprintf(h, sizeof h, "%02x", ((const unsigned char *)id)[i]);
        *build_id += h;
    }
    for (Elf_Scn *scn = nullptr; (scn = elf_nextscn(e, scn));) {
        GElf_Shdr sh;
        gelf_getshdr(scn, &sh);
        if (sh.sh_type != SHT_SYMTAB) continue;
        Elf_Data *data = elf_getdata(scn, nullptr);
        for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
            GElf_Sym sym;
            gelf_getsym(data, (int)i, &sym);
            const char *name = elf_strptr(e, sh.sh_link, sym.st_name);
            if (name && strcmp(name, "main") == 0) { *main_addr = sym.st_value; found = true; }
        }
    }
    elf_end(e);
    close(fd);
    return found && n > 0;
}

TEST_CASE("sites are symbolised offline with libdw; a different build id falls back", "[report][symbols]")
{
    std::string bin = st::prog("dumpgen");
    uint64_t main_addr = 0;
    std::string build_id;
    REQUIRE(elf_facts(bin, &main_addr, &build_id));
    const uint64_t base = 0x555500000000ull;
    char frame[64];
    snprintf(frame, sizeof frame, "0x%llx", (unsigned long long)(base + main_addr + 4));
    std::string spec = std::string("process pid=9 flags=8\nsite id=1 live_bytes=1M frames=") + frame +
                       "\nmodule base=" + std::to_string(base) + " size=0x100000 path=" + bin + " build_id=";
    std::string wrong = build_id;
    wrong[0] = wrong[0] == '0' ? '1' : '0';

    st::Result good = st::run({st::build() + "/sesstrim-report", make_dump(spec + build_id + "\n")}, {}, false);
    INFO(good.out << good.err);
    CHECK(st::contains(good.out, "main (dumpgen.c:"));

    char off[64];
    snprintf(off, sizeof off, "dumpgen+0x%llx", (unsigned long long)(main_addr + 4));
    st::Result stale = st::run({st::build() + "/sesstrim-report", make_dump(spec + wrong + "\n")}, {}, false);
    CHECK(st::contains(stale.out, off));
    CHECK_FALSE(st::contains(stale.out, "main (dumpgen.c:"));
    st::Result plain = st::run({st::build() + "/sesstrim-report", "--no-symbols", make_dump(spec + build_id + "\n")},
                               {}, false);
    CHECK(st::contains(plain.out, off));
}
