"""Atomic file output: write to a temporary file in the destination's folder, then rename it into
place, so that a crash, an error or a signal never leaves a half-written file (nor a temporary one).

A destination whose folders do not exist yet gets them only when the file is complete: the
temporary file is written in the nearest existing folder above it (same file system), so a failed
write leaves no empty folders behind. Failures to create, write or rename are
:class:`~wsolbench.outputs.OutputError` s (one-line messages naming the file), which are also
``OSError`` s. Commands check their outputs up front with :mod:`wsolbench.outputs`; this is the
second line of defence (disk full, a folder made read-only meanwhile).
"""

from __future__ import annotations

import os
import pathlib
import tempfile
from contextlib import contextmanager
from typing import Iterator

from wsolbench.outputs import OutputError, existing_ancestor


@contextmanager
def atomic_path(path) -> Iterator[pathlib.Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on error it is removed.

    The new file keeps the mode of the file it replaces (or gets the usual 0644, not mkstemp's 0600).

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
        >>> with atomic_path(out) as tmp:
        ...     _ = tmp.write_text("hello")
        >>> out.read_text()
        'hello'
    """
    path = pathlib.Path(path)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    folder = path.parent if path.parent.is_dir() else existing_ancestor(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as e:
        raise _write_error(path, e) from None
    os.close(fd)
    try:
        yield pathlib.Path(tmp)
        try:
            os.chmod(tmp, mode)
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, path)
        except OSError as e:
            raise _write_error(path, e) from e
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _write_error(path, error: OSError) -> OutputError:
    return OutputError(f"{path}: cannot write ({error.strerror or error}); nothing was written: check that the "
                       "folder is writable and has free space, or choose another path")


def write_bytes_atomic(path, data: bytes) -> pathlib.Path:
    """Write ``data`` to ``path`` atomically (flushed to disk before the rename); returns the path."""
    with atomic_path(path) as tmp:
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            raise _write_error(path, e) from e
    return pathlib.Path(path)


def write_text_atomic(path, text: str) -> pathlib.Path:
    """Write UTF-8 ``text`` to ``path`` atomically (no newline translation)."""
    return write_bytes_atomic(path, text.encode("utf-8"))
