"""Streaming, validating reader of score-map files (format v1).

:class:`ScoreMapFile` checks the file's structure when it opens (attributes, datasets, ranks,
dtypes, ids) and each map's values as it is read (NaN/inf, range when ``normalized``), so a
50,000-map file is never held in memory. Workers of a parallel evaluation each open the file
themselves and read their own ``rows``.

Example:
    >>> import numpy as np, tempfile, os
    >>> from wsolbench.scoremaps import write_scoremaps, ScoreMapFile
    >>> path = write_scoremaps(os.path.join(tempfile.mkdtemp(), "m.h5"), ["a", "b", "c"],
    ...                        np.zeros((3, 7, 7), np.float32))
    >>> with ScoreMapFile(path) as f:
    ...     [(b.rows.tolist(), b.image_ids) for b in f.iter_batches(batch_size=2)]
    [([0, 1], ['a', 'b']), ([2], ['c'])]
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import h5py
import numpy as np

from wsolbench.errors import FormatError
from wsolbench.scoremaps import format as fmt


@dataclass
class MapBatch:
    """A batch of maps read from a file.

    Attributes:
        rows: row indices in the file [B] (int64).
        image_ids: the B image ids.
        maps: array [B, rows, cols] for the fixed layout (1-D maps as [B, 1, L]), or a list of B
            2-D arrays (``maps_by_row``); either way ``maps[i]`` is the 2-D map of row ``rows[i]``.
        predicted_labels: top-1 predicted class [B] (int64) or None; taken from
            ``predicted_labels``, else the argmax of ``logits``/``scores`` if stored.
        map_labels: the class each map is for [B] (int64), or None (the GT class).
        scores: class scores [B, C] (``logits`` or ``scores``) or None.
    """

    rows: np.ndarray
    image_ids: list[str]
    maps: np.ndarray | list[np.ndarray]
    predicted_labels: np.ndarray | None = None
    map_labels: np.ndarray | None = None
    scores: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.rows)


def sha256_file(path, *, chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk_bytes), b""):
            digest.update(block)
    return digest.hexdigest()


def _open_h5(path: str) -> h5py.File:
    if not os.path.exists(path):
        raise FormatError(f"{path}: file not found; pass the path of a score-map .h5 file")
    if os.path.isdir(path):
        raise FormatError(f"{path}: is a folder, expected a score-map .h5 file (for a folder of .npy maps run "
                          "'wsolbench scoremaps import-npy' first)")
    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise FormatError(f"{path}: cannot be opened as HDF5 ({e}); the file is not an HDF5 file or is truncated "
                          "(an interrupted copy or download?): write or copy it again") from None


class ScoreMapFile:
    """A score-map file opened for reading; validates its structure on open.

    Args:
        path: the ``.h5`` file.

    Raises:
        FormatError: naming the file (and row / image id) when the file is not a valid v1 file.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        self._h5 = _open_h5(self.path)
        try:
            self._load()
        except OSError as e:
            self._h5.close()
            raise FormatError(f"{self.path}: cannot be read ({e}); the file is truncated or corrupted: write or "
                              "copy it again") from None
        except BaseException:
            self._h5.close()
            raise

    # ------------------------------------------------------------------ opening

    def _load(self) -> None:
        h5 = self._h5
        self.format_version, self.normalized = fmt.check_format_attrs(h5.attrs, path=self.path)
        self.attrs = {k: fmt.to_python(v) for k, v in h5.attrs.items()}
        self.image_ids = self._load_ids()
        n = len(self.image_ids)
        self.layout = self._load_layout(n)
        self._labels = {name: self._load_labels(name, n) for name in fmt.LABEL_NAMES}
        self._scores_name, self.num_classes = self._load_scores(n)
        self._index = fmt.check_unique_keys(self.image_ids, self._labels[fmt.MAP_LABELS], path=self.path)

    def _local(self, group: h5py.Group, name: str, *, row: int | None = None):
        """``group[name]``, or None if absent; refuses links to elsewhere and data stored outside the file.

        A score-map file must hold what was evaluated: an external link, a soft link, external
        storage or a virtual dataset would let the file's checksum, and its content hash, stand for
        data that lives (and can change) somewhere else.
        """
        link = group.get(name, getlink=True)
        if link is None:
            return None
        full = f"{group.name.rstrip('/')}/{name}".lstrip("/")
        where = fmt.location(self.path, row=row, image_id=None if row is None else self.image_ids[row])
        fix = "write the array into this file (h5py: f.create_dataset(name, data=array))"
        if isinstance(link, h5py.ExternalLink):
            raise FormatError(f"{where}'{full}' is an external link to {link.filename}:{link.path}; score-map files "
                              f"that read data from other files are refused: {fix}")
        if isinstance(link, h5py.SoftLink):
            raise FormatError(f"{where}'{full}' is a soft link to {link.path}; store the data under its own name: {fix}")
        obj = group[name]
        if isinstance(obj, h5py.Dataset) and (obj.external or obj.is_virtual):
            what = f"stored in external file(s) {', '.join(str(e[0]) for e in obj.external)}" if obj.external \
                else "a virtual dataset (its data live in other datasets or files)"
            raise FormatError(f"{where}'{full}' is {what}; score-map files must hold their data: {fix}")
        return obj

    def _dataset(self, name: str, *, required: bool = False) -> h5py.Dataset | None:
        obj = self._local(self._h5, name)
        if obj is None:
            if required:
                what = f"dataset '{name}'" + (f" (or group '{fmt.MAPS_BY_ROW}')" if name == fmt.MAPS else "")
                raise FormatError(f"{fmt.location(self.path)}{what} is missing; a score-map file needs "
                                  f"'{fmt.IMAGE_IDS}' and '{fmt.MAPS}' (see docs/scoremaps.md)")
            return None
        if not isinstance(obj, h5py.Dataset):
            raise FormatError(f"{fmt.location(self.path)}'{name}' is a group, expected a dataset")
        return obj

    def _load_ids(self) -> list[str]:
        ds = self._dataset(fmt.IMAGE_IDS, required=True)
        if h5py.check_string_dtype(ds.dtype) is None:
            raise FormatError(f"{fmt.location(self.path)}dataset '{fmt.IMAGE_IDS}' has dtype {ds.dtype}, expected "
                              "strings; write it with dtype=h5py.string_dtype('utf-8')")
        if ds.ndim != 1:
            raise FormatError(f"{fmt.location(self.path)}dataset '{fmt.IMAGE_IDS}' has shape {ds.shape}, expected "
                              "[N]: one image id per map")
        ids = fmt.decode_image_ids(ds[()], path=self.path)
        if not ids:
            raise FormatError(f"{fmt.location(self.path)}the file holds no maps ('{fmt.IMAGE_IDS}' is empty)")
        return ids

    def _load_layout(self, n: int) -> fmt.Layout:
        has_fixed, has_rows = fmt.MAPS in self._h5, fmt.MAPS_BY_ROW in self._h5
        if has_fixed and has_rows:
            raise FormatError(f"{fmt.location(self.path)}both '{fmt.MAPS}' and '{fmt.MAPS_BY_ROW}' exist; keep one "
                              "of them")
        if not has_rows:
            ds = self._dataset(fmt.MAPS, required=True)
            self._row_names = None
            return fmt.check_fixed_maps(ds.shape, ds.dtype, n=n, path=self.path)
        group = self._local(self._h5, fmt.MAPS_BY_ROW)
        if not isinstance(group, h5py.Group):
            raise FormatError(f"{fmt.location(self.path)}'{fmt.MAPS_BY_ROW}' is a dataset, expected a group with one "
                              "dataset per row")
        self._row_names = fmt.parse_row_names(list(group.keys()), n=n, path=self.path)
        first = self._row_dataset(0)
        fmt.check_row_map(first.shape, first.dtype, map_ndim=None, path=self.path, row=0,
                          image_id=self.image_ids[0])
        return fmt.Layout(n_maps=n, kind=fmt.LAYOUT_BY_ROW, map_ndim=first.ndim, dtype=first.dtype)

    def _row_dataset(self, row: int) -> h5py.Dataset:
        obj = self._local(self._h5[fmt.MAPS_BY_ROW], self._row_names[row], row=row)
        if not isinstance(obj, h5py.Dataset):
            raise FormatError(f"{fmt.location(self.path, row=row, image_id=self.image_ids[row])}"
                              f"'{fmt.MAPS_BY_ROW}/{self._row_names[row]}' is a group, expected a dataset")
        return obj

    def _load_labels(self, name: str, n: int) -> np.ndarray | None:
        ds = self._dataset(name)
        if ds is None:
            return None
        if ds.ndim != 1:
            raise FormatError(f"{fmt.location(self.path)}dataset '{name}' has shape {ds.shape}, expected ({n},)")
        return fmt.check_label_array(ds[()], name=name, n=n, path=self.path)

    def _load_scores(self, n: int) -> tuple[str | None, int | None]:
        for name in fmt.CLASS_SCORE_NAMES:
            ds = self._dataset(name)
            if ds is not None:
                return name, fmt.check_class_scores_shape(ds.shape, ds.dtype, name=name, n=n, path=self.path)
        return None, None

    # ------------------------------------------------------------------ context manager

    def __enter__(self) -> "ScoreMapFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._h5.close()

    def __len__(self) -> int:
        return self.layout.n_maps

    def __repr__(self) -> str:
        return f"ScoreMapFile({self.path!r}, n_maps={len(self)}, layout={self.layout.kind!r})"

    # ------------------------------------------------------------------ properties

    @property
    def n_maps(self) -> int:
        """Number of rows (maps) N."""
        return self.layout.n_maps

    @property
    def map_ndim(self) -> int:
        """2 for image maps, 1 for one-dimensional maps (read as (1, L) arrays)."""
        return self.layout.map_ndim

    @property
    def has_predicted_labels(self) -> bool:
        """True if batches carry predicted labels (stored, or the argmax of stored class scores)."""
        return self._labels[fmt.PREDICTED_LABELS] is not None or self._scores_name is not None

    @property
    def has_map_labels(self) -> bool:
        return self._labels[fmt.MAP_LABELS] is not None

    @property
    def map_labels(self) -> np.ndarray | None:
        """The class of each map [N] (int64), or None (each map is for the GT class)."""
        labels = self._labels[fmt.MAP_LABELS]
        return None if labels is None else labels.copy()

    @property
    def predicted_labels(self) -> np.ndarray | None:
        """The stored ``predicted_labels`` [N] (int64), or None (see :attr:`has_predicted_labels`)."""
        labels = self._labels[fmt.PREDICTED_LABELS]
        return None if labels is None else labels.copy()

    @property
    def scores_name(self) -> str | None:
        """``"logits"`` or ``"scores"`` if class scores are stored, else None."""
        return self._scores_name

    # ------------------------------------------------------------------ lookup

    def row_of(self, image_id: str, map_label: int | None = None) -> int:
        """The row of an image id (and map label, for files with ``map_labels``).

        Raises:
            KeyError: if the file has no such map.
        """
        key = image_id if not self.has_map_labels else (image_id, int(map_label) if map_label is not None else None)
        if key not in self._index:
            raise KeyError(key)
        return self._index[key]

    def find_rows(self, image_ids: Sequence[str], *, map_labels: Sequence[int] | None = None) -> np.ndarray:
        """Rows of the given ids (and map labels), in the given order.

        Raises:
            FormatError: naming the missing ids and how many are missing.
        """
        labels = [None] * len(image_ids) if map_labels is None else list(map_labels)
        rows, missing = [], []
        for image_id, label in zip(image_ids, labels):
            try:
                rows.append(self.row_of(image_id, label))
            except KeyError:
                missing.append(image_id if label is None else f"{image_id} (class {label})")
        if missing:
            shown = ", ".join(repr(m) for m in missing[:5])
            raise FormatError(f"{self.path}: no map for {len(missing)} of {len(image_ids)} image(s), e.g. {shown}; "
                              "the file must hold a map for every evaluated image")
        return np.asarray(rows, np.int64)

    # ------------------------------------------------------------------ reading

    def shape_of(self, row: int) -> tuple[int, int]:
        """The ``(rows, cols)`` of the map of ``row`` (``(1, L)`` for 1-D maps)."""
        row = self._check_row(row)
        if self.layout.kind == fmt.LAYOUT_FIXED:
            return self.layout.map_shape
        ds = self._row_dataset(row)
        return fmt.check_row_map(ds.shape, ds.dtype, map_ndim=self.map_ndim, path=self.path, row=row,
                                 image_id=self.image_ids[row])

    def read(self, row: int) -> np.ndarray:
        """The 2-D map of ``row`` (value-checked), in its stored dtype."""
        batch = next(self.iter_batches(batch_size=1, rows=[self._check_row(row)]))
        return batch.maps[0]

    def iter_batches(self, batch_size: int = 256, rows: Sequence[int] | None = None) -> Iterator[MapBatch]:
        """Yield :class:`MapBatch` es of at most ``batch_size`` maps, reading only those maps.

        Args:
            batch_size: maps per batch (memory is about ``batch_size`` maps).
            rows: rows to read, in this order (default: all rows in file order).
        """
        all_rows = None if rows is None else np.asarray([self._check_row(r) for r in rows], np.int64)
        total = self.n_maps if all_rows is None else len(all_rows)
        if total == 0:
            return
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        for start in range(0, total, batch_size):
            stop = min(start + batch_size, total)
            part = np.arange(start, stop, dtype=np.int64) if all_rows is None else all_rows[start:stop]
            yield self._read_batch(part)

    def _check_row(self, row) -> int:
        row = int(row)
        if not 0 <= row < self.n_maps:
            raise IndexError(f"{self.path}: row {row} out of range [0, {self.n_maps})")
        return row

    def _read_batch(self, rows: np.ndarray) -> MapBatch:
        ids = [self.image_ids[r] for r in rows]
        try:
            maps = self._read_fixed(rows) if self.layout.kind == fmt.LAYOUT_FIXED else self._read_by_row(rows)
            scores = None if self._scores_name is None else self._take(self._kept_open(self._scores_name), rows)
        except OSError as e:
            raise FormatError(f"{fmt.location(self.path, row=int(rows[0]), image_id=ids[0])}cannot read rows "
                              f"{rows[0]}..{rows[-1]} ({e}); the file is truncated or corrupted: write or copy it "
                              "again") from None
        fmt.check_map_values(maps, ids, rows, normalized=self.normalized, path=self.path)
        if scores is not None:
            fmt.check_class_scores(scores, name=self._scores_name, path=self.path, rows=rows, image_ids=ids)
        predicted = self._labels[fmt.PREDICTED_LABELS]
        if predicted is not None:
            predicted = predicted[rows]
        elif scores is not None:
            predicted = np.argmax(scores, axis=1).astype(np.int64)
        map_labels = self._labels[fmt.MAP_LABELS]
        return MapBatch(rows=rows, image_ids=ids, maps=maps, predicted_labels=predicted,
                        map_labels=None if map_labels is None else map_labels[rows], scores=scores)

    @staticmethod
    def _take(ds: h5py.Dataset, rows: np.ndarray) -> np.ndarray:
        """``ds[rows]`` for any row order: one contiguous read when rows are dense, else sorted picks."""
        lo, hi = int(rows.min()), int(rows.max()) + 1
        if hi - lo == len(rows) and np.all(np.diff(rows) == 1):
            return ds[lo:hi]
        unique, inverse = np.unique(rows, return_inverse=True)
        block = ds[lo:hi][unique - lo] if hi - lo <= 2 * len(rows) else ds[unique]
        return block[inverse]

    def _kept_open(self, name: str) -> h5py.Dataset:
        """The open dataset ``name``, kept open between batches: HDF5 keeps its chunk cache only while
        the dataset is open, and reopening it for each batch decompressed a whole compressed chunk
        (1,024 maps of 14 x 14) again for every 64 maps read."""
        cache = self.__dict__.setdefault("_datasets", {})
        if name not in cache:
            cache[name] = self._h5[name]
        return cache[name]

    def _read_fixed(self, rows: np.ndarray) -> np.ndarray:
        maps = self._take(self._kept_open(fmt.MAPS), rows)
        return maps[:, None, :] if self.map_ndim == 1 else maps

    def _read_by_row(self, rows: np.ndarray) -> list[np.ndarray]:
        out = []
        for row in rows:
            ds = self._row_dataset(int(row))
            fmt.check_row_map(ds.shape, ds.dtype, map_ndim=self.map_ndim, path=self.path, row=int(row),
                              image_id=self.image_ids[row])
            m = ds[()]
            out.append(m[None, :] if m.ndim == 1 else m)
        return out

    # ------------------------------------------------------------------ summary

    def map_shapes(self) -> Counter:
        """Count of each map shape ``(rows, cols)`` (reads only metadata)."""
        if self.layout.kind == fmt.LAYOUT_FIXED:
            return Counter({self.layout.map_shape: self.n_maps})
        return Counter(self.shape_of(row) for row in range(self.n_maps))

    def storage(self) -> dict:
        """Compression and chunking of the maps (of row 0 for ``maps_by_row``)."""
        ds = self._h5[fmt.MAPS] if self.layout.kind == fmt.LAYOUT_FIXED else self._row_dataset(0)
        return {"compression": ds.compression, "compression_opts": ds.compression_opts, "chunks": ds.chunks}

    def describe(self) -> dict:
        """A JSON-ready summary of the file (no map values are read)."""
        shapes = self.map_shapes()
        return {
            "path": self.path,
            "size_bytes": os.path.getsize(self.path),
            "format": fmt.FORMAT_NAME,
            "format_version": self.format_version,
            "n_maps": self.n_maps,
            "n_images": len(set(self.image_ids)),
            "layout": self.layout.kind,
            "map_ndim": self.map_ndim,
            "dtype": str(self.layout.dtype),
            "map_shapes": {f"{r}x{c}": k for (r, c), k in shapes.most_common()},
            "normalized": self.normalized,
            "predicted_labels": self._labels[fmt.PREDICTED_LABELS] is not None,
            "map_labels": self.has_map_labels,
            "class_scores": None if self._scores_name is None else {"name": self._scores_name,
                                                                      "num_classes": self.num_classes},
            "storage": self.storage(),
            "attrs": {k: v for k, v in self.attrs.items() if k not in fmt.RESERVED_ATTRS},
        }


