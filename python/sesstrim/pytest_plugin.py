# sesstrim/pytest_plugin.py: each test's call runs in its own sesstrim session; a test that
# leaves more than its limit behind fails with the allocation sites of what it left, and the
# terminal summary lists the tests that left the most. The anchor is pytest-memray's
# limit_leaks; the difference is that sesstrim counts what reaches malloc, in-process.
#
#   pytest -p sesstrim.pytest_plugin [--sesstrim-limit 1M] [--sesstrim-top 5]
#   pytest --sesstrim ...            (the package's pytest11 entry point, once installed)
#
# Active when loaded with -p sesstrim.pytest_plugin or when --sesstrim is given (installed,
# the entry point loads it into every pytest run: inert there unless asked). If the shim is
# not preloaded, the plugin re-executes pytest with LD_PRELOAD set (the shim must be in the
# process from its start); SESSTRIM_PYTEST_NO_REEXEC=1 turns that off.
import gc
import os
import re
import sys
import tempfile

import pytest

import sesstrim
from sesstrim import _native

_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)(?:i?B)?\s*$", re.I)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text):
    """'1M', '512K', '1.5G', '4096' (bytes; powers of 1024, as in SESSTRIM_*). ValueError
    on anything else."""
    if isinstance(text, int):
        return text
    m = _SIZE.match(str(text))
    if not m:
        raise ValueError("not a size: %r (use e.g. 4096, 512K, 1M, 1.5G)" % (text,))
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


def pytest_addoption(parser):
    group = parser.getgroup("sesstrim", "sesstrim: per-test sessions and leftover limits")
    group.addoption("--sesstrim", action="store_true", default=False,
                    help="run each test in its own sesstrim session (implied by "
                         "-p sesstrim.pytest_plugin)")
    group.addoption("--sesstrim-limit", default=None, metavar="SIZE",
                    help="fail a test whose call leaves more than SIZE bytes allocated "
                         "(K/M/G suffixes); default: no limit, only @pytest.mark.sesstrim_limit")
    group.addoption("--sesstrim-top", default=5, type=int, metavar="N",
                    help="tests listed in the summary of what tests left (default 5)")


def _explicitly_loaded(config):
    args = list(config.invocation_params.args)
    for i, a in enumerate(args):
        if a == "-p" and i + 1 < len(args) and args[i + 1] == __name__:
            return True
        if a == "-p" + __name__:
            return True
    return False


def _reexec_under_shim(config):
    """Run the same command again with the shim preloaded. Returns only on failure."""
    lib = _native.find_library()
    argv = getattr(sys, "orig_argv", None)
    if not lib or not argv or os.environ.get("SESSTRIM_PYTEST_NO_REEXEC"):
        return "the shim is not preloaded%s" % ("" if lib else " and libsesstrim.so was not found")
    env = dict(os.environ)
    env["LD_PRELOAD"] = ":".join([lib] + [p for p in env.get("LD_PRELOAD", "").split(":") if p])
    env["SESSTRIM_PYTEST_NO_REEXEC"] = "1"          # never loop
    env.setdefault("SESSTRIM_LOG", "off")
    pkg_parent = os.path.dirname(_native.HERE)
    env["PYTHONPATH"] = os.pathsep.join([pkg_parent] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    capman = config.pluginmanager.getplugin("capturemanager")
    if capman is not None:
        capman.stop_global_capturing()              # give the new process the real fds 1, 2
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, argv, env)


class _State:
    def __init__(self, config):
        self.limit = parse_size(config.getoption("sesstrim_limit")) if config.getoption("sesstrim_limit") else None
        self.top = config.getoption("sesstrim_top")
        self.results = {}       # nodeid -> (leftover bytes, leftover blocks, limit)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "sesstrim_limit(size): fail the test if its call leaves more than size "
                   "bytes allocated (e.g. \"1M\"; needs the sesstrim plugin active)")
    if not (config.getoption("sesstrim") or _explicitly_loaded(config)):
        return
    if not sesstrim.active():
        why = _reexec_under_shim(config)
        config.issue_config_time_warning(pytest.PytestConfigWarning(
            "sesstrim plugin inactive: %s (run under python -m sesstrim run, or "
            "LD_PRELOAD=libsesstrim.so)" % why), stacklevel=2)
        return
    config._sesstrim = _State(config)


