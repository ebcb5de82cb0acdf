"""The HDF5 score-map format, version 1: names, layout rules and the checks both ends share.

The writer (:mod:`wsolbench.scoremaps.writer`) and the reader (:mod:`wsolbench.scoremaps.reader`)
import their constants and checks from here, so the two can never disagree about what a valid
file is. ``docs/scoremaps.md`` describes the layout for method authors.

Minimal layout (version 1)::

    /                 attrs: format = "wsolbench.scoremaps", format_version = 1,
                             normalized = False (optional)
    /image_ids        [N] variable-length UTF-8 strings
    /maps             [N, h, w] float16/float32/float64  (or [N, L]: N one-dimensional maps)
    /predicted_labels [N] int (optional)

Extensions: ``maps_by_row/<row>`` (one dataset per row, for maps of different sizes, instead of
``maps``), ``map_labels`` [N] int (the class of each map; multi-label data), ``logits`` or
``scores`` [N, C] float (class scores), provenance attributes (:data:`PROVENANCE_ATTRS`).

Every check raises :class:`~wsolbench.errors.FormatError` whose message names the file, the row
and image id where known, what was expected, what was found, and how to fix it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from wsolbench.errors import AnnotationError, FormatError

FORMAT_NAME = "wsolbench.scoremaps"
FORMAT_VERSION = 1
SUPPORTED_VERSIONS = (1,)

IMAGE_IDS = "image_ids"
MAPS = "maps"
MAPS_BY_ROW = "maps_by_row"
PREDICTED_LABELS = "predicted_labels"
MAP_LABELS = "map_labels"
CLASS_SCORE_NAMES = ("logits", "scores")
LABEL_NAMES = (PREDICTED_LABELS, MAP_LABELS)

#: Root attributes the format itself sets; ``attrs=`` of the writer may not override them.
RESERVED_ATTRS = ("format", "format_version", "normalized")
#: Provenance root attributes (all optional strings).
PROVENANCE_ATTRS = ("method", "backbone", "dataset", "split", "created", "wsolbench_version", "notes")

MAP_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))
#: Digits of a ``maps_by_row`` member name written by the writer (readers accept any width).
ROW_NAME_DIGITS = 8

_ROW_NAME = re.compile(r"^[0-9]+$")

LAYOUT_FIXED = "fixed"
LAYOUT_BY_ROW = "by_row"


@dataclass(frozen=True)
class Layout:
    """How the maps of one file are stored.

    Attributes:
        n_maps: number of rows N.
        kind: ``"fixed"`` (one ``maps`` dataset) or ``"by_row"`` (group ``maps_by_row``).
        map_ndim: 2 for image maps, 1 for one-dimensional (time-series) maps.
        dtype: storage dtype of the maps (of row 0 for ``by_row``).
        map_shape: ``(rows, cols)`` of every map for ``fixed`` (``(1, L)`` for 1-D maps), else None.
    """

    n_maps: int
    kind: str
    map_ndim: int
    dtype: np.dtype
    map_shape: tuple[int, int] | None = None


def location(path, *, row: int | None = None, image_id: str | None = None) -> str:
    """Format ``"file: row 3, image 'a/b.jpg': "`` for error messages."""
    parts = [str(path)]
    detail = []
    if row is not None:
        detail.append(f"row {row}")
    if image_id is not None:
        detail.append(f"image '{image_id}'")
    if detail:
        parts.append(", ".join(detail))
    return ": ".join(parts) + ": "


def row_name(row: int) -> str:
    """The ``maps_by_row`` member name of ``row`` as the writer writes it (``00000042``)."""
    return f"{row:0{ROW_NAME_DIGITS}d}"


def to_python(value):
    """Turn an HDF5 attribute value into plain Python (str, int, float, bool, list)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray):
        return [to_python(v) for v in value.tolist()] if value.dtype.kind in "OS" else value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


# --------------------------------------------------------------------------- root attributes

