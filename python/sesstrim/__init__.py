# sesstrim/__init__.py: the Python binding of sesstrim's session API (issue 3), ctypes over the
# sesstrim_impl_* symbols of the preloaded shim; every call is a harmless no-op without it.
"""Mark sessions, hand results to a parent session, trim and dump from Python.

Run the program with the shim preloaded and this package on the path::

    LD_PRELOAD=build/libsesstrim.so PYTHONPATH=python python3 app.py

Without ``LD_PRELOAD`` every function returns its "nothing happened" value (0, False,
-1 or None) and the program runs unchanged.

    import sesstrim

    with sesstrim.session("client-42") as s:    # begin on entry, end on exit
        serve(client)
        s.keep(result_address)                  # hand a buffer to the parent session

    @sesstrim.scoped("batch")                   # one session per call
    def run_batch(...): ...

    with sesstrim.entered(s.id):                # a worker serving an open session
        ...

Only allocations that reach malloc are tagged: CPython serves objects of 512 bytes or
less from its own pools (pymalloc), so what a session shows are the larger buffers:
bytearray/bytes contents over 512 bytes, lists and dicts that grew large, and the buffers
of native extensions (numpy arrays, ctypes, C libraries).
"""

import concurrent.futures
import concurrent.futures.thread as _cf_thread
import contextlib
import ctypes
import functools
import threading
import warnings

__all__ = [
    "active", "begin", "end", "enter", "leave", "leave_all", "current", "keep", "trim",
    "dump", "stats", "address_of", "session", "entered", "scoped", "Session", "Executor",
    "in_session", "propagate_to_pools", "name_threads", "dump_worker_exits", "SesstrimWarning",
]


class SesstrimWarning(UserWarning):
    """A binding call that could not do what was asked (e.g. keep() with nowhere to go)."""


def _bind():
    """Look the shim's entry points up in this process's global symbol scope."""
    try:
        scope = ctypes.CDLL(None)
    except OSError:
        return {}
    u64, c_int = ctypes.c_uint64, ctypes.c_int
    signatures = {
        "active": (c_int, []),
        "session_begin": (u64, [ctypes.c_char_p]),
        "session_end": (c_int, [u64]),
        "session_enter": (c_int, [u64]),
        "session_leave": (c_int, [u64]),
        "session_current": (u64, []),
        "keep": (c_int, [ctypes.c_void_p, u64]),
        "trim": (ctypes.c_longlong, []),
        "dump": (c_int, [ctypes.c_char_p]),
        # preload/pyframes.c: read-only queries for this binding
        "session_stats": (c_int, [u64, ctypes.POINTER(u64)]),
        "block_owner": (c_int, [ctypes.c_void_p, ctypes.POINTER(u64)]),
        "dump_on_sigterm": (c_int, []),
    }
    found = {}
    for name, (restype, argtypes) in signatures.items():
        try:
            fn = getattr(scope, "sesstrim_impl_" + name)
        except AttributeError:
            continue
        fn.restype, fn.argtypes = restype, argtypes
        found[name] = fn
    return found


_impl = _bind()
# Made once: creating a ctypes array type allocates (and caches) it, which inside a session
# would be charged to that session.
_U64x2 = ctypes.c_uint64 * 2
_U64x16 = ctypes.c_uint64 * 16


def _call(name, default, *args):
    fn = _impl.get(name)
    return fn(*args) if fn is not None else default


def active():
    """True when the shim is preloaded in this process."""
    return bool(_call("active", 0))


def begin(name=None):
    """Begin a session on this thread, nested in the current one. Returns its id (0 without
    the shim). Names are UTF-8, at most 63 bytes kept."""
    raw = name.encode("utf-8", "replace") if isinstance(name, str) else name
    return int(_call("session_begin", 0, raw))


def end(session_id):
    """End a session: what it still owns is recorded as its leftovers. True on success."""
    return _call("session_end", -1, int(session_id)) == 0


def enter(session_id):
    """Make an open session current on this thread (a worker serving it). True on success."""
    return _call("session_enter", -1, int(session_id)) == 0


def leave(session_id):
    """Undo enter() (or take a begun session off this thread). True on success."""
    return _call("session_leave", -1, int(session_id)) == 0


def current():
    """Id of the innermost session current on this thread, 0 if none."""
    return int(_call("session_current", 0))


def address_of(obj):
    """The address of the memory behind obj: an int is taken as an address; numpy arrays,
    ctypes objects and writable buffers (bytearray, memoryview, array.array) are supported."""
    if isinstance(obj, int):
        return obj
    iface = getattr(obj, "__array_interface__", None)
    if iface is not None:
        return int(iface["data"][0])
    if isinstance(obj, ctypes._SimpleCData) or isinstance(obj, (ctypes.Array, ctypes.Structure,
                                                                 ctypes.Union)):
        return ctypes.addressof(obj)
    view = memoryview(obj)
    if view.readonly:
        raise TypeError("address_of: read-only buffers (bytes) have no stable address to keep")
    return ctypes.addressof(ctypes.c_char.from_buffer(view))


