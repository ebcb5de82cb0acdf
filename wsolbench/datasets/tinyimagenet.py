"""Adapter for the native Tiny ImageNet layout (``tinyimagenet:DIR``).

``DIR`` is the ``tiny-imagenet-200`` folder of ``tiny-imagenet-200.zip``::

    tiny-imagenet-200/
      wnids.txt                          the 200 WordNet ids, one per line
      words.txt                          "<wnid>\\t<names>" for 82,115 synsets (names of the 200 are taken from it)
      train/<wnid>/<wnid>_boxes.txt      "<file>\\t<x0>\\t<y0>\\t<x1>\\t<y1>", 500 lines per class
      train/<wnid>/images/<wnid>_<k>.JPEG
      val/val_annotations.txt            "<file>\\t<wnid>\\t<x0>\\t<y0>\\t<x1>\\t<y1>", 10,000 lines
      val/images/val_<k>.JPEG
      test/images/test_<k>.JPEG          no labels: not an evaluation split

Every image is 64x64 and has exactly one box, ``x0, y0, x1, y1`` in the 64x64 frame (inclusive
pixel corners, 0..63). The boxes are those of the ImageNet originals, rescaled to the 64x64 crops
the dataset was made of: they are *not* in the coordinates of any full-size ImageNet image.

Image ids are paths relative to ``DIR`` (``val/images/val_0.JPEG``,
``train/n01443537/images/n01443537_0.JPEG``); ``AnnotationSet.root`` is ``DIR``. Class index = the
wnid's position in the *sorted* wnids (the order of ``torchvision.datasets.ImageFolder`` on
``train/``, which is how classifiers are usually trained); ``class_order="file"`` uses the order of
``wnids.txt`` instead. Listing reads no image: the size is the dataset's fixed 64x64 and the
files' presence is checked by listing the folders.
"""

from __future__ import annotations

import os

import numpy as np

from wsolbench.datasets.boxes import check_box
from wsolbench.datasets.images import ImageFileError, missing_files
from wsolbench.datasets.records import AnnotationSet, ImageRecord, check_image_id
from wsolbench.datasets.registry import register_adapter
from wsolbench.datasets.textfiles import parse_float, read_rows, report
from wsolbench.errors import AnnotationError, DatasetError, where

IMAGE_SIZE = (64, 64)
SPLITS = ("train", "val")
DEFAULT_SPLIT = "val"
CLASS_ORDERS = ("sorted", "file")


def read_wnids(root, *, class_order: str = "sorted") -> list[str]:
    """The class wnids indexed by class index."""
    path = os.path.join(root, "wnids.txt")
    wnids, seen = [], {}
    for line, (wnid,) in read_rows(path, fields=(1,), what="one WordNet id (e.g. n01443537) per line", sep=None):
        if wnid in seen:
            raise AnnotationError(f"{where(path, line)}wnid {wnid} is listed twice (first on line {seen[wnid]})")
        seen[wnid] = line
        wnids.append(wnid)
    if not wnids:
        raise AnnotationError(f"{path}: no wnids; expected the 200 class WordNet ids, one per line")
    return sorted(wnids) if class_order == "sorted" else wnids


def read_names(root, wnids) -> list[str]:
    """Human-readable class names from ``words.txt`` (the wnid itself where absent)."""
    path = os.path.join(root, "words.txt")
    wanted, names = set(wnids), {}
    if os.path.isfile(path):
        with open(path, encoding="utf-8", errors="replace") as f:
            for raw in f:
                wnid, _, text = raw.rstrip("\n").partition("\t")
                if wnid in wanted:
                    names[wnid] = text.split(",")[0].strip() or wnid
    return [names.get(w, w) for w in wnids]


def _box(path, line, parts, image_id) -> list[float]:
    box = [parse_float(p, path=path, line=line, name=n, image_id=image_id)
           for p, n in zip(parts, ("x0", "y0", "x1", "y1"))]
    check_box(box, IMAGE_SIZE, path=path, line=line, image_id=image_id)
    return box


def _file_name(path, line, name) -> str:
    if "/" in name or "\\" in name or name in (".", ".."):
        raise AnnotationError(f"{where(path, line)}file name {name!r} must be a bare file name (e.g. val_0.JPEG)")
    return name


