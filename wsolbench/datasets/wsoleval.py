"""Adapter for the wsolevaluation metadata format (``wsoleval:DIR``).

A folder with ``image_ids.txt``, ``class_labels.txt``, ``image_sizes.txt`` and
``localization.txt`` (boxes ``id,x0,y0,x1,y1`` for CUB/ILSVRC, or instance masks
``id,mask.png,ignore.png`` for OpenImages; the ignore PNG only on an image's first line).
Mask PNG paths are relative to ``mask_root``.
"""

from __future__ import annotations

import os

import numpy as np

from wsolbench.datasets.boxes import check_box
from wsolbench.datasets.images import read_gray
from wsolbench.datasets.pngmask import read_gray_at
from wsolbench.datasets.paths import inside_root
from wsolbench.datasets.records import AnnotationSet, GTMasks, ImageRecord, MaskSource, check_image_id
from wsolbench.datasets.registry import register_adapter
from wsolbench.datasets.textfiles import parse_float, parse_int, read_rows, report
from wsolbench.errors import AnnotationError, DatasetError, where


def _read_ids(folder, problems=None):
    path = os.path.join(folder, "image_ids.txt")
    ids = []
    for line, (image_id,) in read_rows(path, fields=(1,), what="one image id per line", problems=problems):
        try:
            ids.append(check_image_id(image_id, path=path, line=line))
        except AnnotationError as e:
            report(e, problems)
    if not ids:
        raise AnnotationError(f"{path}: no image ids; the file must list one image id per line")
    return ids


def _read_keyed(folder, name, fields, what, known, *, required=True, problems=None):
    path = os.path.join(folder, name)
    out = {}
    for line, parts in read_rows(path, fields=fields, what=what, required=required, problems=problems):
        image_id = parts[0]
        if image_id not in known:
            report(AnnotationError(f"{where(path, line, image_id)}id is not listed in image_ids.txt; "
                                   "add it there or remove this line"), problems)
            continue
        out.setdefault(image_id, []).append((line, parts[1:]))
    return path, out


def _label(path, line, text, image_id):
    value = parse_int(text, path=path, line=line, name="class index", image_id=image_id)
    if value < 0:
        raise AnnotationError(f"{where(path, line, image_id)}class index {value} is negative; classes are 0-based")
    return value


def _labels(folder, known, problems=None):
    path, rows = _read_keyed(folder, "class_labels.txt", (2,), "'image_id,class_index'", known, problems=problems)
    labels = {}
    for image_id, entries in rows.items():
        line, (text,) = entries[0]
        try:
            if len(entries) > 1:
                raise AnnotationError(f"{where(path, entries[1][0], image_id)}label given twice; "
                                      "keep one line per image")
            labels[image_id] = _label(path, line, text, image_id)
        except AnnotationError as e:
            report(e, problems)
    return path, labels


def _size(path, line, w, h, image_id):
    w = parse_int(w, path=path, line=line, name="width", image_id=image_id)
    h = parse_int(h, path=path, line=line, name="height", image_id=image_id)
    if w <= 0 or h <= 0:
        raise AnnotationError(f"{where(path, line, image_id)}image size {w}x{h} is not positive")
    return w, h


def _sizes(folder, known, problems=None):
    path, rows = _read_keyed(folder, "image_sizes.txt", (3,), "'image_id,width,height'", known, required=False,
                             problems=problems)
    sizes = {}
    for image_id, entries in rows.items():
        line, (w, h) = entries[0]
        try:
            sizes[image_id] = _size(path, line, w, h, image_id)
        except AnnotationError as e:
            report(e, problems)
    return sizes


def _mask_loader(instances, ignore, image_id, *, names, ignore_name):
    """Lazy loader of the mask files (paths already checked to lie under the mask root); ``names`` and
    ``ignore_name`` are the paths as the metadata writes them (relative to the mask root), which the
    ground-truth fingerprint records."""
    def masks(read) -> GTMasks:
        inst = [read(p) for p in instances]
        return GTMasks(instances=inst, instance_labels=[None] * len(inst), ignore=read(ignore) if ignore else None)

    return MaskSource(lambda: masks(lambda p: read_gray(p, image_id=image_id)),
                      f"{len(instances)} mask(s) of {image_id}", instance_files=names,
                      ignore_file=ignore_name, files=[*instances, *([ignore] if ignore else [])],
                      cache_tag=f"wsoleval-png instances={len(instances)} ignore={bool(ignore)}",
                      frame_loader=lambda size_wh: masks(lambda p: read_gray_at(p, size_wh, image_id=image_id)))


def _box(path, line, parts, image_id, size):
    box = [parse_float(p, path=path, line=line, name=n, image_id=image_id)
           for p, n in zip(parts, ("x0", "y0", "x1", "y1"))]
    check_box(box, size, path=path, line=line, image_id=image_id)
    return box


def _boxes(path, entries, image_id, size, problems):
    out = []
    for line, parts in entries:
        try:
            out.append(_box(path, line, parts, image_id, size))
        except AnnotationError as e:
            report(e, problems)
    return np.asarray(out, np.float64).reshape(-1, 4)


def _masks(path, entries, image_id, mask_root):
    _, (_, ignore_rel) = entries[0]
    for line, (_, ign) in entries[1:]:
        if ign.strip():
            raise AnnotationError(f"{where(path, line, image_id)}ignore mask given on a later line; "
                                  "give it only on the image's first line")
    instances, names = [], []
    for line, (mask_rel, _) in entries:
        if not mask_rel.strip():
            raise AnnotationError(f"{where(path, line, image_id)}empty mask path")
        names.append(mask_rel.strip())
        instances.append(inside_root(mask_root, names[-1], what="mask", path=path, line=line, image_id=image_id))
    ignore_name = ignore = ignore_rel.strip()
    if ignore:
        ignore = inside_root(mask_root, ignore, what="ignore mask", path=path, line=entries[0][0], image_id=image_id)
    return _mask_loader(instances, ignore, image_id, names=names, ignore_name=ignore_name)


