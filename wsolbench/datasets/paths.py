"""Paths read from dataset files stay inside the folder they are relative to.

A mask path in ``localization.txt`` such as ``../../secret.png`` or ``/etc/passwd`` must not make
wsolbench read outside ``--mask-root``; neither may an image id outside the image root.
:func:`inside_root` resolves the path (``.`` and ``..`` collapsed, as the operating system would
walk it) and refuses it unless it stays under the root. Symbolic links *inside* the root are
followed on purpose: datasets are often assembled from links to other disks, and links are
placed by whoever set up the folder, not by the annotation file.

Example:
    >>> inside_root("/data/masks", "a/b.png")
    '/data/masks/a/b.png'
    >>> inside_root("/data/masks", "../x.png", what="mask")
    Traceback (most recent call last):
    ...
    wsolbench.errors.AnnotationError: mask path '../x.png' leads to /data/x.png, outside /data/masks; ...
"""

from __future__ import annotations

import os

from wsolbench.errors import AnnotationError, where


def inside_root(root, relative: str, *, what: str = "file", path=None, line: int | None = None,
                image_id: str | None = None) -> str:
    """``root/relative`` after checking that it stays inside ``root``.

    Args:
        root: the folder the dataset file's paths are relative to.
        relative: the path as written in the dataset file.
        what: what the path names (``mask``, ``image``), for the message.
        path, line, image_id: where the path was read, for the message.

    Raises:
        AnnotationError: an absolute path, or one that leads outside ``root``.
    """
    root = os.fspath(root)
    prefix = where(path, line, image_id)
    fix = (f"paths in dataset files must be relative to {root} and stay inside it: fix the entry, or point "
           "the root option at a folder that holds the file")
    if os.path.isabs(relative) or (len(relative) > 1 and relative[1] == ":"):
        raise AnnotationError(f"{prefix}{what} path {relative!r} is absolute; {fix}")
    full = os.path.join(root, relative)
    base, target = os.path.normpath(os.path.abspath(root)), os.path.normpath(os.path.abspath(full))
    if os.path.commonpath([base, target]) != base:
        raise AnnotationError(f"{prefix}{what} path {relative!r} leads to {target}, outside {root}; {fix}")
    return full