def _limit_for(item, state):
    marker = item.get_closest_marker("sesstrim_limit")
    if marker is not None:
        if not marker.args:
            raise pytest.UsageError("sesstrim_limit needs a size, e.g. @pytest.mark.sesstrim_limit(\"1M\")")
        return parse_size(marker.args[0])
    return state.limit


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    state = getattr(item.config, "_sesstrim", None)
    if state is None:
        yield
        return
    # Leftovers of the call: what it allocated and did not free once its frame is gone and
    # cycles are collected. Fixtures' setup and teardown are outside (as with pytest-memray).
    sid = sesstrim.begin("test:" + item.nodeid[-50:])
    try:
        yield
    finally:
        gc.collect()
        got = sesstrim.stats(sid) if sid else None
        if sid:
            sesstrim.end(sid)
        if got is not None:
            limit = _limit_for(item, state)
            state.results[item.nodeid] = (got["live_bytes"], got["live_count"], limit)
            if limit is not None and got["live_bytes"] > limit:
                item._sesstrim_failure = (sid, got, limit)


def _sites_text(sid, depth=6, nsites=3):
    """The leftover sites of ended session sid, from a dump read by sesstrim-report."""
    report = _native.find_report()
    if not report:
        return "  (sesstrim-report not found: no sites)"
    fd, path = tempfile.mkstemp(prefix="sesstrim-pytest-", suffix=".bin")
    os.close(fd)
    try:
        if not sesstrim.dump(path):
            return "  (dump failed: no sites)"
        from sesstrim._runner import report_json
        try:
            doc = report_json([path])
        except (RuntimeError, ValueError) as e:
            return "  (%s)" % e
    finally:
        os.unlink(path)
    sess = next((s for s in doc.get("sessions", []) if s["id"] == sid), None)
    sites = {s["id"]: s for s in doc.get("sites", [])}
    if not sess or not sess.get("leftover_sites"):
        return "  (no sites: stacks are sampled, SESSTRIM_STACKS=all records every allocation)"
    lines = []
    for ls in sess["leftover_sites"][:nsites]:
        site = sites.get(ls["site"])
        if not site:
            lines.append("  %d bytes in %d blocks not sampled (SESSTRIM_STACKS=all records "
                         "every allocation)" % (ls["bytes"], ls["count"]))
            continue
        lines.append("  %d bytes in %d blocks allocated at:" % (ls["bytes"], ls["count"]))
        frames = site.get("frames", [])
        for f in ([f for f in frames if f.get("python")] or frames)[:depth]:   # Python's first
            lines.append("      " + f.get("where", "?"))
    return "\n".join(lines)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    fail = getattr(item, "_sesstrim_failure", None)
    if call.when != "call" or fail is None:
        return
    report = outcome.get_result()
    if report.outcome != "passed":
        return
    sid, got, limit = fail
    report.outcome = "failed"
    report.longrepr = ("sesstrim: the test left %d bytes in %d blocks allocated, over its limit of "
                       "%d bytes\n%s" % (got["live_bytes"], got["live_count"], limit, _sites_text(sid)))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    state = getattr(config, "_sesstrim", None)
    if state is None:
        return
    rows = sorted(((b, n, lim, nodeid) for nodeid, (b, n, lim) in state.results.items() if b),
                  reverse=True)[:state.top]
    terminalreporter.section("sesstrim: what tests left allocated")
    if not rows:
        terminalreporter.write_line("no test left anything allocated")
        return
    for b, n, lim, nodeid in rows:
        over = "  OVER LIMIT %d" % lim if lim is not None and b > lim else ""
        terminalreporter.write_line("%12d bytes in %6d blocks  %s%s" % (b, n, nodeid, over))