def check_format_attrs(attrs: Mapping, *, path) -> tuple[int, bool]:
    """Check the root attributes ``format``, ``format_version`` and ``normalized``.

    Returns:
        ``(format_version, normalized)``.
    """
    fix = (f"set f.attrs['format'] = '{FORMAT_NAME}' and f.attrs['format_version'] = {FORMAT_VERSION} "
           "on the file's root (see docs/scoremaps.md)")
    if "format" not in attrs:
        raise FormatError(f"{location(path)}root attribute 'format' is missing, so this is not a wsolbench "
                          f"score-map file; {fix}")
    name = to_python(attrs["format"])
    if name != FORMAT_NAME:
        raise FormatError(f"{location(path)}root attribute format = {name!r}, expected {FORMAT_NAME!r}; {fix}")
    if "format_version" not in attrs:
        raise FormatError(f"{location(path)}root attribute 'format_version' is missing; {fix}")
    version = to_python(attrs["format_version"])
    if isinstance(version, bool) or not isinstance(version, int):
        raise FormatError(f"{location(path)}format_version = {version!r} is not an integer; {fix}")
    if version not in SUPPORTED_VERSIONS:
        supported = ", ".join(str(v) for v in SUPPORTED_VERSIONS)
        raise FormatError(f"{location(path)}format_version {version} is not supported by this wsolbench "
                          f"(supported: {supported}); upgrade wsolbench or write the file as version "
                          f"{FORMAT_VERSION}")
    return version, check_normalized_attr(attrs.get("normalized", False), path=path)


