# bench_workload.py: a Python workload for bench/bench_python.sh: JSON round trips,
# dicts and lists, bytearray buffers of mixed sizes, in a few threads, like a service's
# request handling. Sized to take about a second without the shim.
import json
import sys
import threading


def handle(seed, rounds):
    keep = []
    for i in range(rounds):
        doc = {"id": i, "seed": seed, "items": [{"k": j, "v": "x" * (j % 50)} for j in range(40)]}
        text = json.dumps(doc)
        back = json.loads(text)
        buf = bytearray(512 + (i * 7919) % 65536)
        keep.append((back["id"], len(buf)))
        if len(keep) > 64:
            keep.clear()
    return len(keep)


rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
threads = [threading.Thread(target=handle, args=(s, rounds)) for s in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
