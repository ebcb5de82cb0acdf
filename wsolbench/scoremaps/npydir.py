"""Import and export the reference's score-map folder: one ``<image_id>.npy`` per image.

clovaai/wsolevaluation's ``evaluate_wsol`` loads ``os.path.join(scoremap_root, image_id + '.npy')``
(e.g. ``val2/995/0.jpeg.npy``): float64 maps, already resized to 224x224 and min-max normalised.
Imported folders are therefore marked ``normalized=True`` by default, and exports are written as
float64, the only dtype the reference's ``check_scoremap_validity`` accepts.
"""

from __future__ import annotations

import os
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


NPY_MAGIC = b"\x93NUMPY"


def _read_npy(path: str, image_id: str) -> np.ndarray:
    """``np.load`` of one map with messages that say what the file really is."""
    where = f"{path}: image '{image_id}': "
    try:
        with open(path, "rb") as f:
            head = f.read(len(NPY_MAGIC))
    except OSError as e:
        raise FormatError(f"{where}cannot read ({e.strerror})") from None
    if head != NPY_MAGIC:
        raise FormatError(f"{where}not a .npy file (it starts with {head!r}, not the NumPy header "
                          f"{NPY_MAGIC!r}: a text or other file named .npy?); save maps with np.save(path, cam)")
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as e:
        what = ("holds pickled Python objects (an object array), which are never loaded" if "pickle" in str(e)
                else f"is a damaged .npy file ({e})")
        raise FormatError(f"{where}{what}; save a float array with np.save(path, cam.astype(np.float32))") from None
    except (OSError, EOFError) as e:
        raise FormatError(f"{where}is a truncated or damaged .npy file ({e}); save it again with "
                          "np.save(path, cam)") from None


def _load_map(root, image_id: str, *, normalized: bool) -> np.ndarray:
    path = npy_path(root, image_id)
    if not os.path.isfile(path):
        raise FormatError(f"{path}: image '{image_id}': map file not found; the folder must hold "
                          "<image_id>.npy for every listed image id (as the reference's evaluate_wsol expects)")
    arr = _read_npy(path, image_id)
    if arr.ndim not in (1, 2) or arr.dtype not in fmt.MAP_DTYPES:
        raise FormatError(f"{path}: image '{image_id}': array of shape {arr.shape} and dtype {arr.dtype}, "
                          "expected a 2-D (h, w) or 1-D (L,) float map")
    fmt.check_map_values([arr], [image_id], None, normalized=normalized, path=path,
                         normalized_fix="pass --raw (normalized=False) for raw CAMs, or clip the maps to [0, 1]")
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
            writer.append(part, [_load_map(root, i, normalized=normalized) for i in part])
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


def _existing_targets(root: str, image_ids, limit: int = 3) -> tuple[int, list[str]]:
    found = [npy_path(root, i) for i in image_ids if os.path.lexists(npy_path(root, i))]
    return len(found), found[:limit]


def export_npy_dir(path, root, *, dtype="float64", overwrite: bool = False, batch_size: int = 256,
                   on_batch: Callable[[int, int], None] | None = None) -> ExportSummary:
    """Write every map of a score-map file as ``root/<image_id>.npy`` (the reference's layout).

    All or nothing: existing files are looked for before anything is written (refused unless
    ``overwrite``), and the maps are written into a staging folder that is moved into ``root`` only
    when every map was read and written (:func:`wsolbench.outputs.staged_folder`); a bad map halfway
    leaves ``root`` as it was.

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
    from wsolbench.outputs import staged_folder
    from wsolbench.scoremaps.reader import ScoreMapFile

    root = os.fspath(root)
    shapes: dict[str, int] = {}
    with ScoreMapFile(path) as f:
        if f.has_map_labels:
            raise FormatError(f"{path}: has map_labels (several maps per image id); the .npy folder layout holds one "
                              "map per image id, so it cannot be exported")
        if not overwrite:
            n, shown = _existing_targets(root, f.image_ids)
            if n:
                raise FormatError(f"{shown[0]}: already exists ({n} of the {f.n_maps} files to write exist); nothing "
                                  "was written: pass overwrite=True (--overwrite) to replace them, or export to an "
                                  "empty folder")
        done = 0
        with staged_folder(root) as stage:
            for batch in f.iter_batches(batch_size=batch_size):
                for image_id, m in zip(batch.image_ids, batch.maps):
                    arr = np.asarray(m[0] if f.map_ndim == 1 else m, dtype=dtype)
                    target = npy_path(stage, image_id)
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    np.save(target, arr)
                    key = "x".join(str(s) for s in arr.shape)
                    shapes[key] = shapes.get(key, 0) + 1
                done += len(batch)
                if on_batch is not None:
                    on_batch(done, f.n_maps)
        return ExportSummary(root=root, n_maps=f.n_maps, normalized=f.normalized, map_shapes=shapes)
