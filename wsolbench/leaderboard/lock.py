"""An exclusive lock on a board folder, so that check-and-write is one step (``leaderboard add``, ``build``).

Two ``wsolbench leaderboard add`` started at once must not both check the board, then both write:
one submission would silently replace the other (same file name), or two duplicate rows would land
and every later ``add`` would be refused. The lock is an advisory ``fcntl.flock`` on the board folder
itself (no lock file is left behind); every command that reads the board to decide what to write
takes it first, then reads, checks and writes under it. The lock is released when the process ends,
even if it is killed.

Hand-written: the standard library has the primitive and no maintained dependency is needed for it.

Example:
    >>> import tempfile
    >>> with board_lock(tempfile.mkdtemp()):
    ...     pass
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager

from wsolbench.errors import SubmissionError

#: How long a command waits for another one holding the board before giving up.
LOCK_TIMEOUT_S = 120.0
_POLL_S = 0.05


@contextmanager
def board_lock(root, *, timeout: float = LOCK_TIMEOUT_S):
    """Hold an exclusive lock on the folder ``root`` (which must exist) for the ``with`` block.

    Raises:
        SubmissionError: another process held the board for longer than ``timeout`` seconds.
    """
    import fcntl

    fd = os.open(os.fspath(root), os.O_RDONLY)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise SubmissionError(f"{root}: another wsolbench command has held the board for {timeout:.0f} s; "
                                          "wait for it to finish and run this command again") from None
                time.sleep(_POLL_S)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
