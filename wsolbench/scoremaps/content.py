"""The content hash of a score-map file: a SHA-256 of what is evaluated, not of the file's bytes.

Two files hold the same content when they give every image the same map, for the same class, with
the same predicted label, under the same ``normalized`` flag. How HDF5 stored it does not matter:
layout (``maps`` or ``maps_by_row``), chunking, compression, storage dtype (a float16 map is hashed
as the float64 values it stands for), row order and attributes (``created``, ``method``...) are all
left out. The file's own SHA-256 changes with each of them (the writer stamps ``created``), so
regenerating identical maps gives another file checksum but the same content hash; that is what a
leaderboard row records and ``wsolbench leaderboard verify`` recomputes.

Definition (version 1), hand-written because it is part of the row format:

* per row, ``d = sha256(json([image_id, map_label, predicted_label, [rows, cols]]) + b"\\0" +
  map.astype("<f8").tobytes())`` with ``map_label`` / ``predicted_label`` = ``null`` when the file
  has none (``predicted_label`` as the reader gives it: stored, else the argmax of stored class
  scores), and the map as the reader returns it (1-D maps as ``(1, L)``);
* rows sorted by ``(image_id, map_label)`` (unique in a valid file);
* ``sha256(b"wsolbench-maps-content-v1\\n" + json({"normalized": ..., "map_ndim": ...}) + b"\\n" +
  d_1 + d_2 + ...)``, hex.

Example:
    >>> import numpy as np, tempfile, os
    >>> from wsolbench.scoremaps import write_scoremaps
    >>> folder = tempfile.mkdtemp()
    >>> maps = np.arange(8, dtype=np.float32).reshape(2, 2, 2)
    >>> a = write_scoremaps(os.path.join(folder, "a.h5"), ["x", "y"], maps, attrs={"method": "A"})
    >>> b = write_scoremaps(os.path.join(folder, "b.h5"), ["y", "x"], maps[::-1].astype(np.float16),
    ...                     compression=None)
    >>> content_sha256(a) == content_sha256(b)
    True
"""

from __future__ import annotations

import hashlib
import json
from typing import Callable

import numpy as np

CONTENT_HASH_VERSION = 1


def row_digest(image_id: str, map_label: int | None, predicted: int | None,
               scoremap: np.ndarray) -> tuple[tuple[str, int], bytes]:
    """One row's sort key and digest (see the module docstring)."""
    values = np.ascontiguousarray(scoremap, dtype="<f8")
    head = json.dumps([image_id, map_label, predicted, list(values.shape)], separators=(",", ":"))
    digest = hashlib.sha256(head.encode() + b"\0")
    digest.update(values.tobytes())
    return (image_id, -1 if map_label is None else map_label), digest.digest()


def batch_digests(batch) -> list[tuple[tuple[str, int], bytes]]:
    """:func:`row_digest` of every row of a :class:`~wsolbench.scoremaps.reader.MapBatch`."""
    out = []
    for i, (image_id, scoremap) in enumerate(zip(batch.image_ids, batch.maps)):
        label = None if batch.map_labels is None else int(batch.map_labels[i])
        predicted = None if batch.predicted_labels is None else int(batch.predicted_labels[i])
        out.append(row_digest(image_id, label, predicted, scoremap))
    return out


def content_sha256(path, *, digests=None, batch_size: int = 256,
                   progress: Callable[[int, int], None] | None = None) -> str:
    """The content hash (64 hex digits) of a score-map file; reads (and value-checks) every map.

    Args:
        path: the ``.h5`` file.
        digests: optional ``{row: row_digest(...)}`` of rows already hashed while they were read for
            another purpose (evaluation); only the other rows are read.
        batch_size: maps read at a time (memory is about this many maps).
        progress: optional ``progress(done, total)``.

    Raises:
        wsolbench.errors.FormatError: the file is not a valid score-map file.
    """
    from wsolbench.scoremaps.reader import ScoreMapFile

    known = dict(digests or {})
    with ScoreMapFile(path) as f:
        missing = [row for row in range(f.n_maps) if row not in known]
        for batch in f.iter_batches(batch_size=batch_size, rows=missing):
            known.update(zip((int(r) for r in batch.rows), batch_digests(batch)))
            if progress is not None:
                progress(len(known), f.n_maps)
        return combine_digests(known.values(), normalized=f.normalized, map_ndim=f.map_ndim)


def combine_digests(digests, *, normalized: bool, map_ndim: int) -> str:
    """The content hash from the :func:`row_digest` of every row of a file (in any order) and the file's
    ``normalized`` flag and map rank."""
    header = json.dumps({"normalized": bool(normalized), "map_ndim": int(map_ndim)}, sort_keys=True,
                        separators=(",", ":"))
    total = hashlib.sha256(f"wsolbench-maps-content-v{CONTENT_HASH_VERSION}\n{header}\n".encode())
    for _, digest in sorted(digests, key=lambda item: item[0]):
        total.update(digest)
    return total.hexdigest()
