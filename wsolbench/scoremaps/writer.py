"""Streaming writer of score-map files (format v1).

Example:
    >>> import numpy as np, tempfile, os
    >>> from wsolbench.scoremaps import ScoreMapWriter, ScoreMapFile
    >>> path = os.path.join(tempfile.mkdtemp(), "maps.h5")
    >>> with ScoreMapWriter(path, attrs={"method": "cam"}) as w:
    ...     w.append(["a.jpg", "b.jpg"], np.random.rand(2, 28, 28).astype(np.float16),
    ...              predicted_labels=[3, 1])
    >>> with ScoreMapFile(path) as f:
    ...     f.image_ids, f.shape_of(0), f.attrs["method"]
    (['a.jpg', 'b.jpg'], (28, 28), 'cam')
"""

from __future__ import annotations

import datetime
import os
import secrets
import weakref
from typing import Sequence

import h5py
import numpy as np

from wsolbench.errors import FormatError
from wsolbench.scoremaps import format as fmt

LAYOUTS = ("auto", fmt.LAYOUT_FIXED, fmt.LAYOUT_BY_ROW)
_TARGET_CHUNK_BYTES = 1 << 20
_MIN_COMPRESSED_ROW_BYTES = 16 << 10


def default_chunk_rows(map_shape: tuple[int, ...], itemsize: int) -> int:
    """Rows per chunk of the ``maps`` dataset: about 1 MiB uncompressed, between 1 and 1024."""
    per_map = int(np.prod(map_shape)) * itemsize
    return int(max(1, min(1024, _TARGET_CHUNK_BYTES // max(per_map, 1))))


def _temp_path(path: str) -> str:
    folder, base = os.path.split(path)
    return os.path.join(folder, f".{base}.{secrets.token_hex(4)}.tmp")


def _discard(h5file: h5py.File, temp: str) -> None:
    """Close and delete an unfinished temporary file (also run if a writer is garbage-collected)."""
    try:
        h5file.close()
    finally:
        if os.path.exists(temp):
            os.remove(temp)


def _utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class ScoreMapWriter:
    """Write a score-map file batch by batch; the file appears only when the writer closes cleanly.

    Data go to a temporary file in the destination folder, renamed to ``path`` by :meth:`close`;
    if the ``with`` block raises (or :meth:`abort` is called) the temporary file is deleted and
    ``path`` is left untouched.

    Args:
        path: destination ``.h5`` file (its folder is created if needed; an existing file is replaced).
        normalized: False: raw maps (the protocol resizes and min-max normalises them); True: final
            scores in [0, 1], evaluated as given.
        attrs: provenance root attributes (``method``, ``backbone``, ``dataset``, ``split``,
            ``notes``...); ``created`` and ``wsolbench_version`` are filled in unless given.
        compression: ``"gzip"``, ``"lzf"`` or None.
        compression_opts: gzip level (0-9; default 4).
        chunk_rows: rows per chunk of the ``maps`` dataset (default: about 1 MiB of maps, capped
            at ``max(16, rows of the first batch)``).
        dtype: storage dtype of the maps (float16/32/64); default: the first batch's dtype.
        layout: ``"fixed"`` (one [N, h, w] dataset; all maps the same shape), ``"by_row"`` (one
            dataset per map) or ``"auto"``: fixed, switching to by_row when a map of another shape
            arrives (the file is then repacked on close).
    """

    def __init__(self, path, *, normalized: bool = False, attrs: dict | None = None,
                 compression: str | None = "gzip", compression_opts: int | None = None,
                 chunk_rows: int | None = None, dtype=None, layout: str = "auto"):
        if layout not in LAYOUTS:
            raise FormatError(f"layout {layout!r} is not one of {', '.join(LAYOUTS)}")
        if chunk_rows is not None and chunk_rows < 1:
            raise FormatError(f"chunk_rows must be a positive integer, got {chunk_rows}")
        self.path = os.fspath(path)
        self.normalized = bool(normalized)
        self._attrs = fmt.check_user_attrs(attrs)
        self._compression = compression
        self._compression_opts = (4 if compression == "gzip" else None) if compression_opts is None \
            else compression_opts
        self._chunk_rows = chunk_rows
        self._dtype = None if dtype is None else fmt.check_map_dtype(dtype, path=self.path, what="dtype=")
        self._layout = layout
        self._kind: str | None = None if layout == "auto" else layout
        self._map_ndim: int | None = None
        self._present: dict[str, bool] = {}
        self._seen: dict = {}
        self._n = 0
        self._repack = False
        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, exist_ok=True)
        self._temp = _temp_path(os.path.abspath(self.path))
        self._h5 = h5py.File(self._temp, "w-")
        self._finalizer = weakref.finalize(self, _discard, self._h5, self._temp)
        self._write_root_attrs()
        self._h5.create_dataset(fmt.IMAGE_IDS, shape=(0,), maxshape=(None,), chunks=(256,),
                                dtype=h5py.string_dtype("utf-8"))

    # ------------------------------------------------------------------ context manager

    def __enter__(self) -> "ScoreMapWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False

    @property
    def n_written(self) -> int:
        """Rows appended so far."""
        return self._n

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def abort(self) -> None:
        """Discard everything written; ``path`` is not touched. Safe to call twice."""
        self._finalizer()

    def close(self) -> str:
        """Finish the file and move it to ``path``; returns ``path``.

        Raises:
            FormatError: if nothing was appended (the temporary file is removed).
        """
        if self.closed:
            raise FormatError(f"{self.path}: the writer is already closed")
        if self._n == 0:
            self.abort()
            raise FormatError(f"{self.path}: no maps were appended; call append(image_ids, maps) at least once")
        self._h5.close()
        if self._repack:
            self._repack_temp()
        os.replace(self._temp, self.path)
        self._finalizer.detach()
        return self.path

    # ------------------------------------------------------------------ appending

    def append(self, image_ids: Sequence[str], maps, predicted_labels=None, map_labels=None, *,
               logits=None, scores=None) -> None:
        """Append a batch of B maps.

        Args:
            image_ids: B image ids (relative '/'-separated dataset ids).
            maps: array [B, h, w] (or [B, L] for 1-D maps), or a list of B arrays of shape
                (h, w) / (L,) that may differ in size.
            predicted_labels: optional top-1 predicted class per map [B] (int).
            map_labels: optional class each map is for [B] (int; multi-label data).
            logits: optional class scores [B, C] (stored as ``logits``).
            scores: optional class scores [B, C] (stored as ``scores``).

        An optional array given for one batch must be given for every batch. A batch that fails a
        check raises :class:`FormatError` before anything is written and leaves the writer usable.
        """
        if self.closed:
            raise FormatError(f"{self.path}: append() after the writer was closed")
        ids = self._check_ids(image_ids)
        b = len(ids)
        batch, ndim, dtype = self._as_maps(maps, b, ids)
        given = {fmt.PREDICTED_LABELS: predicted_labels, fmt.MAP_LABELS: map_labels, "logits": logits,
                 "scores": scores}
        extras = {name: self._check_extra(name, value, b, ids) for name, value in given.items()}
        keys = fmt.check_unique_keys(ids, extras[fmt.MAP_LABELS], path=self.path, first_row=self._n,
                                     seen=self._seen)
        if b == 0:
            return
        self._map_ndim, self._dtype = ndim, dtype
        self._present = {name: value is not None for name, value in extras.items()}
        try:
            self._write_batch(ids, batch, extras)
        except BaseException:
            self.abort()  # a failed HDF5 write leaves datasets of unequal length: discard the file
            raise
        self._seen.update(keys)
        self._n += b

    def _write_batch(self, ids: list[str], batch, extras: dict) -> None:
        self._write_maps(batch)
        self._extend(fmt.IMAGE_IDS, np.array(ids, dtype=object))
        for name, value in extras.items():
            if value is not None:
                self._extend(name, value)

    def _check_ids(self, image_ids) -> list[str]:
        if isinstance(image_ids, (str, bytes)):
            raise FormatError(f"{self.path}: image_ids must be a sequence of ids, got the single string "
                              f"{image_ids!r}; pass [image_id]")
        ids = [v.decode("utf-8") if isinstance(v, bytes) else v for v in list(image_ids)]
        return [fmt.check_map_image_id(v, path=self.path, row=self._n + i) for i, v in enumerate(ids)]

    def _as_maps(self, maps, b: int, ids: list[str]):
        """Check a batch and bring it to the storage dtype.

        Returns:
            ``(batch, map_ndim, dtype)``: an array [B, ...] or a list of B arrays, the maps' rank and
            the storage dtype.
        """
        if isinstance(maps, np.ndarray) or hasattr(maps, "__array__"):
            batch = np.asarray(maps)
            if batch.ndim not in (2, 3):
                raise FormatError(f"{self.path}: row {self._n}: maps batch has shape {batch.shape}, expected "
                                  "[B, h, w] (2-D maps) or [B, L] (1-D maps); for one map use maps[None]")
            items = [(self._n, None, batch.dtype, batch.ndim - 1, batch.shape[1:])]
        else:
            batch = [np.asarray(m) for m in maps]
            items = [(self._n + i, ids[i] if i < b else None, m.dtype, m.ndim, m.shape)
                     for i, m in enumerate(batch)]
        if len(batch) != b:
            raise FormatError(f"{self.path}: row {self._n}: {b} image ids but {len(batch)} maps in this batch; "
                              "give one map per image id")
        for row, image_id, dtype, ndim, shape in items:
            self._check_map_kind(row, image_id, dtype, ndim, shape, first=items[0][3])
        dtype = self._dtype if self._dtype is not None else (np.dtype(items[0][2]) if items else None)
        with np.errstate(over="ignore"):  # float16 overflow becomes inf, reported by the value check
            if isinstance(batch, np.ndarray):
                batch = np.ascontiguousarray(batch, dtype=dtype)
            else:
                batch = [np.ascontiguousarray(m, dtype=dtype) for m in batch]
        fmt.check_map_values(batch, ids, range(self._n, self._n + b), normalized=self.normalized, path=self.path)
        return batch, items[0][3] if items else self._map_ndim, dtype

    def _check_map_kind(self, row: int, image_id: str | None, dtype, ndim: int, shape: tuple, *,
                        first: int) -> None:
        where = fmt.location(self.path, row=row, image_id=image_id)
        fmt.check_map_dtype(dtype, path=self.path, row=row, image_id=image_id, what="the map")
        if ndim not in (1, 2):
            raise FormatError(f"{where}map has shape {shape}, expected (h, w) or (L,)")
        expected = self._map_ndim if self._map_ndim is not None else first
        if ndim != expected:
            raise FormatError(f"{where}{ndim}-D map after {expected}-D ones; all maps of a file must have "
                              "the same rank")
        if any(s < 1 for s in shape):
            raise FormatError(f"{where}map has shape {shape}; maps must have at least one pixel")

    def _check_extra(self, name: str, value, b: int, ids: list[str]):
        given = value is not None
        if self._n > 0 and self._present.get(name, False) != given:
            state = ("was given for earlier batches but not for" if not given
                     else "was not given for earlier batches but is for")
            raise FormatError(f"{self.path}: row {self._n}: {name} {state} this one; give it for every batch or "
                              "for none")
        if not given:
            return None
        arr = np.asarray(value)
        if name in fmt.LABEL_NAMES:
            return fmt.check_label_array(arr, name=name, n=b, path=self.path)
        fmt.check_class_scores_shape(arr.shape, arr.dtype, name=name, n=b, path=self.path)
        rows = range(self._n, self._n + b)
        fmt.check_class_scores(arr, name=name, path=self.path, rows=rows, image_ids=ids)
        return arr

    # ------------------------------------------------------------------ storage

    def _write_root_attrs(self) -> None:
        attrs = self._h5.attrs
        attrs["format"] = fmt.FORMAT_NAME
        attrs["format_version"] = np.int64(fmt.FORMAT_VERSION)
        attrs["normalized"] = np.bool_(self.normalized)
        from wsolbench import __version__

        defaults = {"created": _utc_now(), "wsolbench_version": __version__}
        for key, value in {**defaults, **self._attrs}.items():
            attrs[key] = value

    def _extend(self, name: str, values: np.ndarray) -> None:
        if name not in self._h5:
            tail = values.shape[1:]
            rows = max(1, min(4096, _TARGET_CHUNK_BYTES // 16 // max(1, int(np.prod(tail)) * values.itemsize)))
            self._h5.create_dataset(name, shape=(0,) + tail, maxshape=(None,) + tail, dtype=values.dtype,
                                    chunks=(min(rows, max(len(values), 64)),) + tail,
                                    compression=self._compression, compression_opts=self._compression_opts)
        ds = self._h5[name]
        ds.resize(self._n + len(values), axis=0)
        ds[self._n:self._n + len(values)] = values

    def _write_maps(self, batch) -> None:
        shapes = {m.shape for m in batch} if not isinstance(batch, np.ndarray) else {batch.shape[1:]}
        if self._kind is None:
            self._kind = fmt.LAYOUT_FIXED if len(shapes) == 1 else fmt.LAYOUT_BY_ROW
        if self._kind == fmt.LAYOUT_FIXED:
            mismatch = fmt.MAPS in self._h5 and shapes != {self._h5[fmt.MAPS].shape[1:]}
            if mismatch or len(shapes) > 1:
                if self._layout == fmt.LAYOUT_FIXED:
                    raise FormatError(f"{self.path}: row {self._n}: map shape(s) {sorted(shapes)} differ from the "
                                      "earlier maps; use layout='by_row' (or 'auto') for maps of different sizes")
                self._convert_to_by_row()
        if self._kind == fmt.LAYOUT_FIXED:
            self._append_fixed(np.stack(batch) if not isinstance(batch, np.ndarray) else batch)
        else:
            for i, m in enumerate(batch):
                self._write_row(self._n + i, m)

    def _append_fixed(self, batch: np.ndarray) -> None:
        if fmt.MAPS not in self._h5:
            shape = batch.shape[1:]
            rows = self._chunk_rows or min(default_chunk_rows(shape, batch.dtype.itemsize), max(len(batch), 16))
            self._h5.create_dataset(fmt.MAPS, shape=(0,) + shape, maxshape=(None,) + shape, dtype=batch.dtype,
                                    chunks=(rows,) + shape, compression=self._compression,
                                    compression_opts=self._compression_opts)
        self._extend(fmt.MAPS, batch)

    def _write_row(self, row: int, m: np.ndarray) -> None:
        group = self._h5.require_group(fmt.MAPS_BY_ROW)
        # A chunked dataset costs ~3 KB of index per map: below 16 KiB contiguous storage is smaller.
        filters = {} if self._compression is None or m.nbytes < _MIN_COMPRESSED_ROW_BYTES else {
            "compression": self._compression, "compression_opts": self._compression_opts, "chunks": m.shape}
        group.create_dataset(fmt.row_name(row), data=m, **filters)

    def _convert_to_by_row(self) -> None:
        """Move rows written so far from ``maps`` into ``maps_by_row`` (auto layout)."""
        self._kind = fmt.LAYOUT_BY_ROW
        if fmt.MAPS not in self._h5:
            return
        ds = self._h5[fmt.MAPS]
        step = ds.chunks[0]
        for start in range(0, ds.shape[0], step):
            for offset, m in enumerate(ds[start:start + step]):
                self._write_row(start + offset, m)
        del self._h5[fmt.MAPS]
        self._repack = True

    def _repack_temp(self) -> None:
        """Copy the finished temporary file into a fresh one, dropping the space freed by conversion."""
        packed = _temp_path(os.path.abspath(self.path))
        try:
            with h5py.File(self._temp, "r") as src, h5py.File(packed, "w-") as dst:
                for key, value in src.attrs.items():
                    dst.attrs[key] = value
                for name in src:
                    src.copy(src[name], dst, name=name)
        except BaseException:
            if os.path.exists(packed):
                os.remove(packed)
            raise
        os.replace(packed, self._temp)


def write_scoremaps(path, image_ids: Sequence[str], maps, *, predicted_labels=None, map_labels=None,
                    logits=None, scores=None, **options) -> str:
    """Write a whole score-map file in one call.

    Args:
        path: destination ``.h5`` file.
        image_ids: N image ids.
        maps: array [N, h, w] or [N, L], or a list of N arrays (sizes may differ).
        predicted_labels, map_labels, logits, scores: optional arrays, see :meth:`ScoreMapWriter.append`.
        **options: :class:`ScoreMapWriter` options (``normalized``, ``attrs``, ``compression``...).

    Returns:
        ``path``.
    """
    with ScoreMapWriter(path, **options) as writer:
        writer.append(image_ids, maps, predicted_labels, map_labels, logits=logits, scores=scores)
    return writer.path
