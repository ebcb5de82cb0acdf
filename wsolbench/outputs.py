"""Outputs are checked before the work starts and land whole or not at all.

Every command that writes files names them first and calls :func:`check_outputs`, before it reads
a map or trains a step: each output must be writable (its folder, or the nearest folder above it
that exists, accepts a new file: a real probe file, so read-only folders, read-only mounts and
paths under a regular file are all caught), must be of the right kind (a file where a file is
written, a folder where a folder is), must not be one of the command's inputs (``evaluate maps.h5
--out maps.h5`` would replace the maps with JSON), and no two outputs may be the same path.

Single files are then written atomically (:mod:`wsolbench.atomic`: temporary file + rename).
Outputs of several files (a report folder, an exported ``.npy`` folder, comparison plots) are
written into a staging folder by :func:`staged_folder` and moved into place only when everything
succeeded; on an error or a signal the staging folder is removed and the destination is as it was.

Hand-written because no library does this check-then-stage protocol; it is a few file-system calls.

Example:
    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "maps.h5").write_bytes(b"")
    0
    >>> check_outputs([output_file(root / "maps.h5", "--out")], inputs={"MAPS": root / "maps.h5"})
    Traceback (most recent call last):
    ...
    wsolbench.outputs.OutputError: --out ...maps.h5: is the input MAPS; writing there would destroy it: write the output to another file
    >>> with staged_folder(root / "report") as stage:
    ...     _ = (stage / "index.html").write_text("<html></html>")
    >>> sorted(p.name for p in (root / "report").iterdir())
    ['index.html']
"""

from __future__ import annotations

import os
import pathlib
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping

from wsolbench.errors import WsolbenchError

FILE = "file"
FOLDER = "folder"


class OutputError(WsolbenchError, OSError):
    """An output cannot be written where it was asked for (read-only folder, under a regular file, a
    folder where a file is expected, an input of the same command). Also an :class:`OSError`, so code
    that catches write failures catches it."""


@dataclass(frozen=True)
class Output:
    """One path a command will write.

    Attributes:
        path: the file or folder.
        option: how the user named it (``--out``, ``--submission``, ``DIRECTORY``), for messages.
        kind: :data:`FILE` or :data:`FOLDER`.
    """

    path: pathlib.Path
    option: str
    kind: str = FILE


def output_file(path, option: str) -> Output | None:
    """An output file named by ``option`` (``None`` when ``path`` is ``None``: nothing asked for)."""
    return None if path is None else Output(pathlib.Path(path), option, FILE)


def output_folder(path, option: str) -> Output | None:
    """An output folder named by ``option`` (``None`` when ``path`` is ``None``)."""
    return None if path is None else Output(pathlib.Path(path), option, FOLDER)


def existing_ancestor(path) -> pathlib.Path:
    """The path itself if it exists, else the nearest folder above it that exists."""
    path = pathlib.Path(os.path.abspath(path))
    while not os.path.lexists(path) and path.parent != path:
        path = path.parent
    return path


def _same(a: pathlib.Path, b: pathlib.Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _probe(folder: pathlib.Path, output: Output) -> None:
    """Create and remove a file in ``folder``: the only test that agrees with the file system."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".wsolbench-probe-", dir=folder)
    except OSError as e:
        raise OutputError(f"{output.option} {output.path}: cannot create files in {folder} ({e.strerror}); "
                          "choose a writable folder or fix its permissions") from None
    os.close(fd)
    os.unlink(probe)


def _check_kind(output: Output) -> pathlib.Path:
    """Check that the path is of the right kind; return the folder new files will be created in."""
    path = output.path
    if output.kind == FILE:
        if path.is_dir():
            raise OutputError(f"{output.option} {path}: is a folder, but a file is written here; name a file, "
                              f"e.g. {path / 'result.json'}")
        anchor = existing_ancestor(path.parent)
    else:
        if path.exists() and not path.is_dir():
            raise OutputError(f"{output.option} {path}: is a file, but a folder is written here; name a folder "
                              "(it is created if missing)")
        anchor = existing_ancestor(path)
    if not anchor.is_dir():
        raise OutputError(f"{output.option} {path}: {anchor} is a file, not a folder, so nothing can be written "
                          "under it; choose another path")
    return anchor


def check_output(output: Output) -> None:
    """Check one output: right kind, and its folder (or nearest existing one) accepts new files.

    Raises:
        OutputError: naming the option, the path, what is wrong and what to do.
    """
    _probe(_check_kind(output), output)


def check_outputs(outputs: Iterable[Output | None], *, inputs: Mapping[str, object] | None = None) -> None:
    """Check every output of a command before its work starts (``None`` entries are skipped).

    Args:
        outputs: the command's outputs.
        inputs: ``{name as the user knows it: path}`` of the files the command reads (``None`` paths
            are skipped); an output file may not be one of them, nor may an output folder be one.

    Raises:
        OutputError: the first problem found; nothing has been written.
    """
    wanted = [o for o in outputs if o is not None]
    named = [(name, pathlib.Path(p)) for name, p in (inputs or {}).items() if p is not None]
    for i, output in enumerate(wanted):
        for name, path in named:
            if _same(output.path, path):
                raise OutputError(f"{output.option} {output.path}: is the input {name}; writing there would "
                                  f"destroy it: write the output to another {output.kind}")
        for other in wanted[:i]:
            if _same(output.path, other.path):
                raise OutputError(f"{other.option} and {output.option} both name {output.path}; one would overwrite "
                                  "the other: give them different paths")
        check_output(output)


# --------------------------------------------------------------------------- staging

def _staging_parent(folder: pathlib.Path) -> pathlib.Path:
    """Where to stage ``folder``: inside it when it exists (surely the same file system and writable,
    as checked), else in the nearest existing folder above it."""
    return folder if folder.is_dir() else existing_ancestor(folder)


def _commit(stage: pathlib.Path, folder: pathlib.Path) -> None:
    if not folder.exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        os.rename(stage, folder)
        return
    for src_dir, dirs, files in os.walk(stage):
        dirs.sort()
        rel = os.path.relpath(src_dir, stage)
        target_dir = folder / rel if rel != "." else folder
        target_dir.mkdir(exist_ok=True)
        for name in sorted(files):
            os.replace(os.path.join(src_dir, name), target_dir / name)
    shutil.rmtree(stage, ignore_errors=True)


@contextmanager
def staged_folder(folder) -> Iterator[pathlib.Path]:
    """Yield an empty staging folder for the files of ``folder``; move them in when the block succeeds.

    On success: if ``folder`` did not exist, the staging folder is renamed to it (atomic); if it
    existed, each staged file replaces its namesake (each rename atomic; other files in ``folder``
    are left alone). On any exception (a ``KeyboardInterrupt`` too) the staging folder is removed
    and ``folder`` is untouched.

    Raises:
        OutputError: the staging folder cannot be created or the files cannot be moved in.
    """
    folder = pathlib.Path(os.path.abspath(folder))
    parent = _staging_parent(folder)
    try:
        stage = pathlib.Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".staging", dir=parent))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(stage, 0o777 & ~umask)
    except OSError as e:
        raise OutputError(f"{folder}: cannot create a staging folder in {parent} ({e.strerror}); choose a "
                          "writable folder") from None
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    try:
        _commit(stage, folder)
    except OSError as e:
        shutil.rmtree(stage, ignore_errors=True)
        raise OutputError(f"{folder}: cannot move the finished files into place ({e.strerror or e}); check free "
                          "space and permissions") from e
