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

import contextlib
import ctypes
import functools

__all__ = [
    "active", "begin", "end", "enter", "leave", "current", "keep", "trim", "dump",
    "address_of", "session", "entered", "scoped", "Session",
]


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
    address_of() understands; it must be the start of a malloc'd block. True on success."""
    if not _impl:
        return False
    return _call("keep", -1, ctypes.c_void_p(address_of(obj)), int(to)) == 0


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