def check_normalized_attr(value, *, path) -> bool:
    """Accept a boolean (or 0/1) ``normalized`` attribute."""
    value = to_python(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise FormatError(f"{location(path)}root attribute normalized = {value!r} is not a boolean; write "
                      "f.attrs['normalized'] = True (maps are final scores in [0, 1]) or False (raw CAMs)")


def check_user_attrs(attrs: Mapping | None) -> dict:
    """Check provenance attributes given to a writer: string keys, scalar or string values."""
    out = {}
    for key, value in (attrs or {}).items():
        if not isinstance(key, str) or not key:
            raise FormatError(f"attribute name {key!r} must be a non-empty string")
        if key in RESERVED_ATTRS:
            raise FormatError(f"attribute {key!r} is set by the format itself; pass normalized= to the writer "
                              f"instead of attrs[{key!r}]")
        if value is None:
            continue
        if not isinstance(value, (str, bool, int, float, np.generic)):
            raise FormatError(f"attribute {key!r} has a {type(value).__name__} value; use a string or a number "
                              "(e.g. json.dumps(value))")
        out[key] = value
    return out


# --------------------------------------------------------------------------- image ids and labels

def decode_image_ids(raw: np.ndarray, *, path) -> list[str]:
    """Decode the stored ``image_ids`` (str or bytes objects) and check every id.

    Args:
        raw: array [N] of ``str`` or ``bytes``.
    """
    ids = []
    for row, value in enumerate(raw.tolist()):
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                raise FormatError(f"{location(path, row=row)}image id {value!r} is not valid UTF-8; store "
                                  "image ids as UTF-8 strings (h5py.string_dtype('utf-8'))") from None
        ids.append(check_map_image_id(value, path=path, row=row))
    return ids


def check_map_image_id(image_id, *, path, row: int) -> str:
    """Check one image id as :func:`wsolbench.datasets.records.check_image_id` does, as a FormatError."""
    from wsolbench.datasets.records import check_image_id

    if not isinstance(image_id, str):
        raise FormatError(f"{location(path, row=row)}image id {image_id!r} is a {type(image_id).__name__}, "
                          "expected a string")
    try:
        return check_image_id(image_id)
    except AnnotationError as e:
        raise FormatError(f"{location(path, row=row)}in dataset '{IMAGE_IDS}': {e}") from None


def check_unique_keys(image_ids: Sequence[str], map_labels: np.ndarray | None, *, path,
                      first_row: int = 0, seen: Mapping | None = None) -> dict:
    """Check that image ids (or ``(image id, map label)`` pairs) are unique.

    Args:
        image_ids: ids of rows ``first_row ...``.
        map_labels: the rows' map labels [len(image_ids)] or None.
        seen: keys of earlier rows -> row (not modified); lets a writer check batch by batch.

    Returns:
        The mapping key -> row of these rows, where a key is the id, or ``(id, label)`` with map labels.
    """
    seen = {} if seen is None else seen
    out: dict = {}
    labels = [None] * len(image_ids) if map_labels is None else [int(v) for v in map_labels]
    for offset, (image_id, label) in enumerate(zip(image_ids, labels)):
        key = image_id if label is None else (image_id, label)
        row = first_row + offset
        previous = out.get(key, seen.get(key))
        if previous is not None:
            what = f"image id {image_id!r}" if label is None else f"(image id, map label) ({image_id!r}, {label})"
            fix = ("each image must have exactly one map; for several maps per image (multi-label data) add a "
                   f"'{MAP_LABELS}' dataset" if label is None else "each image may have one map per class")
            raise FormatError(f"{location(path, row=row, image_id=image_id)}{what} already appears at row "
                              f"{previous}; {fix}")
        out[key] = row
    return out


def check_label_array(values: np.ndarray, *, name: str, n: int, path) -> np.ndarray:
    """Check an integer label dataset (``predicted_labels``, ``map_labels``): shape [N], ints >= 0.

    Returns:
        The labels as int64 [N].
    """
    values = np.asarray(values)
    if values.dtype.kind not in "iu":
        raise FormatError(f"{location(path)}dataset '{name}' has dtype {values.dtype}, expected integers; "
                          "store class indices as int64 (np.asarray(labels, np.int64))")
    if values.ndim != 1 or len(values) != n:
        raise FormatError(f"{location(path)}dataset '{name}' has shape {values.shape}, expected ({n},): one "
                          "class index per row of image_ids")
    values = values.astype(np.int64)
    negative = np.flatnonzero(values < 0)
    if len(negative):
        raise FormatError(f"{location(path, row=int(negative[0]))}{name} = {values[negative[0]]} is negative; "
                          "class indices are 0-based")
    return values


def check_class_range(labels: np.ndarray, *, num_classes: int | None, name: str, path, rows: Sequence[int] | None,
                      image_ids: Sequence[str]) -> None:
    """Check predicted classes against the dataset's classes ``0 .. num_classes - 1`` (no check when the
    number of classes is unknown).

    Raises:
        FormatError: naming the file, row, image and value, and the likely cause (1-based labels, or
            another dataset's class numbering).
    """
    if num_classes is None or labels is None or not len(labels):
        return
    bad = np.flatnonzero((np.asarray(labels) < 0) | (np.asarray(labels) >= num_classes))
    if len(bad):
        i = int(bad[0])
        raise FormatError(f"{location(path, row=None if rows is None else int(rows[i]), image_id=image_ids[i])}"
                          f"{name} = {int(labels[i])} is "
                          f"outside the dataset's classes 0..{num_classes - 1} ({len(bad)} such row(s) in this batch); "
                          "predictions must use the ground truth's 0-based class numbering (1-based labels? another "
                          "dataset's classes?); if the split does not show every class, declare their number "
                          "(wsoleval: -o num_classes=N)")


def check_class_scores(scores: np.ndarray, *, name: str, path, rows: Sequence[int], image_ids: Sequence[str]) -> None:
    """Check class scores (``logits``/``scores``) [B, C] for NaN and infinities.

    Raises:
        FormatError: naming the row and image; the argmax of a NaN row would be an arbitrary class.
    """
    bad = np.flatnonzero(~np.isfinite(np.asarray(scores, dtype=np.float64)).all(axis=1))
    if len(bad):
        i = int(bad[0])
        raise FormatError(f"{location(path, row=int(rows[i]), image_id=image_ids[i])}{name} contains NaN or infinite "
                          f"values ({len(bad)} such row(s) in this batch); their argmax (the predicted class) would be "
                          "meaningless: store finite class scores, or predicted_labels")


def check_class_scores_shape(shape: tuple, dtype: np.dtype, *, name: str, n: int, path) -> int:
    """Check a ``logits``/``scores`` dataset's shape [N, C] and float dtype; return C."""
    if np.dtype(dtype) not in MAP_DTYPES:
        raise FormatError(f"{location(path)}dataset '{name}' has dtype {dtype}, expected float16/32/64 class "
                          "scores")
    if len(shape) != 2 or shape[0] != n or shape[1] < 1:
        raise FormatError(f"{location(path)}dataset '{name}' has shape {tuple(shape)}, expected ({n}, C): one "
                          "row of C class scores per row of image_ids")
    return int(shape[1])


# --------------------------------------------------------------------------- maps

def check_map_dtype(dtype, *, path, row: int | None = None, image_id: str | None = None,
                    what: str = f"dataset '{MAPS}'") -> np.dtype:
    """Accept float16, float32 and float64 maps."""
    dtype = np.dtype(dtype)
    if dtype not in MAP_DTYPES:
        raise FormatError(f"{location(path, row=row, image_id=image_id)}{what} has dtype {dtype}, expected "
                          "float16, float32 or float64; store the raw scores as floats "
                          "(e.g. maps.astype(np.float32))")
    return dtype


def _rank_hint(shape: tuple) -> str:
    if len(shape) >= 1 and shape[-1] in (3, 4) and len(shape) >= 3:
        return " (it looks like channels-last images; store one single-channel map per image, the GT class's)"
    if len(shape) == 4:
        return " (one map per class? store only the GT class's map, or use map_labels for several)"
    return ""


def check_fixed_maps(shape: tuple, dtype, *, n: int, path) -> Layout:
    """Check the ``maps`` dataset's shape ([N, h, w] or [N, L]) and dtype against N ids."""
    dtype = check_map_dtype(dtype, path=path)
    if len(shape) not in (2, 3):
        raise FormatError(f"{location(path)}dataset '{MAPS}' has rank {len(shape)} (shape {tuple(shape)}), "
                          f"expected [N, h, w] (2-D maps) or [N, L] (1-D maps){_rank_hint(shape)}")
    if shape[0] != n:
        raise FormatError(f"{location(path)}length mismatch: '{IMAGE_IDS}' has {n} entries but '{MAPS}' has "
                          f"{shape[0]} rows; both must list the same images in the same order")
    if any(s < 1 for s in shape[1:]):
        raise FormatError(f"{location(path)}dataset '{MAPS}' has shape {tuple(shape)}; maps must have at least "
                          "one pixel")
    map_shape = (1, int(shape[1])) if len(shape) == 2 else (int(shape[1]), int(shape[2]))
    return Layout(n_maps=n, kind=LAYOUT_FIXED, map_ndim=len(shape) - 1, dtype=dtype, map_shape=map_shape)


def parse_row_names(names: Sequence[str], *, n: int, path) -> list[str]:
    """Map the member names of ``maps_by_row`` to rows; every row 0..N-1 exactly once.

    Returns:
        ``names_by_row``: the member name of each row [N].
    """
    by_row: list[str | None] = [None] * n
    for name in names:
        if not _ROW_NAME.match(name):
            raise FormatError(f"{location(path)}'{MAPS_BY_ROW}/{name}' is not named by a row index; name each "
                              f"member by its zero-padded row, e.g. '{row_name(0)}'")
        row = int(name)
        if row >= n:
            raise FormatError(f"{location(path, row=row)}length mismatch: '{MAPS_BY_ROW}/{name}' is row {row} but "
                              f"'{IMAGE_IDS}' has only {n} entries; write one map per image id")
        if by_row[row] is not None:
            raise FormatError(f"{location(path, row=row)}'{MAPS_BY_ROW}' holds row {row} twice ('{by_row[row]}' "
                              f"and '{name}'); keep one")
        by_row[row] = name
    missing = [row for row, name in enumerate(by_row) if name is None]
    if missing:
        raise FormatError(f"{location(path, row=missing[0])}length mismatch: '{MAPS_BY_ROW}' has no map for "
                          f"{len(missing)} of the {n} rows of '{IMAGE_IDS}' (first: row {missing[0]}); write one "
                          "map per image id")
    return by_row  # type: ignore[return-value]


def check_row_map(shape: tuple, dtype, *, map_ndim: int | None, path, row: int,
                  image_id: str | None) -> tuple[int, int]:
    """Check one ``maps_by_row`` member ([h, w] or [L]); return its map shape as (rows, cols)."""
    what = f"dataset '{MAPS_BY_ROW}/{row_name(row)}'"
    check_map_dtype(dtype, path=path, row=row, image_id=image_id, what=what)
    if len(shape) not in (1, 2):
        raise FormatError(f"{location(path, row=row, image_id=image_id)}{what} has rank {len(shape)} (shape "
                          f"{tuple(shape)}), expected [h, w] (2-D map) or [L] (1-D map){_rank_hint((0,) + shape)}")
    if map_ndim is not None and len(shape) != map_ndim:
        raise FormatError(f"{location(path, row=row, image_id=image_id)}{what} is {len(shape)}-D but row 0 is "
                          f"{map_ndim}-D; all maps of a file must have the same rank")
    if any(s < 1 for s in shape):
        raise FormatError(f"{location(path, row=row, image_id=image_id)}{what} has shape {tuple(shape)}; maps must "
                          "have at least one pixel")
    return (1, int(shape[0])) if len(shape) == 1 else (int(shape[0]), int(shape[1]))


def map_ranges(maps) -> tuple[np.ndarray, np.ndarray]:
    """Per-map minimum and maximum of a batch (NaN if the map has a NaN).

    Args:
        maps: array [B, ...] or a list of B arrays.

    Returns:
        ``(lo, hi)``, float64 arrays [B].
    """
    if isinstance(maps, np.ndarray) and maps.ndim >= 2:
        axes = tuple(range(1, maps.ndim))
        return maps.min(axis=axes).astype(np.float64), maps.max(axis=axes).astype(np.float64)
    lo = np.array([np.min(m) for m in maps], np.float64)
    hi = np.array([np.max(m) for m in maps], np.float64)
    return lo, hi


def check_map_values(maps, image_ids: Sequence[str], rows: Sequence[int] | None, *, normalized: bool,
                     path, normalized_fix: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Check a batch of maps: finite everywhere; within [0, 1] when ``normalized``.

    Args:
        maps: array [B, ...] or a list of B arrays.
        image_ids: the B image ids (for messages).
        rows: the B row indices (for messages), or ``None`` (maps read from other files than ``path``'s rows).
        normalized_fix: the advice for maps outside [0, 1] (default: the score-map file's attribute).

    Returns:
        The per-map ``(lo, hi)`` ranges (float64 [B]).
    """
    lo, hi = map_ranges(maps)
    row_of = (lambda i: None) if rows is None else (lambda i: int(rows[i]))
    bad = np.flatnonzero(~(np.isfinite(lo) & np.isfinite(hi)))
    if len(bad):
        i = int(bad[0])
        raise FormatError(f"{location(path, row=row_of(i), image_id=image_ids[i])}the map contains NaN or "
                          f"infinite values ({len(bad)} such map(s) in this batch); fix the method's output or "
                          "replace them, e.g. np.nan_to_num(cam, nan=0.0)")
    if normalized:
        out = np.flatnonzero((lo < 0) | (hi > 1))
        if len(out):
            i = int(out[0])
            fix = normalized_fix or ("clip the maps to [0, 1], or store raw maps with normalized = false (the "
                                     "protocol then resizes and min-max normalises them)")
            raise FormatError(f"{location(path, row=row_of(i), image_id=image_ids[i])}values span "
                              f"[{lo[i]:.6g}, {hi[i]:.6g}], outside [0, 1], but the maps are marked normalized; {fix}")
    return lo, hi
