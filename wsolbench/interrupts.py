"""Ctrl-C and SIGTERM: stop every process, leave nothing half-written, one line, exit 130 / 143.

The CLI runs each command inside :func:`raising_signals`: SIGINT and SIGTERM then raise
:class:`Interrupted` (a ``KeyboardInterrupt``) in the main thread, so every ``finally`` and
every atomic writer (:mod:`wsolbench.atomic`, :mod:`wsolbench.outputs`, the score-map writer)
removes its temporary files. Without it SIGTERM would kill the process on the spot and leave them.

Two details make this reliable:

* numba's compiled-function dispatcher calls back into numba's Python code (type resolution,
  loading a cached kernel); an exception raised there comes out as ``SystemError:
  CPUDispatcher(...) returned a result with an exception set`` after a second traceback. The
  handler therefore never raises while a numba frame is on the stack: it re-sends the signal to
  the process 20 ms later, until the main thread is back in ordinary Python code.
* Worker processes (:func:`process_pool`) ignore SIGINT (a terminal sends Ctrl-C to the whole
  process group; the parent handles it) and die on SIGTERM; when the parent stops for any reason
  (an error, a signal), it terminates them instead of waiting for their current work.

Hand-written: the standard library has the pieces (``signal``, ``concurrent.futures``) but no
policy; Python 3.14's ``ProcessPoolExecutor.terminate_workers`` is not available on 3.10-3.13.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Callable, Iterator

HANDLED = (signal.SIGINT, signal.SIGTERM)
REDELIVER_SECONDS = 0.02
_NUMBA_DIR = f"{os.sep}numba{os.sep}"
_installed_in: list[int] = []        # pid of the process whose handlers raise (forked children inherit them)


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


def _in_numba(frame) -> bool:
    while frame is not None:
        if _NUMBA_DIR in frame.f_code.co_filename:
            return True
        frame = frame.f_back
    return False


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
    if _in_numba(frame):
        timer = threading.Timer(REDELIVER_SECONDS, _redeliver, (signum,))
        timer.daemon = True
        timer.start()
        return
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
    before = set(multiprocessing.active_children())
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(context),
                               initializer=_init_worker, initargs=(initializer, initargs))
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        terminate(set(multiprocessing.active_children()) - before)
        raise
    pool.shutdown(wait=True)
