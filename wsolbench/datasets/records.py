"""The annotation model: what every dataset adapter produces and every consumer reads.

One :class:`ImageRecord` per evaluation image. Boxes are float ``x0, y0, x1, y1`` in original
pixels (inclusive corners, as in wsolevaluation's ``localization.txt``). Masks are loaded lazily
through :class:`MaskSource` at their original resolution; bringing them to the evaluation frame is
the protocol's job (``wsolbench.metrics.gt``).
"""

from __future__ import annotations

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
    """A lazy loader of :class:`GTMasks`; listing a dataset never decodes a mask."""

    def __init__(self, loader: Callable[[], GTMasks], description: str = ""):
        self._loader = loader
        self.description = description

    def load(self) -> GTMasks:
        return self._loader()

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