def _train_rows(root, wnids, problems):
    """Yield ``(image_id, class index, box)`` for every line of every ``<wnid>_boxes.txt``."""
    for cls, wnid in enumerate(wnids):
        path = os.path.join(root, "train", wnid, f"{wnid}_boxes.txt")
        if not os.path.isfile(path):
            report(AnnotationError(f"{path}: file not found; every class folder train/<wnid>/ needs its "
                                   "<wnid>_boxes.txt (a partial download?)"), problems)
            continue
        for line, parts in read_rows(path, fields=(5,), what="'<file>\\t<x0>\\t<y0>\\t<x1>\\t<y1>'", sep=None,
                                     problems=problems):
            try:
                name = _file_name(path, line, parts[0])
                image_id = check_image_id(f"train/{wnid}/images/{name}", path=path, line=line)
                yield image_id, cls, _box(path, line, parts[1:], image_id)
            except AnnotationError as e:
                report(e, problems)


def _val_rows(root, wnids, problems):
    """Yield ``(image_id, class index, box)`` for every line of ``val/val_annotations.txt``."""
    path = os.path.join(root, "val", "val_annotations.txt")
    index = {w: k for k, w in enumerate(wnids)}
    for line, parts in read_rows(path, fields=(6,), what="'<file>\\t<wnid>\\t<x0>\\t<y0>\\t<x1>\\t<y1>'", sep=None,
                                 problems=problems):
        try:
            name = _file_name(path, line, parts[0])
            image_id = check_image_id(f"val/images/{name}", path=path, line=line)
            if parts[1] not in index:
                raise AnnotationError(f"{where(path, line, image_id)}unknown class id {parts[1]!r}: not in wnids.txt")
            yield image_id, index[parts[1]], _box(path, line, parts[2:], image_id)
        except AnnotationError as e:
            report(e, problems)


def _records(rows, problems, source) -> list[ImageRecord]:
    records, seen = [], set()
    for image_id, cls, box in rows:
        if image_id in seen:
            report(AnnotationError(f"{source}: image '{image_id}' is annotated twice; Tiny ImageNet has one "
                                   "box per image"), problems)
            continue
        seen.add(image_id)
        records.append(ImageRecord(image_id=image_id, labels=(cls,), image_size=IMAGE_SIZE,
                                   boxes=np.asarray([box], np.float64)))
    return records


@register_adapter("tinyimagenet")
def load_tinyimagenet(path: str, *, split: str | None = None, class_order: str = "sorted",
                      check_images: bool = True, problems: list | None = None) -> AnnotationSet:
    """Read the native tiny-imagenet-200 layout.

    Args:
        path: the ``tiny-imagenet-200`` folder (or its parent).
        split: ``val`` (default, 10,000 images) or ``train`` (100,000); ``test`` has no labels.
        class_order: ``sorted`` (ImageFolder order, default) or ``file`` (``wnids.txt`` order).
        check_images: check that every annotated image file exists (one folder listing per folder).
        problems: collect problems here instead of raising (``wsolbench datasets check``).

    Returns:
        The split's :class:`AnnotationSet` (64x64 images, one box each).
    """
    split = split or DEFAULT_SPLIT
    if split == "test":
        raise DatasetError("tinyimagenet's test split has no labels or boxes; evaluate on val")
    if split not in SPLITS:
        raise DatasetError(f"tinyimagenet has splits {', '.join(SPLITS)}; got split {split!r}")
    if class_order not in CLASS_ORDERS:
        raise DatasetError(f"class_order must be one of {', '.join(CLASS_ORDERS)}, got {class_order!r}")
    root = path
    if not os.path.isfile(os.path.join(root, "wnids.txt")) and os.path.isdir(os.path.join(path, "tiny-imagenet-200")):
        root = os.path.join(path, "tiny-imagenet-200")
    if not os.path.isfile(os.path.join(root, "wnids.txt")):
        raise DatasetError(f"{path}: no wnids.txt; tinyimagenet:DIR needs the tiny-imagenet-200 folder "
                           "(wnids.txt, words.txt, train/, val/)")
    wnids = read_wnids(root, class_order=class_order)
    rows = _train_rows(root, wnids, problems) if split == "train" else _val_rows(root, wnids, problems)
    source = os.path.join(root, split)
    records = _records(rows, problems, source)
    if check_images:
        for name in missing_files(root, [r.image_id for r in records]):
            report(ImageFileError(f"{os.path.join(root, name)}: image '{name}' is annotated but its file is "
                                  "missing (a partial download?)", path=os.path.join(root, name), image_id=name),
                   problems)
    return AnnotationSet(records=records, name="tinyimagenet", split=split, num_classes=len(wnids),
                         class_names=read_names(root, wnids), root=root, source=source)
