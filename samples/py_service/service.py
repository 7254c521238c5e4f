#!/usr/bin/env python3
# service.py: a Python decode service (issue 11's scenario). Client sessions submit frames
# to a ThreadPoolExecutor decode pool (numpy when installed, else bytearray); a heartbeat
# thread reports status; one client caches decoded frames and never lets go of them.
#
#   python3 -m sesstrim run --exact --trim idle=1s samples/py_service/service.py
#
# Prints its own bookkeeping for the test to check the report against:
#   baseline_rss BYTES           RSS before serving (imports done, heartbeat running)
#   leaked NAME bytes=B blocks=N what the leaking client still holds (sys.getsizeof: with
#                                PYTHONMALLOC=malloc every bytearray is a 56-byte object and
#                                its buffer, two mallocs; with pymalloc only the buffer)
#   idle_rss BYTES               RSS after the idle period (the trim policy ran meanwhile)
import argparse
import concurrent.futures
import os
import sys
import threading
import time

try:
    import numpy as np
except ImportError:          # bytearray decode: same sizes, same sessions
    np = None

import sesstrim

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def decode(frame_no, size):
    """Decode one frame: a few full-size temporaries, one result (freed by the client)."""
    if np is not None:
        raw = np.full(size, frame_no & 0xFF, dtype=np.uint8)
        wide = raw.astype(np.int16) * 3          # temporaries of 2x the frame
        return (wide >> 1).astype(np.uint8)
    raw = bytearray(size)
    raw[::4096] = bytes([frame_no & 0xFF]) * len(raw[::4096])
    wide = bytearray(2 * size)
    wide[:size] = raw
    return bytearray(wide[:size])


def checksum(frame):
    return int(frame[:: max(1, len(frame) // 64)].sum()) if np is not None else sum(frame[:: max(1, len(frame) // 64)])


class Client:
    def __init__(self, name, pool, frames, size, leak_every, cache):
        self.name, self.pool, self.frames, self.size = name, pool, frames, size
        self.leak_every, self.cache = leak_every, cache
        self.total = 0

    def serve(self):
        with sesstrim.session(self.name):
            futures = [self.pool.submit(decode, i, self.size + 4096 * i) for i in range(self.frames)]
            futures.reverse()
            i = 0
            while futures:                       # a done future holds its frame: drop both
                frame = futures.pop().result()
                self.total += checksum(frame)
                if self.leak_every and i % self.leak_every == 0:
                    self.keep_thumbnail(frame)   # the bug: a cache nobody evicts
                del frame
                i += 1

    def keep_thumbnail(self, frame):
        self.cache[self.cache.index(None)] = bytearray(memoryview(frame)[: len(frame) // 2])


def heartbeat(stop, beats):
    while not stop.wait(0.05):
        status = bytearray(4096)                  # a status report, freed each beat
        status[:8] = b"alive..."
        beats[0] += 1
        del status


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--frames", type=int, default=24, help="frames per client")
    ap.add_argument("--size", type=int, default=1 << 20, help="frame bytes")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--leaker", type=int, default=2, help="index of the leaking client")
    ap.add_argument("--idle", type=float, default=3.0, help="seconds idle after serving")
    args = ap.parse_args()

    stop, beats = threading.Event(), [0]
    hb = threading.Thread(target=heartbeat, args=(stop, beats), name="heartbeat", daemon=True)
    hb.start()
    # Made before any session: a slot list, so caching a frame allocates nothing but it.
    cache = [None] * args.frames
    baseline = rss_bytes()
    print("baseline_rss", baseline)
    print("decoder", "numpy" if np is not None else "bytearray")

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=args.workers, thread_name_prefix="decode")
    clients = [Client("client-%d" % i, pool, args.frames, args.size,
                      4 if i == args.leaker else 0, cache) for i in range(args.clients)]
    # Two waves, so the pool grows inside the first clients' sessions (the pool-thread
    # inheritance trap) and the leaker is not the first to run this code.
    for wave in (clients[: len(clients) // 2], clients[len(clients) // 2:]):
        threads = [threading.Thread(target=c.serve, name=c.name) for c in wave]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    held = [b for b in cache if b is not None]
    print("leaked %s bytes=%d blocks=%d" % (
        clients[args.leaker].name, sum(sys.getsizeof(b) if os.environ.get("PYTHONMALLOC") == "malloc"
                                       else len(b) + 1 for b in held),
        len(held) * (2 if os.environ.get("PYTHONMALLOC") == "malloc" else 1)))
    print("served", sum(c.total for c in clients) & 0xFFFF, "beats>0", beats[0] > 0)
    sys.stdout.flush()
    time.sleep(args.idle)                         # idle: the trim policy's turn
    print("idle_rss", rss_bytes())
    stop.set()
    hb.join()


if __name__ == "__main__":
    main()
