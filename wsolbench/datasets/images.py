"""Image and mask file reading (Pillow), with clear errors; image headers and other per-file facts
cached on disk (keyed by file size and modification time)."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Callable

import numpy as np

from wsolbench.atomic import write_text_atomic
from wsolbench.errors import AnnotationError, where


def read_gray(path, *, image_id: str | None = None) -> np.ndarray:
    """Read an image file as a 2-D uint8 grayscale array (rows, cols), like ``cv2.IMREAD_GRAYSCALE``
    for 8-bit grayscale PNGs."""
    from PIL import Image

    if not os.path.isfile(path):
        raise AnnotationError(f"{where(path, None, image_id)}mask file not found; check --mask-root "
                              "and the paths in localization.txt")
    try:
        with Image.open(path) as im:
            if im.mode not in ("L", "1", "P", "I;16", "I"):
                im = im.convert("L")
            elif im.mode in ("1", "P"):
                im = im.convert("L")
            arr = np.asarray(im)
    except OSError as e:
        raise AnnotationError(f"{where(path, None, image_id)}cannot decode image ({e})") from e
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    return arr


def image_size(path) -> tuple[int, int]:
    """``(width, height)`` of an image file from its header, without decoding the pixels."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, FileNotFoundError) as e:
        raise AnnotationError(f"{path}: cannot read image header ({e})") from e


class ImageFileError(AnnotationError):
    """An image (or mask) file of a dataset is missing or unreadable.

    Attributes:
        path: the file.
        image_id: the dataset image id it belongs to (``None`` if unknown).
    """

    def __init__(self, message: str, *, path=None, image_id: str | None = None):
        super().__init__(message)
        self.path = path
        self.image_id = image_id


def header_size(path, *, image_id: str | None = None) -> tuple[int, int]:
    """``(width, height)`` from an image file's header (Pillow parses markers, never pixels).

    Raises:
        ImageFileError: the file is missing or its header cannot be parsed.
    """
    from PIL import Image

    if not os.path.isfile(path):
        raise ImageFileError(f"{where(path, None, image_id)}image file not found; check the dataset folder "
                             "(a partial download?)", path=path, image_id=image_id)
    try:
        with Image.open(path) as im:
            return tuple(int(v) for v in im.size)
    except (OSError, ValueError, SyntaxError) as e:
        raise ImageFileError(f"{where(path, None, image_id)}cannot read the image header ({e}); the file is "
                             "truncated or not an image: download it again", path=path, image_id=image_id) from e


def cache_dir() -> str | None:
    """Folder for wsolbench's caches: ``$WSOLBENCH_CACHE``, else ``$XDG_CACHE_HOME/wsolbench``, else
    ``~/.cache/wsolbench``; ``None`` when ``$WSOLBENCH_CACHE`` is set to an empty string (caching off)."""
    env = os.environ.get("WSOLBENCH_CACHE")
    if env is not None:
        return env or None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "wsolbench")


def _cache_file(kind: str, root) -> str | None:
    folder = cache_dir()
    if folder is None:
        return None
    key = hashlib.sha256(os.path.abspath(root).encode("utf-8")).hexdigest()[:16]
    return os.path.join(folder, f"filefacts-{kind}-{key}.json")


def _load_cache(path: str | None, root) -> dict:
    if path is None or not os.path.isfile(path):
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}  # a damaged cache is rebuilt
    if data.get("format") != "wsolbench.filefacts" or data.get("root") != os.path.abspath(root):
        return {}
    entries = data.get("entries")
    return entries if isinstance(entries, dict) else {}


def _save_cache(path: str | None, root, kind: str, entries: dict) -> None:
    """Write the cache atomically; a folder that cannot be written only costs speed."""
    if path is None:
        return
    data = {"format": "wsolbench.filefacts", "version": 1, "kind": kind, "root": os.path.abspath(root),
            "entries": entries}
    try:
        write_text_atomic(path, json.dumps(data))
    except OSError:
        pass


def cached_file_facts(root, names, compute: Callable[[str], object], *, kind: str,
                      cache: bool = True) -> tuple[dict[str, object], dict[str, AnnotationError]]:
    """Compute a JSON-able fact about each file ``root/name`` once, and cache it on disk.

    A cached fact is reused while the file's size and modification time are unchanged. The cache
    lives in :func:`cache_dir` (one file per ``kind`` and root folder); it is written atomically
    and a cache that cannot be read or written only costs time.

    Args:
        root: folder the names are relative to.
        names: relative '/'-separated file names.
        compute: ``compute(path) -> fact``; raises :class:`AnnotationError` (e.g. ImageFileError).
        kind: cache name, e.g. ``image-sizes``.
        cache: use the on-disk cache.

    Returns:
        ``(facts, failures)``: ``facts[name]`` for the files that worked, ``failures[name]`` the
        error of each file that did not (missing, unreadable).
    """
    cache_path = _cache_file(kind, root) if cache else None
    entries = _load_cache(cache_path, root)
    facts, failures, changed = {}, {}, False
    for name in names:
        path = os.path.join(root, name)
        try:
            st = os.stat(path)
        except OSError:
            st = None
        hit = entries.get(name) if st is not None else None
        if hit is not None and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
            facts[name] = hit[2]
            continue
        try:
            facts[name] = compute(path)
        except AnnotationError as e:
            failures[name] = e
            continue
        if st is not None:
            entries[name] = [st.st_size, st.st_mtime_ns, facts[name]]
            changed = True
    if changed:
        _save_cache(cache_path, root, kind, entries)
    return facts, failures


def read_image_sizes(root, names, *, cache: bool = True) -> tuple[dict[str, tuple[int, int]], dict[str, AnnotationError]]:
    """``(width, height)`` of every image ``root/name`` from its header, cached (see :func:`cached_file_facts`).

    Returns:
        ``(sizes, failures)``; ``failures[name]`` is an :class:`ImageFileError`.
    """
    facts, failures = cached_file_facts(root, names, lambda p: list(header_size(p)), kind="image-sizes",
                                        cache=cache)
    return {k: (int(v[0]), int(v[1])) for k, v in facts.items()}, failures


def missing_files(root, names) -> list[str]:
    """The names (relative '/'-separated) that are not files under ``root``, found by listing each
    folder once (cheap for 100,000 images; no file is opened)."""
    listings: dict[str, set[str]] = {}
    missing = []
    for name in names:
        folder, _, base = name.rpartition("/")
        if folder not in listings:
            full = os.path.join(root, folder) if folder else os.fspath(root)
            try:
                listings[folder] = {e.name for e in os.scandir(full) if not e.is_dir()}
            except OSError:
                listings[folder] = set()
        if base not in listings[folder]:
            missing.append(name)
    return missing
