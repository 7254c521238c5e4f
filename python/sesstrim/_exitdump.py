# sesstrim/_exitdump.py: dumps for processes that never reach the shim's exit dump.
#
# The shim writes its dump from an exit handler. multiprocessing's fork workers leave with
# os._exit() (popen_fork, forkserver) and pool workers are stopped with SIGTERM by
# Pool.terminate() (and by Pool's __exit__): neither runs exit handlers, so 8 pool workers
# left 0 dumps. install() closes both holes from Python:
#   - in every multiprocessing child (an after-fork hook, run by Process._bootstrap after it
#     clears the finalizer registry) a Finalize with the lowest priority dumps when the
#     child's run() returns, just before os._exit;
#   - in those children, SIGTERM first dumps, then kills the process as before. While its
#     action is the default this is done in C (preload/pyframes.c,
#     sesstrim_impl_dump_on_sigterm): a Python handler would race with a worker blocked in
#     SemLock.acquire (a signal landing just before sem_wait is never handled: the worker
#     never dies and Pool.terminate hangs; 1 run in 10 here). If the program set a Python
#     handler (inherited from the parent), ours dumps and then calls it, with that race,
#     which the program's own handler has anyway. A process that ignores SIGTERM keeps
#     ignoring it.
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
    return _previous[signum](signum, frame)


def _hook_sigterm():
    if sesstrim._call("dump_on_sigterm", -1) == 0:
        return   # done in C while SIGTERM's action is the default
    try:
        prev = signal.getsignal(signal.SIGTERM)
    except ValueError:
        return
    if not callable(prev) or prev is _on_sigterm:
        return   # ignored, or set from C: leave it alone
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
