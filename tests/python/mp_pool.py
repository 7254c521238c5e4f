# mp_pool.py MODE: a multiprocessing pool of 8 workers, each allocating. MODE "terminate":
# the pool's `with` block ends it with SIGTERM; "close": close() + join(), the workers leave
# through os._exit(). Neither runs the shim's exit dump in a worker.
import multiprocessing as mp
import os
import sys
import time


def work(n):
    time.sleep(0.02)            # long enough that every worker gets tasks
    return len(bytearray(200000 + n)), os.getpid()


if __name__ == "__main__":
    mp.set_start_method("fork")
    mode = sys.argv[1]
    with mp.Pool(8) as pool:
        # One task per worker at a time, so that every worker runs some.
        got = pool.map(work, range(64), chunksize=1)
        pids = {p for _, p in got}
        if mode == "close":
            pool.close()
            pool.join()
    print("workers", len(pids), "pids", " ".join(str(p) for p in sorted(pids)))
    print("env", os.environ.get("PYTHONMALLOC", "-"), os.environ.get("SESSTRIM_TRIM", "-"))
    sys.exit(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
