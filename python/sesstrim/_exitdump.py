# sesstrim/_exitdump.py: dumps for processes that never reach the shim's exit dump.
#
# The shim writes its dump from an exit handler. multiprocessing's fork workers leave with
# os._exit() (popen_fork, forkserver) and pool workers are stopped with SIGTERM by
# Pool.terminate() (and by Pool's __exit__): neither runs exit handlers, so 8 pool workers
# left 0 dumps. install() closes both holes from Python:
#   - in every multiprocessing child (an after-fork hook, run by Process._bootstrap after it
#     clears the finalizer registry) a Finalize with the lowest priority dumps when the
#     child's run() returns, just before os._exit;
#   - in those children, SIGTERM, while its disposition is the default (or one we chain to),
#     first dumps and then does what it would have done: re-raise with the default action,
#     or call the previous Python handler. A process that ignores SIGTERM keeps ignoring it.
#     Only in multiprocessing children: a Python-level handler runs between bytecodes, so a
#     process busy in a long C call dies when the call returns rather than at once. Pool
#     workers wait in interruptible calls; a main program is left as it was (its exit dump
#     works; SESSTRIM_DUMP_SIGNAL covers signals).
# The dump goes to the SESSTRIM_DUMP pattern (%p: each process its own file).
import os
import signal

import sesstrim

_installed = False
_dumped_pid = 0
_previous = {}


def _dump_once():
    """One dump per process (the Finalize and the SIGTERM handler may both fire)."""
    global _dumped_pid
    if _dumped_pid == os.getpid():
        return
    _dumped_pid = os.getpid()
    sesstrim.dump(None)


def _on_sigterm(signum, frame):
    _dump_once()
    prev = _previous.get(signum, signal.SIG_DFL)
    if callable(prev):
        return prev(signum, frame)
    if prev == signal.SIG_IGN:
        return None
    signal.signal(signum, signal.SIG_DFL)   # then die by the same signal, as before
    os.kill(os.getpid(), signum)
    return None


def _hook_sigterm():
    try:
        prev = signal.getsignal(signal.SIGTERM)
    except ValueError:
        return
    if prev is _on_sigterm or prev == signal.SIG_IGN or prev is None:
        return   # None: set from C; we cannot chain to it, leave it alone
    try:
        signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread
        return
    _previous[signal.SIGTERM] = prev


class _AfterFork:
    """register_after_fork keeps a weak reference: this module-level object stays alive."""


_TOKEN = _AfterFork()


def _in_child(_token):
    global _dumped_pid
    _dumped_pid = 0
    import multiprocessing.util as mpu
    mpu.Finalize(None, _dump_once, exitpriority=-(2 ** 30))
    _hook_sigterm()


def install():
    """Install the hooks in this process (idempotent). No-op without the shim."""
    global _installed
    if _installed or not sesstrim.active():
        return
    _installed = True
    import multiprocessing.util as mpu
    mpu.register_after_fork(_TOKEN, _in_child)
