"""Ground-truth masks in the evaluation frame, cached on disk so that only the first evaluation
decodes the mask files.

Bringing an OpenImages image's masks into the 224 x 224 frame means decoding every instance and
ignore PNG at full size (1600 x 1066: 1-9 ms each with Pillow), and that is 95 % of the cost of
PxAP per image; the frame mask itself (:func:`wsolbench.metrics.gt.gt_mask`) is 50 KB of 0/1/255
that compresses to a few hundred bytes. :func:`frame_mask` keeps that result in
``<cache>/frame-masks`` (the folder of :func:`wsolbench.datasets.images.cache_dir`:
``$WSOLBENCH_CACHE``, else ``~/.cache/wsolbench``; ``WSOLBENCH_CACHE=''`` turns every cache off),
keyed by what determines it: each mask file's absolute path, size and modification time (ns), how
the dataset adapter reads the files (``MaskSource.cache_tag``), the frame and the class. A changed,
moved or touched file, another frame or another class is a miss. Entries are written atomically
(a temporary file renamed into place) and checked when read (magic, shape, length); one that is
damaged or unreadable is decoded again, and a folder that cannot be written only costs speed.
Sources that are not files (COCO polygons, generated masks) are not cached.

Hand-written: the cached value is wsolbench's own frame mask, and no caching library keys entries
by file metadata like this; the format is 16 bytes of header and a zlib stream.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import zlib

import numpy as np

from wsolbench.atomic import atomic_path
from wsolbench.datasets.images import cache_dir
from wsolbench.datasets.records import MaskSource
from wsolbench.outputs import OutputError

MAGIC = b"WSBFMSK1"
FOLDER = "frame-masks"
_HEADER = struct.Struct("<8sII")      # magic, height, width


def cache_key(source: MaskSource, resolution_wh, class_index: int | None) -> str | None:
    """The hex key of a source's frame mask, or ``None`` when it cannot be cached (not file-based, or a
    file cannot be stat'ed: the loader then reports the problem)."""
    if not source.files or source.cache_tag is None:
        return None
    files = []
    for path in source.files:
        try:
            st = os.stat(path)
        except OSError:
            return None
        files.append([os.path.abspath(path), st.st_size, st.st_mtime_ns])
    w, h = (int(v) for v in resolution_wh)
    what = json.dumps(["wsolbench-frame-mask-v1", source.cache_tag, files, [w, h], class_index])
    return hashlib.sha256(what.encode("utf-8")).hexdigest()


def entry_path(key: str) -> str | None:
    """Where the entry of ``key`` lives (``None`` when caching is off)."""
    folder = cache_dir()
    return None if folder is None else os.path.join(folder, FOLDER, key[:2], key + ".bin")


def _read(path: str, shape: tuple[int, int]) -> np.ndarray | None:
    try:
        with open(path, "rb") as f:
            data = f.read()
        magic, h, w = _HEADER.unpack_from(data)
        if magic != MAGIC or (h, w) != shape:
            return None
        raw = zlib.decompress(data[_HEADER.size:])
    except (OSError, struct.error, zlib.error):
        return None
    if len(raw) != h * w:
        return None
    return np.frombuffer(raw, np.uint8).reshape(h, w).copy()


def _write(path: str, mask: np.ndarray) -> None:
    data = _HEADER.pack(MAGIC, *mask.shape) + zlib.compress(np.ascontiguousarray(mask).tobytes(), 1)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
    except (OSError, OutputError):
        pass                            # a cache that cannot be written only costs speed


def frame_mask(source: MaskSource, resolution_wh, *, class_index: int | None = None, image_id: str | None = None,
               cache: bool = True) -> np.ndarray:
    """``gt_mask(source.load(), resolution_wh, class_index=...)``, from the disk cache when it holds it.

    Args:
        source: the image's :class:`~wsolbench.datasets.records.MaskSource`.
        resolution_wh: the evaluation frame ``(width, height)``.
        class_index: as for :func:`~wsolbench.metrics.gt.gt_mask`.
        image_id: used in error messages.
        cache: read and write the cache (``False``: always decode the files).

    Returns:
        uint8 (height, width): 1 foreground, 255 ignore, 0 background (identical to ``gt_mask``).
    """
    from wsolbench.metrics.gt import gt_mask

    key = cache_key(source, resolution_wh, class_index) if cache else None
    path = entry_path(key) if key else None
    w, h = (int(v) for v in resolution_wh)
    if path is not None:
        hit = _read(path, (h, w))
        if hit is not None:
            return hit
    mask = gt_mask(source.load_at(resolution_wh), resolution_wh, class_index=class_index, image_id=image_id)
    if path is not None:
        _write(path, mask)
    return mask