def keep(obj, to=0):
    """Move ownership of a live allocation to session `to` (0: the parent of its owner),
    Ray's `keep`: a batch hands its result to the caller. obj is an address or an object
    address_of() understands; it must be the start of a malloc'd block. True on success.

    On failure (with the shim loaded) it returns False and issues a SesstrimWarning that
    says why: the block's owner is a top-level session, so `to=0` has no parent to go to
    (pass an open session's id as `to`); the block belongs to no session; `to` is not an
    open session; or the address is not a block malloc returned (objects of 512 bytes or
    less come from pymalloc unless PYTHONMALLOC=malloc). Turn the warning into an error
    with ``warnings.simplefilter("error", sesstrim.SesstrimWarning)``."""
    if not _impl:
        return False
    addr = address_of(obj)
    if _call("keep", -1, ctypes.c_void_p(addr), int(to)) == 0:
        return True
    warnings.warn(SesstrimWarning("keep(%#x, to=%#x) failed: %s" % (addr, int(to), _keep_why(addr, to))),
                  stacklevel=2)
    return False


def _keep_why(addr, to):
    """Why keep() refused: the shim returns only -1, the owner query tells the cases apart."""
    out = _U64x2()
    if _call("block_owner", -1, ctypes.c_void_p(addr), out) != 0:
        return ("not the start of a live malloc block the shim tracked (a small object from "
                "pymalloc? run with PYTHONMALLOC=malloc, or pass the buffer's own address)")
    owner, parent = out[0], out[1]
    if to:
        return "session %#x is not open (never begun, or already ended)" % int(to)
    if not owner:
        return "the block belongs to no session, so it has no parent session to go to"
    if not parent:
        return ("its owner, session %#x, is a top-level session: it has no parent to hand the "
                "block to; pass to=<an open session's id>" % owner)
    return "the parent session %#x of its owner %#x has ended" % (parent, owner)


_STAT_FIELDS = ("live_bytes", "live_count", "peak_bytes", "total_alloc_bytes", "total_allocs",
                "frees", "kept_in_bytes", "threads_seen", "parent_id", "ended")


def stats(session_id):
    """A session's counters now, as a dict with the keys live_bytes, live_count,
    peak_bytes, total_alloc_bytes, total_allocs, frees, kept_in_bytes (bytes), threads_seen,
    parent_id (0: top-level) and ended (bool). Before end() live_bytes is what end() would
    record as leftovers. None without the shim, or when the session is unknown (never begun,
    or ended owning nothing, its slot recycled)."""
    out = _U64x16()
    if _call("session_stats", -1, int(session_id), out) != 0:
        return None
    got = dict(zip(_STAT_FIELDS, (int(v) for v in out)))
    got["ended"] = bool(got["ended"])
    return got


def leave_all():
    """Take every session off this thread's stack (innermost first); returns their ids.
    A thread created inside a session starts in it (SESSTRIM_SESSION_INHERIT=on): a pool
    worker calls this so its idle time and later work are not charged to whichever session
    happened to be current when the pool grew."""
    left = []
    while True:
        sid = current()
        if not sid or not leave(sid):
            return left
        left.append(sid)


def in_session(fn, session_id=None):
    """Wrap fn so that it runs entered in session_id (default: the session current on the
    calling thread now) on whichever thread calls it later. With no session (or no shim)
    fn is returned unchanged. If the session has ended by then fn runs outside it."""
    sid = current() if session_id is None else int(session_id)
    if not sid:
        return fn

    @functools.wraps(fn)
    def run(*args, **kwargs):
        ok = enter(sid)
        try:
            return fn(*args, **kwargs)
        finally:
            if ok:
                leave(sid)
    run.__sesstrim_session__ = sid
    return run


_plain_submit = concurrent.futures.ThreadPoolExecutor.submit
_plain_worker = _cf_thread._worker


def _worker_outside_sessions(*args, **kwargs):
    """concurrent.futures' worker loop, started outside any session."""
    leave_all()
    return _plain_worker(*args, **kwargs)


class Executor(concurrent.futures.ThreadPoolExecutor):
    """A ThreadPoolExecutor whose work runs in the session of whoever submitted it.

    submit() (and so map()) captures the submitting thread's current session and runs the
    call entered in it on the worker; work submitted outside sessions runs outside them.
    Workers leave the session they inherited at creation before running anything, so a pool
    that grew inside client-0's session does not charge later clients' work to client-0.
    Same constructor and methods as ThreadPoolExecutor; without the shim it is exactly one.
    """

    def __init__(self, max_workers=None, thread_name_prefix="", initializer=None, initargs=()):
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        super().__init__(max_workers, thread_name_prefix, _leave_then(initializer), initargs)

    def submit(self, fn, /, *args, **kwargs):
        return _plain_submit(self, in_session(fn), *args, **kwargs)

    submit.__doc__ = concurrent.futures.ThreadPoolExecutor.submit.__doc__


