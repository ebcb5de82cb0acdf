"""Any dataset as a COCO annotation file (``wsolbench datasets export SPEC --format coco``).

The file reads back through ``coco:`` to the same ground truth, so evaluation gives the same numbers
(the tests check this on the synthetic benchmark):

* ``images``: one per record; ``id`` 1..N in record order, ``file_name`` = the record's image id,
  ``width``/``height`` = its size (from the annotations, else the masks, else the image header).
* ``categories``: one per class, ``id`` = class index + 1, ``name`` from the dataset's class names.
* ``annotations``: one per object. Box ``x0, y0, x1, y1`` (inclusive pixels) becomes ``bbox``
  ``[x0, y0, x1 - x0 + 1, y1 - y0 + 1]``, the inverse of the ``coco:`` adapter's conversion. Masks
  are written as compressed RLE (exact, unlike polygons), each paired with the box of the same
  index; a record with masks and no boxes gets each mask's pixel extent as its ``bbox``. The ignore
  mask becomes one ``iscrowd: 1`` annotation of the image's first class, which ``coco:`` reads back
  as ignored pixels.

What COCO cannot say is refused with the reason: boxes of a multi-label image without masks (a box
has one category; the records do not say which), or boxes and masks of one image in unequal
numbers (COCO pairs them in one annotation).

Example:
    >>> from wsolbench.datasets import load_annotations                            # doctest: +SKIP
    >>> write_coco(load_annotations("synthetic:", split="test"), "test.json")      # doctest: +SKIP
    'test.json'
"""

from __future__ import annotations

import json
import os
from typing import Callable

import numpy as np

from wsolbench import __version__
from wsolbench.atomic import write_text_atomic
from wsolbench.datasets.cocomasks import encode_mask, mask_utils
from wsolbench.datasets.images import header_size
from wsolbench.datasets.records import AnnotationSet, ImageRecord
from wsolbench.errors import DatasetError


def _binary(mask) -> np.ndarray:
    """Foreground as the evaluation reads it: ``float32(mask) > 0.5``."""
    return np.asarray(mask).astype(np.float32) > 0.5


def _extent(binary: np.ndarray) -> list[float]:
    """The inclusive pixel box ``x0, y0, x1, y1`` of a non-empty mask."""
    rows, cols = np.flatnonzero(binary.any(axis=1)), np.flatnonzero(binary.any(axis=0))
    return [float(cols[0]), float(rows[0]), float(cols[-1]), float(rows[-1])]


def _bbox(box) -> list:
    x0, y0, x1, y1 = (float(v) for v in box)
    values = [x0, y0, x1 - x0 + 1, y1 - y0 + 1]
    return [int(v) if v.is_integer() else v for v in values]


def _size(annotations: AnnotationSet, record: ImageRecord, masks) -> tuple[int, int]:
    if record.image_size is not None:
        return tuple(int(v) for v in record.image_size)
    if masks is not None and masks.instances:
        h, w = np.asarray(masks.instances[0]).shape
        return int(w), int(h)
    if annotations.root is None:
        raise DatasetError(f"image '{record.image_id}': its size is unknown (no image size, no mask, no image "
                           "folder); give the dataset's image folder (e.g. -o images=DIR)")
    return header_size(os.path.join(annotations.root, record.image_id), image_id=record.image_id)


def _objects(record: ImageRecord, masks) -> list[tuple[int, list, np.ndarray | None]]:
    """``(class index, inclusive box, mask or None)`` of each object of one record."""
    boxes = [list(b) for b in record.boxes]
    if masks is None or not masks.instances:
        if boxes and len(record.labels) > 1:
            raise DatasetError(f"image '{record.image_id}': it has {len(record.labels)} classes and boxes without "
                               "masks, so the class of each box is unknown; COCO needs one category per box")
        return [(record.labels[0], b, None) for b in boxes]
    binaries = [_binary(m) for m in masks.instances]
    if boxes and len(boxes) != len(binaries):
        raise DatasetError(f"image '{record.image_id}': {len(boxes)} boxes and {len(binaries)} masks; a COCO "
                           "annotation pairs one box with one mask, so they must be equally many")
    labels = list(masks.instance_labels) + [None] * (len(binaries) - len(masks.instance_labels))
    out = []
    for k, (binary, label) in enumerate(zip(binaries, labels)):
        if not binary.any() and not boxes:
            continue                       # an empty mask has no extent and adds no foreground
        out.append((record.labels[0] if label is None else int(label), boxes[k] if boxes else _extent(binary), binary))
    return out


def _annotation(ident: int, image_id: int, category: int, box, binary, *, crowd: bool) -> dict:
    out = {"id": ident, "image_id": image_id, "category_id": category + 1, "bbox": _bbox(box), "iscrowd": int(crowd)}
    if binary is not None:
        rle = encode_mask(binary)
        out["segmentation"] = rle
        out["area"] = int(binary.sum())
    else:
        out["area"] = out["bbox"][2] * out["bbox"][3]
    return out


def to_coco(annotations: AnnotationSet, *, progress: Callable[[int, int], None] | None = None) -> dict:
    """The COCO object (``info``, ``images``, ``annotations``, ``categories``) of an annotation set.

    Raises:
        DatasetError: what COCO cannot hold (see the module docstring), an image of unknown size.
        MissingDependencyError: the set has masks and pycocotools is not installed.
    """
    if annotations.ndim != 2:
        raise DatasetError(f"{annotations.name}: a {annotations.ndim}-D dataset has no COCO form (COCO holds images)")
    if annotations.has_masks:
        mask_utils()
    n_classes = annotations.num_classes or 1 + max((c for r in annotations for c in r.labels), default=0)
    names = list(annotations.class_names or [])
    categories = [{"id": c + 1, "name": str(names[c]) if c < len(names) else str(c), "supercategory": ""}
                  for c in range(n_classes)]
    images, anns = [], []
    for n, record in enumerate(annotations, 1):
        masks = record.masks.load() if record.masks is not None else None
        w, h = _size(annotations, record, masks)
        images.append({"id": n, "file_name": record.image_id, "width": w, "height": h})
        for label, box, binary in _objects(record, masks):
            anns.append(_annotation(len(anns) + 1, n, label, box, binary, crowd=False))
        if masks is not None and masks.ignore is not None and _binary(masks.ignore).any():
            ignore = _binary(masks.ignore)
            anns.append(_annotation(len(anns) + 1, n, record.labels[0], _extent(ignore), ignore, crowd=True))
        if progress is not None:
            progress(n, len(annotations))
    info = {"description": f"{annotations.name} {annotations.split}".strip(),
            "version": f"exported by wsolbench {__version__}", "source": annotations.source}
    return {"info": info, "images": images, "annotations": anns, "categories": categories}


def write_coco(annotations: AnnotationSet, out, *, progress: Callable[[int, int], None] | None = None) -> str:
    """Write :func:`to_coco` as JSON, atomically; returns the path."""
    data = to_coco(annotations, progress=progress)
    write_text_atomic(out, json.dumps(data, separators=(",", ":")))
    return os.fspath(out)
