"""Atomic file output: write to a temporary file in the destination's folder, then rename it into
place, so that a crash or an error never leaves a half-written file (nor a temporary one)."""

from __future__ import annotations

import os
import pathlib
import tempfile
from contextlib import contextmanager
from typing import Iterator


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
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield pathlib.Path(tmp)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_bytes_atomic(path, data: bytes) -> pathlib.Path:
    """Write ``data`` to ``path`` atomically (flushed to disk before the rename); returns the path."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return pathlib.Path(path)


def write_text_atomic(path, text: str) -> pathlib.Path:
    """Write UTF-8 ``text`` to ``path`` atomically (no newline translation)."""
    return write_bytes_atomic(path, text.encode("utf-8"))
