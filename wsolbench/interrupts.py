"""Ctrl-C and SIGTERM: stop every process, leave nothing half-written, one line, exit 130 / 143.

The CLI runs each command inside :func:`raising_signals`: SIGINT and SIGTERM then raise
:class:`Interrupted` (a ``KeyboardInterrupt``) in the main thread, so every ``finally`` and
every atomic writer (:mod:`wsolbench.atomic`, :mod:`wsolbench.outputs`, the score-map writer)
removes its temporary files. Without it SIGTERM would kill the process on the spot and leave them.

Three details make this reliable:

* An exception raised in some places is lost or mangled: inside a numba compiled-function
  dispatcher (which calls back into numba's Python code to resolve types or load a cached kernel;
  wsolbench's engine used numba until it moved to C, and torch code may still use it) it comes out
  as ``SystemError: CPUDispatcher(...) returned a result with an exception set`` after a second
  traceback; inside a fork hook (``logging`` registers one), a ``__del__`` or a
  ``weakref.finalize`` callback Python prints "Exception ignored" and carries on as if nothing
  happened. The handler therefore does not raise there: it re-sends the signal to the process
  20 ms later, until the main thread is back in ordinary Python code.
* As a safety net, a signal once raised stays *pending*; :func:`check` (called at every progress
  update) raises it again should some other code have swallowed it.
* Worker processes (:func:`process_pool`) ignore SIGINT (a terminal sends Ctrl-C to the whole
  process group; the parent handles it) and die on SIGTERM; when the parent stops for any reason
  (an error, a signal), it terminates them instead of waiting for their current work.

Hand-written: the standard library has the pieces (``signal``, ``concurrent.futures``) but no
policy; Python 3.14's ``ProcessPoolExecutor.terminate_workers`` is not available on 3.10-3.13.
"""

from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING, Callable, Iterator

if TYPE_CHECKING:   # imported lazily: the CLI's entry point imports this module before anything else
    from concurrent.futures import ProcessPoolExecutor

HANDLED = (signal.SIGINT, signal.SIGTERM)
REDELIVER_SECONDS = 0.02
_NUMBA_DIR = f"{os.sep}numba{os.sep}"
_WEAKREF_FILE = f"{os.sep}weakref.py"
_installed_in: list[int] = []        # pid of the process whose handlers raise (forked children inherit them)
_state = {"forking": 0, "pending": None}


def _fork_begins() -> None:
    _state["forking"] += 1


def _fork_ends() -> None:
    _state["forking"] = max(0, _state["forking"] - 1)


if hasattr(os, "register_at_fork"):
    # Registered when this module is first imported; "before" hooks run in reverse order of
    # registration and "after" hooks in order, so the flag spans the other libraries' fork hooks.
    os.register_at_fork(before=_fork_begins, after_in_parent=_fork_ends, after_in_child=_fork_ends)


