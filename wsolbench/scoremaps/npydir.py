"""Import and export the reference's score-map folder: one ``<image_id>.npy`` per image.

clovaai/wsolevaluation's ``evaluate_wsol`` loads ``os.path.join(scoremap_root, image_id + '.npy')``
(e.g. ``val2/995/0.jpeg.npy``): float64 maps, already resized to 224x224 and min-max normalised.
Imported folders are therefore marked ``normalized=True`` by default, and exports are written as
float64, the only dtype the reference's ``check_scoremap_validity`` accepts.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np

from wsolbench.errors import FormatError
from wsolbench.scoremaps import format as fmt

NPY_SUFFIX = ".npy"


def npy_path(root, image_id: str) -> str:
    """Where the reference expects the map of ``image_id``: ``root/<image_id>.npy``."""
    return os.path.join(os.fspath(root), image_id + NPY_SUFFIX)


def read_id_list(path) -> list[str]:
    """Read an ``image_ids.txt`` file: one image id per line (blank lines skipped)."""
    from wsolbench.datasets.records import check_image_id
    from wsolbench.datasets.textfiles import read_rows

    return [check_image_id(parts[0], path=path, line=line)
            for line, parts in read_rows(path, fields=(1,), what="one image id per line")]


def find_npy_ids(root) -> list[str]:
    """All ``<image_id>.npy`` files under ``root`` as sorted '/'-separated image ids."""
    root = os.fspath(root)
    ids = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in files:
            if name.endswith(NPY_SUFFIX):
                rel = os.path.relpath(os.path.join(folder, name), root)
                ids.append(rel[: -len(NPY_SUFFIX)].replace(os.sep, "/"))
    return sorted(ids)


def _load_map(root, image_id: str) -> np.ndarray:
    path = npy_path(root, image_id)
    if not os.path.isfile(path):
        raise FormatError(f"{path}: image '{image_id}': map file not found; the folder must hold "
                          "<image_id>.npy for every listed image id (as the reference's evaluate_wsol expects)")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise FormatError(f"{path}: image '{image_id}': not a readable .npy array ({e}); save maps with "
                          "np.save(path, cam)") from None
    if arr.ndim not in (1, 2) or arr.dtype not in fmt.MAP_DTYPES:
        raise FormatError(f"{path}: image '{image_id}': array of shape {arr.shape} and dtype {arr.dtype}, "
                          "expected a 2-D (h, w) or 1-D (L,) float map")
    return arr


def _batches(ids: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def import_npy_dir(root, out, *, image_ids: Sequence[str] | None = None, normalized: bool = True,
                   attrs: dict | None = None, batch_size: int = 256,
                   on_batch: Callable[[int, int], None] | None = None, **writer_options) -> str:
    """Convert a folder of ``<image_id>.npy`` maps into a score-map file.

    Args:
        root: the folder (the reference's ``scoremap_root``).
        out: the ``.h5`` file to write (atomically).
        image_ids: ids to import, in this order (default: every ``.npy`` under ``root``, sorted).
        normalized: True (default) for the reference's saved maps (224x224, in [0, 1]); False for raw CAMs.
        attrs: provenance attributes (``method``, ``dataset``...).
        batch_size: maps held in memory at a time.
        on_batch: optional progress callback ``(maps_done, n_maps)``.
        **writer_options: :class:`~wsolbench.scoremaps.writer.ScoreMapWriter` options (``dtype``,
            ``compression``...).

    Returns:
        ``out``.
    """
    from wsolbench.scoremaps.writer import ScoreMapWriter

    root = os.fspath(root)
    if not os.path.isdir(root):
        raise FormatError(f"{root}: not a folder; expected the folder of <image_id>.npy score maps")
    ids = list(image_ids) if image_ids is not None else find_npy_ids(root)
    if not ids:
        raise FormatError(f"{root}: no .npy maps found; expected files named <image_id>.npy")
    attrs = {"notes": f"imported from the .npy folder {os.path.abspath(root)}", **(attrs or {})}
    with ScoreMapWriter(out, normalized=normalized, attrs=attrs, **writer_options) as writer:
        for part in _batches(ids, batch_size):
            writer.append(part, [_load_map(root, i) for i in part])
            if on_batch is not None:
                on_batch(writer.n_written, len(ids))
    return writer.path


@dataclass
class ExportSummary:
    """What :func:`export_npy_dir` wrote: ``n_maps`` files under ``root``; ``normalized`` as stored."""

    root: str
    n_maps: int
    normalized: bool
    map_shapes: dict


def _save_atomic(path: str, arr: np.ndarray, *, overwrite: bool) -> None:
    if os.path.exists(path) and not overwrite:
        raise FormatError(f"{path}: already exists; pass overwrite=True (--overwrite) to replace it or export to an "
                          "empty folder")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temp = f"{path}.{secrets.token_hex(4)}.tmp"
    try:
        with open(temp, "wb") as f:
            np.save(f, arr)
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.remove(temp)


def export_npy_dir(path, root, *, dtype="float64", overwrite: bool = False, batch_size: int = 256,
                   on_batch: Callable[[int, int], None] | None = None) -> ExportSummary:
    """Write every map of a score-map file as ``root/<image_id>.npy`` (the reference's layout).

    Args:
        path: the ``.h5`` file.
        root: the output folder (created if needed).
        dtype: dtype of the written arrays (float64: the reference accepts no other).
        overwrite: replace existing ``.npy`` files.
        batch_size: maps held in memory at a time.
        on_batch: optional progress callback ``(maps_done, n_maps)``.

    1-D maps are written with shape (L,). Files with ``map_labels`` (several maps per image) cannot
    be exported: the folder layout holds one map per image id.
    """
    from wsolbench.scoremaps.reader import ScoreMapFile

    root = os.fspath(root)
    shapes: dict[str, int] = {}
    with ScoreMapFile(path) as f:
        if f.has_map_labels:
            raise FormatError(f"{path}: has map_labels (several maps per image id); the .npy folder layout holds one "
                              "map per image id, so it cannot be exported")
        done = 0
        for batch in f.iter_batches(batch_size=batch_size):
            for image_id, m in zip(batch.image_ids, batch.maps):
                arr = np.asarray(m[0] if f.map_ndim == 1 else m, dtype=dtype)
                _save_atomic(npy_path(root, image_id), arr, overwrite=overwrite)
                key = "x".join(str(s) for s in arr.shape)
                shapes[key] = shapes.get(key, 0) + 1
            done += len(batch)
            if on_batch is not None:
                on_batch(done, f.n_maps)
        return ExportSummary(root=root, n_maps=f.n_maps, normalized=f.normalized, map_shapes=shapes)
