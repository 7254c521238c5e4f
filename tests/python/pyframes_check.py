# pyframes_check.py: run under the shim with SESSTRIM_STACKS=all by
# tests/scripts/test_python_frames.sh, on every CPython found. Allocates from Python code
# (frames expected), from a thread started in C that Python never sees, from Python
# threads calling malloc through ctypes without the GIL (no frames expected: skipped), and
# while the interpreter shuts down (atexit, __del__) and, with --daemons, from daemon
# threads. Each kind uses its own size so the test finds its site by total bytes.
#
# --daemons: daemon threads allocate while main runs, then park on an Event before main
# returns. Daemon threads still *running* Python when the interpreter exits hit a CPython
# bug (gh-87135, gh-110052: on 3.10 a daemon thread can take the GIL after Py_Finalize and
# read the freed interpreter), which any exit handler that takes time (the shim's exit
# dump) makes likely: 23 of 60 runs crashed on pyenv's 3.10.13 with SESSTRIM_STACKS=all,
# with Python frames off as well. --busy-daemons keeps them running, to measure that.
import atexit
import ctypes
import sys
import threading

PY_SIZE, NOGIL_SIZE, CTHREAD_SIZE = 555555, 777777, 654321
libc = ctypes.CDLL(None)                       # CDLL calls release the GIL
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
pthread_t = ctypes.c_ulong


def alloc_in_python(n):
    return bytearray(n - 1)                    # one malloc of n bytes


def nogil_worker(reps):
    for _ in range(reps):
        libc.free(libc.malloc(NOGIL_SIZE))
        alloc_in_python(4096)


def c_thread_mallocs(count):
    """pthread_create(malloc, size): a thread that exists only in C runs malloc(size)."""
    start = ctypes.cast(libc.malloc, ctypes.c_void_p)
    tids = []
    for _ in range(count):
        t = pthread_t()
        assert libc.pthread_create(ctypes.byref(t), None, start, ctypes.c_void_p(CTHREAD_SIZE)) == 0
        tids.append(t)
    for t in tids:
        ret = ctypes.c_void_p()
        libc.pthread_join(t, ctypes.byref(ret))
        libc.free(ret)


class Noisy:
    def __del__(self):
        bytearray(3000)                        # runs during finalization


park = threading.Event()
parked = threading.Semaphore(0)


def daemon_churn(busy):
    while busy or not park.is_set():
        bytearray(2000)
    parked.release()
    threading.Event().wait()                   # parked: never takes the GIL again


def main():
    held = [alloc_in_python(PY_SIZE) for _ in range(3)]
    threads = [threading.Thread(target=nogil_worker, args=(50,)) for _ in range(3)]
    for t in threads:
        t.start()
    c_thread_mallocs(4)
    for t in threads:
        t.join()
    busy = "--busy-daemons" in sys.argv
    daemons = 2 if busy or "--daemons" in sys.argv else 0
    if daemons:
        for _ in range(daemons):
            threading.Thread(target=daemon_churn, args=(busy,), daemon=True).start()
    atexit.register(lambda: bytearray(5000))
    sys.modules[__name__].noisy = Noisy()
    for _ in range(200):
        bytearray(100000)                      # while the daemons churn
    park.set()
    for _ in range(0 if busy else daemons):
        parked.acquire()                       # both are waiting before main returns
    print("ok", sys.version_info[0], sys.version_info[1], len(held))


main()