def _leave_then(initializer):
    def init(*args):
        leave_all()
        if initializer is not None:
            initializer(*args)
    return init


_propagating = False


def _submit_in_session(self, fn, /, *args, **kwargs):
    return _plain_submit(self, in_session(fn), *args, **kwargs)


def propagate_to_pools(enable=True):
    """Make every concurrent.futures.ThreadPoolExecutor behave like sesstrim.Executor:
    submit() runs the work in the submitter's session, and new workers start outside any
    session. Patches ThreadPoolExecutor.submit and concurrent.futures.thread._worker
    (asyncio's run_in_executor goes through submit too). Idempotent; enable=False restores
    both. `python -m sesstrim run` calls it unless --no-pool-sessions. Returns the previous
    state."""
    global _propagating
    was = _propagating
    if enable and not was:
        concurrent.futures.ThreadPoolExecutor.submit = _submit_in_session
        _cf_thread._worker = _worker_outside_sessions
    elif not enable and was:
        concurrent.futures.ThreadPoolExecutor.submit = _plain_submit
        _cf_thread._worker = _plain_worker
    _propagating = bool(enable)
    return was


def _os_thread_name(name):
    """Linux keeps 15 bytes of a thread name: keep both ends of a longer one."""
    raw = name.encode("utf-8", "replace")
    return raw if len(raw) <= 15 else raw[:7] + b"~" + raw[-7:]


_plain_bootstrap_inner = threading.Thread._bootstrap_inner


def _bootstrap_inner_named(self):
    _set_os_thread_name(self.name)
    return _plain_bootstrap_inner(self)


def _set_os_thread_name(name):
    try:
        _libc.prctl(15, ctypes.c_char_p(_os_thread_name(name)), 0, 0, 0)   # PR_SET_NAME
    except (AttributeError, OSError, TypeError):
        pass


_libc = ctypes.CDLL(None, use_errno=True)


def name_threads(enable=True):
    """Give every thread started from now on its threading name as its OS name (Linux:
    15 bytes kept; a longer name keeps its first and last 7), so dumps and reports name
    threads "decode_0", "heartbeat"... instead of "python3". Patches
    threading.Thread._bootstrap_inner; enable=False restores it. `python -m sesstrim run`
    calls it. Works without the shim too (it only sets OS thread names)."""
    threading.Thread._bootstrap_inner = _bootstrap_inner_named if enable else _plain_bootstrap_inner


def dump_worker_exits():
    """Make multiprocessing children dump when they end, although they leave with os._exit
    or die of SIGTERM (Pool.terminate), which skip the shim's exit dump: a last
    multiprocessing Finalize and, in the children, a SIGTERM handler that dumps and then does
    what SIGTERM did before. To the SESSTRIM_DUMP pattern (use %p). `python -m sesstrim run`
    calls it. No-op without the shim. Details: docs/python.md."""
    from sesstrim import _exitdump
    _exitdump.install()


def trim():
    """Run the arena-aware trim now: bytes released, or -1 without the shim."""
    return int(_call("trim", -1))


def dump(path=None):
    """Write a dump now to path (None: the SESSTRIM_DUMP pattern). True on success."""
    raw = path.encode() if isinstance(path, str) else path
    return _call("dump", -1, raw) == 0


class Session:
    """A session begun by `with session(name)`; `id` is 0 when the shim is not loaded."""

    def __init__(self, name):
        self.name = name
        self.id = 0

    def __enter__(self):
        self.id = begin(self.name)
        return self

    def __exit__(self, *exc):
        if self.id:
            end(self.id)
        return False

    def keep(self, obj, to=0):
        """Hand obj (owned by this session or a child) to session `to`, by default the
        parent of its owner."""
        return keep(obj, to)

    def __repr__(self):
        return "Session(%r, id=%#x)" % (self.name, self.id)


def session(name=None):
    """Context manager: begin a session on entry, end it on exit (even on an exception)."""
    return Session(name)


@contextlib.contextmanager
def entered(session_id):
    """Context manager: enter an open session on this thread for the block."""
    ok = enter(session_id)
    try:
        yield ok
    finally:
        if ok:
            leave(session_id)


def scoped(name=None):
    """Decorator: run each call of the function in its own session, named `name` (default:
    the function's qualified name). Usable as @scoped, @scoped() or @scoped("name")."""
    if callable(name):
        return scoped(None)(name)

    def wrap(fn):
        label = name or getattr(fn, "__qualname__", fn.__name__)

        @functools.wraps(fn)
        def run(*args, **kwargs):
            with Session(label):
                return fn(*args, **kwargs)
        return run
    return wrap
