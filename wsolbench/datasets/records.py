"""The annotation model: what every dataset adapter produces and every consumer reads.

One :class:`ImageRecord` per evaluation image. Boxes are float ``x0, y0, x1, y1`` in original
pixels (inclusive corners, as in wsolevaluation's ``localization.txt``). Masks are loaded lazily
through :class:`MaskSource` at their original resolution; bringing them to the evaluation frame is
the protocol's job (``wsolbench.metrics.gt``).

:meth:`AnnotationSet.fingerprint` identifies the ground truth itself, wherever it was read from: a
SHA-256 over the canonical list of records (sorted by image id; labels, original size, boxes and
the names of the mask files). Two adapters that read the same annotations (``cub:`` and
``wsoleval:`` on CUB) give the same fingerprint; a 24-image copy of a folder named ``CUB/test``
does not give CUB test's. Dataset cards record the fingerprint of each official split, and the
leaderboard refuses verified rows whose ground truth is not the official one.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import numpy as np

from wsolbench.errors import AnnotationError, where


def check_image_id(image_id: str, *, path=None, line: int | None = None) -> str:
    """Validate a dataset image id: relative, '/'-separated, no '..', not empty.

    Raises:
        AnnotationError: naming the file and line, with the fix.
    """
    bad = None
    if not image_id or image_id.strip() != image_id:
        bad = "is empty or has surrounding whitespace"
    elif image_id.startswith("/") or (len(image_id) > 1 and image_id[1] == ":"):
        bad = "is an absolute path"
    elif "\\" in image_id:
        bad = "contains a backslash (use '/' as separator)"
    elif ".." in image_id.split("/"):
        bad = "contains '..'"
    if bad:
        raise AnnotationError(
            f"{where(path, line)}image id {image_id!r} {bad}; image ids must be relative "
            "'/'-separated paths inside the dataset root, e.g. 'val/ILSVRC2012_val_00000001.JPEG'")
    return image_id


@dataclass
class GTMasks:
    """Ground-truth masks of one image at their original resolution.

    Attributes:
        instances: instance (or class) masks, each a 2-D array (rows, cols); foreground where
            the value is > 0.5 after a nearest-neighbour resize (0/255 PNGs and 0/1 arrays both work).
        instance_labels: class index of each instance mask (``None`` entries for single-class sets).
        ignore: an optional 2-D array; pixels > 0.5 are ignored unless they are foreground.
    """

    instances: list[np.ndarray]
    instance_labels: list[int | None] = field(default_factory=list)
    ignore: np.ndarray | None = None


class MaskSource:
    """A lazy loader of :class:`GTMasks`; listing a dataset never decodes a mask.

    Args:
        loader: returns the masks.
        description: for messages.
        instance_files: the instance (or class) mask files as the dataset names them, relative to its
            mask folder, or, for masks stored in the annotation file itself (COCO polygons and RLE), a
            digest of each; they enter :meth:`AnnotationSet.fingerprint` (empty for generated masks).
        ignore_file: the ignore mask's file, likewise, or ``None``.
        files: the paths of the files the loader reads, for sources that read files; with
            ``cache_tag`` they key the cache of masks in the evaluation frame
            (:mod:`wsolbench.datasets.maskcache`: a file's size or time changes, the entry is stale).
        cache_tag: how the loader turns those files into masks (the adapter and anything else the
            masks depend on), or ``None``: not cacheable.
        frame_loader: optional ``size_wh -> GTMasks`` whose arrays are already the masks under the
            nearest resize to ``size_wh`` (``cv2.INTER_NEAREST``), for loaders that can read less than
            the whole file (:mod:`wsolbench.datasets.pngmask`); :meth:`load_at` uses it.
    """

    def __init__(self, loader: Callable[[], GTMasks], description: str = "", *,
                 instance_files: Sequence[str] = (), ignore_file: str | None = None,
                 files: Sequence[str] = (), cache_tag: str | None = None,
                 frame_loader: Callable[[tuple[int, int]], GTMasks] | None = None):
        self._loader = loader
        self._frame_loader = frame_loader
        self.description = description
        self.instance_files = tuple(instance_files)
        self.ignore_file = ignore_file or None
        self.files = tuple(os.fspath(f) for f in files)
        self.cache_tag = cache_tag

    def load(self) -> GTMasks:
        return self._loader()

    def load_at(self, size_wh) -> GTMasks:
        """The masks for a frame of ``size_wh`` (``(width, height)``): :func:`wsolbench.metrics.gt.gt_mask`
        at that frame gives the same result from these as from :meth:`load` (the nearest resize of an
        already resized mask to its own size changes nothing), often for less decoding."""
        if self._frame_loader is None:
            return self._loader()
        return self._frame_loader(tuple(int(v) for v in size_wh))

    def __repr__(self) -> str:
        return f"MaskSource({self.description!r})"


@dataclass(frozen=True)
class ImageRecord:
    """One evaluation image.

    Attributes:
        image_id: relative '/'-separated id (never absolute, never '..').
        labels: class indices; one for single-label data, several for multi-label data.
        image_size: original ``(width, height)`` or ``None`` when unknown (mask datasets take it
            from the masks).
        boxes: float64 array (K, 4) of ``x0, y0, x1, y1`` in original pixels (K may be 0).
        masks: a :class:`MaskSource` for mask datasets, else ``None``.
    """

    image_id: str
    labels: tuple[int, ...]
    image_size: tuple[int, int] | None = None
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float64))
    masks: MaskSource | None = None

    @property
    def label(self) -> int:
        """The class index of a single-label image."""
        return self.labels[0]


@dataclass
class AnnotationSet:
    """All records of one dataset split, in evaluation order, with an id index.

    Attributes:
        records: the records in order.
        name: dataset name (``cub``, ``ilsvrc``, ``openimages``, ``synthetic``...).
        split: split name.
        num_classes: number of classes (``None`` if unknown).
        class_names: optional class names indexed by class id.
        root: folder images are read from (relative ``image_id`` paths resolve against it).
        source: human-readable description of where the annotations came from.
        ndim: 2 for images, 1 for signals (records are 1 x L "images").
        resolution: the evaluation frame ``(width, height)`` this dataset requires, or ``None`` for the
            protocol's default (224x224). 1-D datasets set ``(L, 1)``.
    """

    records: list[ImageRecord]
    name: str = "dataset"
    split: str = ""
    num_classes: int | None = None
    class_names: Sequence[str] | None = None
    root: str | None = None
    source: str = ""
    ndim: int = 2
    resolution: tuple[int, int] | None = None
    _index: dict[str, int] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self._index = {}
        for i, r in enumerate(self.records):
            if r.image_id in self._index:
                raise AnnotationError(f"{self.source or self.name}: image id {r.image_id!r} is listed twice; "
                                      "each image must appear once")
            self._index[r.image_id] = i

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[ImageRecord]:
        return iter(self.records)

    def __getitem__(self, image_id: str) -> ImageRecord:
        return self.records[self._index[image_id]]

    def __contains__(self, image_id: str) -> bool:
        return image_id in self._index

    @property
    def image_ids(self) -> list[str]:
        return [r.image_id for r in self.records]

    @property
    def has_boxes(self) -> bool:
        return any(len(r.boxes) for r in self.records)

    @property
    def has_masks(self) -> bool:
        return any(r.masks is not None for r in self.records)

    @property
    def multilabel(self) -> bool:
        return any(len(r.labels) > 1 for r in self.records)

    def counts(self) -> dict:
        """What the split holds, in the terms of a dataset card: ``images``, ``boxes``,
        ``instance_masks`` (mask files named by the dataset) and ``classes`` (distinct labels present)."""
        return {"images": len(self.records), "boxes": int(sum(len(r.boxes) for r in self.records)),
                "instance_masks": sum(len(r.masks.instance_files) for r in self.records if r.masks is not None),
                "classes": len({c for r in self.records for c in r.labels})}

    def fingerprint(self) -> str:
        """SHA-256 (64 hex digits) of the ground truth in canonical form.

        One JSON line per record, records sorted by image id: ``[image_id, sorted labels, [width,
        height] or null, boxes (sorted, as floats), sorted instance-mask files, ignore file, has
        masks]``, after the header line ``wsolbench-gt-fingerprint-v1``. It does not depend on where
        the dataset lives, on the order of the metadata lines, or on the adapter that read it; it
        changes with any image id, label, size, box coordinate or mask file name. Mask pixels are
        not read (the files are named by content hashes in OpenImages30k).

        Example:
            >>> rec = ImageRecord("a.jpg", (3,), (500, 375), np.array([[1.0, 2.0, 30.0, 40.0]]))
            >>> AnnotationSet([rec]).fingerprint()[:12]
            'fe101032925e'
        """
        digest = hashlib.sha256(f"wsolbench-gt-fingerprint-v{FINGERPRINT_VERSION}\n".encode())
        for record in sorted(self.records, key=lambda r: r.image_id):
            digest.update(_canonical_record(record).encode() + b"\n")
        return digest.hexdigest()

    def provenance(self, spec: str | None = None) -> dict:
        """The ``dataset`` section of a result (``docs/result-json.md``): spec, name, split, image count,
        classes, :meth:`fingerprint` and :meth:`counts`."""
        return {"spec": spec, "name": self.name, "split": self.split, "n_images": len(self),
                "num_classes": self.num_classes, "fingerprint": self.fingerprint(), "counts": self.counts()}


#: Version of the canonical form hashed by :meth:`AnnotationSet.fingerprint`.
FINGERPRINT_VERSION = 1


def _canonical_record(record: ImageRecord) -> str:
    boxes = sorted([float(v) for v in box] for box in np.asarray(record.boxes, np.float64).reshape(-1, 4))
    size = None if record.image_size is None else [int(record.image_size[0]), int(record.image_size[1])]
    masks = record.masks
    files = sorted(masks.instance_files) if masks is not None else []
    ignore = masks.ignore_file if masks is not None else None
    return json.dumps([record.image_id, sorted(int(c) for c in record.labels), size, boxes, files, ignore,
                       masks is not None], separators=(",", ":"))
