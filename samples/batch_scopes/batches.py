# batches.py: the Ray case in Python: a job session with nested batch sessions (a `with`
# block and a @scoped function), each keeping one result buffer for the job.
"""Usage: LD_PRELOAD=build/libsesstrim.so PYTHONPATH=python python3 batches.py DUMP_PATH

Results and scratch space are native buffers (malloc through ctypes), like the object
store buffers of Ray tasks: CPython serves small objects from its own pools, which the
shim does not see, so native buffers are what a batch's accounting is about.

Prints the script's own bookkeeping, which the report must match:
    batch NAME leftover=0
    job live=B kept=K kept_count=N
"""

import ctypes
import sys

import sesstrim

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.restype = None
libc.free.argtypes = [ctypes.c_void_p]

JOB_INPUT = 16384
TASKS = 4


def task(batch, index):
    """One task: scratch space, then a result buffer. Returns (address, size)."""
    scratch_size = 2048 + 100 * index
    scratch = libc.malloc(scratch_size)
    ctypes.memset(scratch, index, scratch_size)
    size = 3000 * (batch + 1) + 16 * index
    result = libc.malloc(size)
    ctypes.memset(result, 1, size)
    libc.free(scratch)
    return result, size


def run_batch(batch, keep=True):
    """Run the tasks, keep one result for the caller's session, free the rest."""
    results = [task(batch, i) for i in range(TASKS)]
    chosen = results[batch % TASKS]
    for address, _ in results:
        if address != chosen[0]:
            libc.free(address)
    if keep and sesstrim.active() and not sesstrim.keep(chosen[0]):
        print("keep failed", file=sys.stderr)
    return chosen


@sesstrim.scoped("py-job/batch-scoped")
def scoped_batch():
    return run_batch(1)


def main(dump_path):
    # Warm-up outside any session, so ctypes and the interpreter settle first.
    libc.free(run_batch(0, keep=False)[0])
    lines = []
    with sesstrim.session("py-job") as job:
        job_input = libc.malloc(JOB_INPUT)
        ctypes.memset(job_input, 7, JOB_INPUT)
        with sesstrim.session("py-job/batch-with"):
            first = run_batch(0)
        lines.append("batch py-job/batch-with leftover=0")
        second = scoped_batch()
        lines.append("batch py-job/batch-scoped leftover=0")
        kept = first[1] + second[1]
        ok = sesstrim.dump(dump_path)
        lines.append("job live=%d kept=%d kept_count=2" % (JOB_INPUT + kept, kept))
        lines.append("dump %s rc=%d" % (dump_path, 0 if ok else -1))
        lines.append("job id=%d" % job.id)
    print("\n".join(lines))
    for address in (first[0], second[0], job_input):
        libc.free(address)
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
