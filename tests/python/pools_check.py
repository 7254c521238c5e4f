# pools_check.py: run by tests/scripts/test_python_pools.sh under the shim. A pool grows
# lazily inside client-0's session; later clients submit work that allocates and keeps
# buffers. Prints one JSON object of what each session owns, per pool flavour.
import concurrent.futures as cf
import json
import sys
import warnings

import sesstrim

N = 300000                      # a bytearray of N bytes is one malloc of N + 1
held = []


def work(tag):
    buf = bytearray(N)          # stays alive in `held`: owned by whoever ran this
    held.append(buf)
    return sesstrim.current()


def scenario(make_pool):
    out = {}
    pool = make_pool()
    c0 = sesstrim.begin("client-0")
    # The pool's first worker is created here, inside client-0: it inherits client-0.
    out["first_in_c0"] = pool.submit(lambda: sesstrim.current()).result() == c0
    sesstrim.leave(c0)
    c1 = sesstrim.begin("client-1")
    ran_in = pool.submit(work, "c1").result()
    sesstrim.leave(c1)
    # Work submitted outside any session.
    out["outside_current"] = pool.submit(lambda: sesstrim.current()).result()
    pool.shutdown(wait=True)
    out["c1_ran_in_c1"] = ran_in == c1
    out["c0_live"] = sesstrim.stats(c0)["live_bytes"]
    out["c1_live"] = sesstrim.stats(c1)["live_bytes"]
    sesstrim.end(c0)
    sesstrim.end(c1)
    return out


res = {"expect": N + 1}
res["plain"] = scenario(lambda: cf.ThreadPoolExecutor(max_workers=1))
res["executor"] = scenario(lambda: sesstrim.Executor(max_workers=1))
sesstrim.propagate_to_pools(True)
res["propagated"] = scenario(lambda: cf.ThreadPoolExecutor(max_workers=1))
sesstrim.propagate_to_pools(False)

# keep() in a top-level session: False with a warning that says why.
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    with sesstrim.session("top") as top:
        buf = bytearray(100000)
        res["keep_top"] = top.keep(buf)
        left = sesstrim.stats(top.id)
    res["keep_warning"] = [str(w.message) for w in caught if w.category is sesstrim.SesstrimWarning]
    res["top_stats_before_end"] = left
    res["keep_bad_addr"] = sesstrim.keep(12345)
    res["keep_bad_warning"] = [str(w.message) for w in caught][-1:]
print(json.dumps(res))