# --------------------------------------------------------------------------- full validation

@dataclass
class ValidationReport:
    """What :func:`validate_scoremaps` found in a valid file.

    Attributes:
        path: the file.
        n_maps: number of maps.
        value_range: ``(min, max)`` over all maps.
        n_constant_maps: maps whose values are all equal (the protocol scores them as all zeros).
        constant_examples: up to 5 image ids of constant maps.
        warnings: human-readable notes that do not make the file invalid.
    """

    path: str
    n_maps: int
    value_range: tuple[float, float]
    n_constant_maps: int = 0
    constant_examples: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"path": self.path, "valid": True, "n_maps": self.n_maps, "value_range": list(self.value_range),
                "n_constant_maps": self.n_constant_maps, "constant_examples": self.constant_examples,
                "warnings": self.warnings}


def validate_scoremaps(path, *, batch_size: int = 256,
                       on_batch: Callable[[int, int], None] | None = None) -> ValidationReport:
    """Check a whole file: structure on open, then every map's values, batch by batch.

    Args:
        path: the ``.h5`` file.
        batch_size: maps read at a time.
        on_batch: optional progress callback ``(maps_done, n_maps)``.

    Raises:
        FormatError: at the first problem, naming the row and image id.
    """
    with ScoreMapFile(path) as f:
        lo, hi, constant, done = np.inf, -np.inf, [], 0
        for batch in f.iter_batches(batch_size=batch_size):
            mins, maxs = fmt.map_ranges(batch.maps)
            lo, hi = min(lo, float(mins.min())), max(hi, float(maxs.max()))
            constant.extend(batch.image_ids[i] for i in np.flatnonzero(mins == maxs))
            done += len(batch)
            if on_batch is not None:
                on_batch(done, f.n_maps)
        report = ValidationReport(path=f.path, n_maps=f.n_maps, value_range=(lo, hi),
                                  n_constant_maps=len(constant), constant_examples=constant[:5])
        if constant:
            report.warnings.append(f"{len(constant)} constant map(s), e.g. {constant[0]!r}: the protocol scores a "
                                   "constant map as all zeros (no localisation)")
        if not f.has_predicted_labels:
            report.warnings.append("no predicted_labels (or logits/scores): top-1 localisation cannot be computed, "
                                   "only GT-known metrics")
    return report