class Interrupted(KeyboardInterrupt):
    """The command was stopped by a signal; ``exit_code`` is 128 + the signal number (130 for SIGINT,
    143 for SIGTERM). A ``KeyboardInterrupt``, so code written for Ctrl-C cleans up the same way."""

    def __init__(self, signum: int):
        self.signum = int(signum)
        super().__init__(f"interrupted by {signal_name(signum)}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def signal_name(signum: int) -> str:
    """``SIGINT (Ctrl-C)`` or the signal's name."""
    name = signal.Signals(signum).name
    return f"{name} (Ctrl-C)" if signum == signal.SIGINT else name


def interrupted_line(error: BaseException) -> tuple[str, int]:
    """The one line the CLI prints for a ``KeyboardInterrupt`` / :class:`Interrupted`, and its exit code."""
    signum = error.signum if isinstance(error, Interrupted) else int(signal.SIGINT)
    return (f"Interrupted by {signal_name(signum)}: stopped, workers ended, no half-written file left",
            128 + signum)


def _unsafe(frame) -> bool:
    """True where a raised exception would be lost or mangled (see the module docstring)."""
    if _state["forking"]:
        return True
    while frame is not None:
        code = frame.f_code
        if (_NUMBA_DIR in code.co_filename or code.co_name == "__del__"
                or (code.co_filename.endswith(_WEAKREF_FILE) and code.co_name == "__call__")):
            return True
        frame = frame.f_back
    return False


def check() -> None:
    """Raise the pending :class:`Interrupted`, if a signal was raised and then swallowed somewhere."""
    if _state["pending"] is not None and _installed_in and os.getpid() == _installed_in[-1]:
        raise Interrupted(_state["pending"])


def _redeliver(signum: int) -> None:
    os.kill(os.getpid(), signum)


def _handler(signum, frame) -> None:
    if not _installed_in or os.getpid() != _installed_in[-1]:
        # A forked child that inherited the handler (a DataLoader worker, say): default behaviour.
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    if _unsafe(frame):
        timer = threading.Timer(REDELIVER_SECONDS, _redeliver, (signum,))
        timer.daemon = True
        timer.start()
        return
    _state["pending"] = signum
    raise Interrupted(signum)


@contextmanager
def raising_signals() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise :class:`Interrupted` in the main thread.

    A signal that the process ignores on entry (a background job's SIGINT) stays ignored. Outside
    the main thread this does nothing (Python delivers signals to the main thread only).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for signum in HANDLED:
        old = signal.getsignal(signum)
        if old is signal.SIG_IGN:
            continue
        previous[signum] = old
        signal.signal(signum, _handler)
    _installed_in.append(os.getpid())
    try:
        yield
    finally:
        _installed_in.pop()
        for signum, old in previous.items():
            signal.signal(signum, old)
        if not _installed_in:
            _state["pending"] = None


def _init_worker(initializer: Callable | None, initargs: tuple) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if initializer is not None:
        initializer(*initargs)


def terminate(processes) -> None:
    """Terminate processes (SIGTERM), wait a little, then kill those still alive."""
    processes = list(processes)
    for p in processes:
        if p.is_alive():
            p.terminate()
    for p in processes:
        p.join(timeout=5)
        if p.is_alive():
            p.kill()
            p.join(timeout=5)


@contextmanager
def process_pool(workers: int, *, context: str = "fork", initializer: Callable | None = None,
                 initargs: tuple = ()) -> Iterator[ProcessPoolExecutor]:
    """A ``ProcessPoolExecutor`` whose workers never outlive an interrupted or failing parent.

    Workers ignore SIGINT and die on SIGTERM. If the block raises (an error, :class:`Interrupted`),
    pending work is cancelled and the workers are terminated, not waited for; otherwise the pool
    shuts down normally.

    Args:
        workers: number of processes.
        context: multiprocessing start method (``fork`` shares loaded data; ``spawn`` for torch).
        initializer, initargs: run in each worker after its signal set-up.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    before = set(multiprocessing.active_children())
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(context),
                               initializer=_init_worker, initargs=(initializer, initargs))
    try:
        yield pool
    except BaseException:
        manager = getattr(pool, "_executor_manager_thread", None)     # shutdown() forgets it
        pool.shutdown(wait=False, cancel_futures=True)
        terminate(set(multiprocessing.active_children()) - before)
        _join_manager(manager)
        raise
    pool.shutdown(wait=True)


def _join_manager(thread) -> None:
    """Wait (at most 5 s) for a process pool's manager thread to end once its workers are gone.

    Otherwise CPython's exit hook for process pools (``concurrent.futures.process._python_exit``, 3.11)
    may write to the wake-up pipe that the ending manager thread is closing at that moment, and the
    interpreter prints "Exception ignored ... OSError: [Errno 9] Bad file descriptor" with a traceback
    after the one line of an interrupted command."""
    if thread is not None and thread.is_alive():
        thread.join(timeout=5)