def _localization(folder, known, sizes, mask_root, problems=None):
    path = os.path.join(folder, "localization.txt")
    _, rows = _read_keyed(folder, "localization.txt", (3, 5),
                          "'image_id,x0,y0,x1,y1' (boxes) or 'image_id,mask.png,ignore.png' (masks)", known,
                          required=False, problems=problems)
    boxes, masks = {}, {}
    for image_id, entries in rows.items():
        kinds = {len(parts) for _, parts in entries}
        if kinds == {4}:
            boxes[image_id] = _boxes(path, entries, image_id, sizes.get(image_id), problems)
        elif kinds == {2}:
            if mask_root is None:
                raise AnnotationError(f"{path}: lists mask files; pass the folder they are relative to "
                                      "with --mask-root DIR")
            try:
                masks[image_id] = _masks(path, entries, image_id, mask_root)
            except AnnotationError as e:
                report(e, problems)
        else:
            report(AnnotationError(f"{where(path, entries[0][0], image_id)}mixes box lines and mask lines"),
                   problems)
    return boxes, masks


SPLIT_FOLDERS = ("train", "val", "test")


def split_folder(path: str, split: str | None) -> str:
    """The metadata folder of ``path`` and ``split``: ``path/split`` if it exists, else ``path``.

    A spec that names a split folder (``.../CUB/test``) and ``--split`` must agree, or one of them
    be absent: ``wsoleval:.../CUB/test --split val`` once evaluated *test* and labelled it test.

    Raises:
        DatasetError: the spec names one split folder and ``split`` another.
    """
    if not split or os.path.isdir(os.path.join(path, split)):
        return os.path.join(path, split) if split else path
    named = os.path.basename(os.path.normpath(path))
    if named != split and named in SPLIT_FOLDERS:
        sibling = os.path.join(os.path.dirname(os.path.normpath(path)), split)
        raise DatasetError(f"{path}: the spec names the split folder {named!r} but --split is {split!r}; they "
                           f"contradict each other: drop --split to evaluate {named!r}, or name the {split!r} folder "
                           f"(wsoleval:{sibling})")
    return path


def _class_count(labels: dict, declared, folder: str) -> int | None:
    found = max(labels.values(), default=-1) + 1 or None
    if declared is None:
        return found
    try:
        declared = int(declared)
    except (TypeError, ValueError):
        raise DatasetError(f"-o num_classes={declared!r}: expected a whole number of classes") from None
    if declared < (found or 1):
        raise DatasetError(f"-o num_classes={declared}: {folder}/class_labels.txt uses class index {found - 1 if found else 0}; "
                           f"num_classes must be at least {found or 1}")
    return declared


@register_adapter("wsoleval")
def load_wsoleval(path: str, *, split: str | None = None, mask_root: str | None = None,
                  name: str | None = None, images: str | None = None, num_classes: int | None = None,
                  problems: list | None = None) -> AnnotationSet:
    """Read a wsolevaluation metadata folder (``metadata/<DATASET>/<split>``).

    Args:
        path: the folder with the four metadata files (or its parent, with ``split``).
        split: optional sub-folder name (``val``, ``test``).
        mask_root: folder the mask PNG paths of ``localization.txt`` are relative to.
        name: dataset name to record (default: the folder's parent name, e.g. ``CUB``).
        images: folder the image ids resolve against (``AnnotationSet.root``; e.g. wsolevaluation's
            ``dataset/CUB``); optional, evaluation does not read images.
        num_classes: the dataset's number of classes, when the split does not show every class (a
            subset); default: the largest class index + 1. Predicted labels must lie below it.
        problems: collect annotation problems here and skip the bad lines instead of raising
            (``wsolbench datasets check``); images without a label are then left out.
    """
    folder = split_folder(path, split)
    if not os.path.isdir(folder):
        raise AnnotationError(f"{folder}: not a folder; --gt wsoleval:DIR needs a folder with image_ids.txt, "
                              "class_labels.txt, image_sizes.txt and localization.txt")
    ids = _read_ids(folder, problems)
    known = set(ids)
    labels_path, labels = _labels(folder, known, problems)
    missing = [i for i in ids if i not in labels]
    if missing:
        report(AnnotationError(f"{labels_path}: no class label for {len(missing)} image(s), e.g. {missing[0]!r}; "
                               "add a line 'image_id,class_index' for each"), problems)
        ids = [i for i in ids if i in labels]
    sizes = _sizes(folder, known, problems)
    boxes, masks = _localization(folder, known, sizes, mask_root, problems)
    records = []
    for image_id in ids:
        b = boxes.get(image_id)
        if b is not None and image_id not in sizes:
            report(AnnotationError(f"{os.path.join(folder, 'image_sizes.txt')}: no size for {image_id!r}, "
                                   "which has boxes; boxes are rescaled by the original size"), problems)
        records.append(ImageRecord(image_id=image_id, labels=(labels[image_id],), image_size=sizes.get(image_id),
                                   boxes=b if b is not None else np.zeros((0, 4), np.float64),
                                   masks=masks.get(image_id)))
    dataset = name or os.path.basename(os.path.dirname(os.path.normpath(folder))) or "wsoleval"
    return AnnotationSet(records=records, name=dataset, split=os.path.basename(os.path.normpath(folder)),
                         num_classes=_class_count(labels, num_classes, folder), root=images, source=folder)
