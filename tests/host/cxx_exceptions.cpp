// cxx_exceptions: C++ exceptions thrown and caught on many threads at once, with strings and
// containers allocated on the way (unwinding runs libgcc_s's personality and the program's
// allocator). The shim's own unwinder must not replace or disturb the program's. Each
// thread also owns thread_local containers whose destructors free at thread exit.
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

static thread_local std::vector<std::string> per_thread;

static long thrower(int seed)
{
    long caught = 0;
    per_thread.assign(16, std::string(300, 'y'));   // freed by its destructor at thread exit
    for (int i = 0; i < 3000; i++) {
        try {
            std::vector<std::string> v;
            for (int k = 0; k < 4; k++) v.emplace_back(std::string(40 + (seed + i + k) % 200, 'x'));
            if ((i + seed) % 2) throw std::runtime_error("odd " + std::to_string(i));
            throw i;
        } catch (const std::runtime_error &e) {
            caught += e.what()[0] == 'o';
        } catch (int v) {
            caught += v == i;
        }
    }
    return caught;
}

int main()
{
    std::vector<std::thread> threads;
    std::vector<long> results(8);
    for (int t = 0; t < 8; t++) threads.emplace_back([t, &results] { results[t] = thrower(t); });
    for (auto &th : threads) th.join();
    long total = 0;
    for (long r : results) total += r;
    std::printf("caught %ld of %d exceptions\n", total, 8 * 3000);
    return total == 8 * 3000 ? 0 : 1;
}
