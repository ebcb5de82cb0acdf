"""Adapter for the wsolevaluation metadata format (``wsoleval:DIR``).

A folder with ``image_ids.txt``, ``class_labels.txt``, ``image_sizes.txt`` and
``localization.txt`` (boxes ``id,x0,y0,x1,y1`` for CUB/ILSVRC, or instance masks
``id,mask.png,ignore.png`` for OpenImages; the ignore PNG only on an image's first line).
Mask PNG paths are relative to ``mask_root``.
"""

from __future__ import annotations

import os
from collections import defaultdict

import numpy as np

from wsolbench.datasets.boxes import check_box
from wsolbench.datasets.images import read_gray
from wsolbench.datasets.records import AnnotationSet, GTMasks, ImageRecord, MaskSource, check_image_id
from wsolbench.datasets.registry import register_adapter
from wsolbench.datasets.textfiles import parse_float, parse_int, read_rows
from wsolbench.errors import AnnotationError, where


def _read_ids(folder):
    path = os.path.join(folder, "image_ids.txt")
    ids = []
    for line, (image_id,) in read_rows(path, fields=(1,), what="one image id per line"):
        ids.append(check_image_id(image_id, path=path, line=line))
    if not ids:
        raise AnnotationError(f"{path}: no image ids; the file must list one image id per line")
    return ids


def _read_keyed(folder, name, fields, what, known, *, required=True):
    path = os.path.join(folder, name)
    out = {}
    for line, parts in read_rows(path, fields=fields, what=what, required=required):
        image_id = parts[0]
        if image_id not in known:
            raise AnnotationError(f"{where(path, line, image_id)}id is not listed in image_ids.txt; "
                                  "add it there or remove this line")
        out.setdefault(image_id, []).append((line, parts[1:]))
    return path, out


def _labels(folder, known):
    path, rows = _read_keyed(folder, "class_labels.txt", (2,), "'image_id,class_index'", known)
    labels = {}
    for image_id, entries in rows.items():
        line, (text,) = entries[0]
        if len(entries) > 1:
            raise AnnotationError(f"{where(path, entries[1][0], image_id)}label given twice; keep one line per image")
        value = parse_int(text, path=path, line=line, name="class index", image_id=image_id)
        if value < 0:
            raise AnnotationError(f"{where(path, line, image_id)}class index {value} is negative; classes are 0-based")
        labels[image_id] = value
    return path, labels


def _sizes(folder, known):
    path, rows = _read_keyed(folder, "image_sizes.txt", (3,), "'image_id,width,height'", known, required=False)
    sizes = {}
    for image_id, entries in rows.items():
        line, (w, h) = entries[0]
        w = parse_int(w, path=path, line=line, name="width", image_id=image_id)
        h = parse_int(h, path=path, line=line, name="height", image_id=image_id)
        if w <= 0 or h <= 0:
            raise AnnotationError(f"{where(path, line, image_id)}image size {w}x{h} is not positive")
        sizes[image_id] = (w, h)
    return sizes


def _mask_loader(mask_root, instances, ignore_rel, image_id):
    def load() -> GTMasks:
        inst = [read_gray(os.path.join(mask_root, rel), image_id=image_id) for rel in instances]
        ignore = read_gray(os.path.join(mask_root, ignore_rel), image_id=image_id) if ignore_rel else None
        return GTMasks(instances=inst, instance_labels=[None] * len(inst), ignore=ignore)

    return MaskSource(load, f"{len(instances)} mask(s) of {image_id}")


def _localization(folder, known, sizes, mask_root):
    path = os.path.join(folder, "localization.txt")
    _, rows = _read_keyed(folder, "localization.txt", (3, 5),
                          "'image_id,x0,y0,x1,y1' (boxes) or 'image_id,mask.png,ignore.png' (masks)", known,
                          required=False)
    boxes, masks = {}, {}
    for image_id, entries in rows.items():
        kinds = {len(parts) for _, parts in entries}
        if kinds == {4}:
            out = []
            for line, parts in entries:
                box = [parse_float(p, path=path, line=line, name=n, image_id=image_id)
                       for p, n in zip(parts, ("x0", "y0", "x1", "y1"))]
                check_box(box, sizes.get(image_id), path=path, line=line, image_id=image_id)
                out.append(box)
            boxes[image_id] = np.asarray(out, np.float64)
        elif kinds == {2}:
            if mask_root is None:
                raise AnnotationError(f"{path}: lists mask files; pass the folder they are relative to "
                                      "with --mask-root DIR")
            first_line, (_, ignore_rel) = entries[0]
            for line, (_, ign) in entries[1:]:
                if ign.strip():
                    raise AnnotationError(f"{where(path, line, image_id)}ignore mask given on a later line; "
                                          "give it only on the image's first line")
            for line, (mask_rel, _) in entries:
                if not mask_rel.strip():
                    raise AnnotationError(f"{where(path, line, image_id)}empty mask path")
            masks[image_id] = _mask_loader(mask_root, [p[0] for _, p in entries], ignore_rel.strip(), image_id)
        else:
            raise AnnotationError(f"{where(path, entries[0][0], image_id)}mixes box lines and mask lines")
    return boxes, masks


@register_adapter("wsoleval")
def load_wsoleval(path: str, *, split: str | None = None, mask_root: str | None = None,
                  name: str | None = None) -> AnnotationSet:
    """Read a wsolevaluation metadata folder (``metadata/<DATASET>/<split>``).

    Args:
        path: the folder with the four metadata files (or its parent, with ``split``).
        split: optional sub-folder name (``val``, ``test``).
        mask_root: folder the mask PNG paths of ``localization.txt`` are relative to.
        name: dataset name to record (default: the folder's parent name, e.g. ``CUB``).
    """
    folder = os.path.join(path, split) if split and os.path.isdir(os.path.join(path, split)) else path
    if not os.path.isdir(folder):
        raise AnnotationError(f"{folder}: not a folder; --gt wsoleval:DIR needs a folder with image_ids.txt, "
                              "class_labels.txt, image_sizes.txt and localization.txt")
    ids = _read_ids(folder)
    known = set(ids)
    labels_path, labels = _labels(folder, known)
    missing = [i for i in ids if i not in labels]
    if missing:
        raise AnnotationError(f"{labels_path}: no class label for {len(missing)} image(s), e.g. {missing[0]!r}; "
                              "add a line 'image_id,class_index' for each")
    sizes = _sizes(folder, known)
    boxes, masks = _localization(folder, known, sizes, mask_root)
    records = []
    for image_id in ids:
        b = boxes.get(image_id)
        if b is not None and image_id not in sizes:
            raise AnnotationError(f"{os.path.join(folder, 'image_sizes.txt')}: no size for {image_id!r}, "
                                  "which has boxes; boxes are rescaled by the original size")
        records.append(ImageRecord(image_id=image_id, labels=(labels[image_id],), image_size=sizes.get(image_id),
                                   boxes=b if b is not None else np.zeros((0, 4), np.float64),
                                   masks=masks.get(image_id)))
    dataset = name or os.path.basename(os.path.dirname(os.path.normpath(folder))) or "wsoleval"
    return AnnotationSet(records=records, name=dataset, split=os.path.basename(os.path.normpath(folder)),
                         num_classes=max(labels.values()) + 1, root=None, source=folder)
