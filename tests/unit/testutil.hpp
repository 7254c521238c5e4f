// testutil.hpp: what the Catch2 tests share: paths, running a program with an environment
// (with or without the shim), temporary directories and loading dumps.
#pragma once
#include <catch2/catch.hpp>
#include <string>
#include <vector>
#include <map>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include "dump_reader.h"

namespace st {

// Repository root and build dir: tests/run.sh exports ST_ROOT and ST_BUILD.
inline std::string root() { const char *r = getenv("ST_ROOT"); return r ? r : "."; }
inline std::string build() { const char *b = getenv("ST_BUILD"); return b ? b : root() + "/build"; }
inline std::string lib() { return build() + "/libsesstrim.so"; }
inline std::string prog(const std::string &name) { return build() + "/tests/progs/" + name; }

// A file in a test's directory.
inline std::string d(const std::string &dir, const std::string &name) { return dir + "/" + name; }

inline std::string tempdir()
{
    char tmpl[] = "/tmp/sesstrim-test-XXXXXX";
    char *d = mkdtemp(tmpl);
    REQUIRE(d != nullptr);
    return d;
}

struct Result { int status = -1; std::string out, err; };

inline std::string slurp_fd(int fd)
{
    std::string s; char buf[4096]; ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) s.append(buf, (size_t)n);
    return s;
}

// Run argv with the current environment plus `env` (an empty value unsets the variable).
// preload=true puts the shim in LD_PRELOAD, false removes any LD_PRELOAD.
inline Result run(const std::vector<std::string> &argv, const std::map<std::string, std::string> &env,
                  bool preload = true, const std::string &stdin_data = "")
{
    char outt[] = "/tmp/sesstrim-out-XXXXXX", errt[] = "/tmp/sesstrim-err-XXXXXX";
    int ofd = mkstemp(outt), efd = mkstemp(errt);
    REQUIRE(ofd >= 0); REQUIRE(efd >= 0);
    int inpipe[2]; REQUIRE(pipe(inpipe) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        dup2(inpipe[0], 0); dup2(ofd, 1); dup2(efd, 2);
        close(inpipe[1]);
        if (preload) setenv("LD_PRELOAD", lib().c_str(), 1); else unsetenv("LD_PRELOAD");
        for (auto &kv : env) {
            if (kv.second.empty()) unsetenv(kv.first.c_str());
            else setenv(kv.first.c_str(), kv.second.c_str(), 1);
        }
        std::vector<char *> a;
        for (auto &s : argv) a.push_back(const_cast<char *>(s.c_str()));
        a.push_back(nullptr);
        execvp(a[0], a.data());
        _exit(127);
    }
    close(inpipe[0]);
    if (!stdin_data.empty()) { ssize_t w = write(inpipe[1], stdin_data.data(), stdin_data.size()); (void)w; }
    close(inpipe[1]);
    Result r; int st = 0;
    waitpid(pid, &st, 0);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    lseek(ofd, 0, SEEK_SET); lseek(efd, 0, SEEK_SET);
    r.out = slurp_fd(ofd); r.err = slurp_fd(efd);
    close(ofd); close(efd); unlink(outt); unlink(errt);
    return r;
}

// A loaded dump that frees itself.
struct Dump {
    st_dump d{};
    bool ok = false;
    std::string error;
    explicit Dump(const std::string &path)
    {
        char err[512] = "";
        ok = st_dump_load(path.c_str(), &d, err, sizeof err) == 0;
        error = err;
    }
    ~Dump() { if (ok) st_dump_free(&d); }
    Dump(const Dump &) = delete;
    Dump &operator=(const Dump &) = delete;
    const st_rec_arena *arena(uint32_t id) const
    {
        for (size_t i = 0; i < d.n_arenas; i++) if (d.arenas[i].id == id) return &d.arenas[i];
        return nullptr;
    }
    const st_rec_thread *thread_named(const std::string &name) const
    {
        for (size_t i = 0; i < d.n_threads; i++) if (name == d.threads[i].name) return &d.threads[i];
        return nullptr;
    }
    const st_rec_session *session_named(const std::string &name) const
    {
        for (size_t i = 0; i < d.n_sessions; i++) if (name == d.sessions[i].name) return &d.sessions[i];
        return nullptr;
    }
};

inline bool file_exists(const std::string &p) { struct stat sb; return stat(p.c_str(), &sb) == 0; }
inline bool contains(const std::string &hay, const std::string &needle) { return hay.find(needle) != std::string::npos; }

} // namespace st
