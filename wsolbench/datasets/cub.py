"""Adapter for the native CUB-200-2011 release (``cub:DIR``).

``DIR`` is the ``CUB_200_2011`` folder of the official tarball (or its parent)::

    CUB_200_2011/
      classes.txt              "<class_id> <class_name>"            1-based ids, e.g. "1 001.Black_footed_Albatross"
      images.txt               "<image_id> <class_folder>/<file>"   1-based ids
      image_class_labels.txt   "<image_id> <class_id>"
      train_test_split.txt     "<image_id> <is_training_image>"    1 = train, 0 = test
      bounding_boxes.txt       "<image_id> <x> <y> <width> <height>" floats, e.g. "1 60.0 27.0 325.0 304.0"
      images/<class_folder>/<file>.jpg

Records use the image path of ``images.txt`` as ``image_id`` (e.g.
``001.Black_footed_Albatross/Black_Footed_Albatross_0046_18.jpg``), the same ids as
wsolevaluation's ``metadata/CUB``; ``AnnotationSet.root`` is ``DIR/images``. Class index = class
id - 1.

Box convention: CUB gives ``x, y, width, height``; the record box is ``x0 = x, y0 = y,
x1 = x + width, y1 = y + height``. This is exactly what wsolevaluation's metadata holds: CUB image 1
(``Black_Footed_Albatross_0046_18.jpg``, ``60.0 27.0 325.0 304.0``) is ``60,27,385,331`` in
``metadata/CUB/test/localization.txt``, and image 3 (``..._0002_55.jpg``, ``14.0 112.0 388.0
186.0``) is ``14,112,402,298``. Image sizes come from the JPEG headers (no pixel is decoded) and are
cached on disk (:func:`wsolbench.datasets.images.read_image_sizes`).

Splits: ``train`` (5,994), ``test`` (5,794; the default) and ``val``: the field's
``train-fullsup`` split, which is *not* part of the CUB release. wsolevaluation's CUB ``val`` is
CUBV2, 1,000 new Flickr images (5 per class) with their own boxes; pass its metadata folder with
``val_metadata=DIR`` (``metadata/CUB/val`` or ``metadata/CUB``) and put its images under
``images/<class_folder>/`` (or give ``val_images=DIR``). Any val image that is also a CUB train
image is held out of ``train``.
"""

from __future__ import annotations

import os

import numpy as np

from wsolbench.datasets.boxes import check_box
from wsolbench.datasets.images import ImageFileError, missing_files, read_image_sizes
from wsolbench.datasets.records import AnnotationSet, ImageRecord, check_image_id
from wsolbench.datasets.registry import register_adapter
from wsolbench.datasets.textfiles import parse_float, parse_int, read_rows, report
from wsolbench.errors import AnnotationError, DatasetError, where

CUB_FILES = ("classes.txt", "images.txt", "image_class_labels.txt", "train_test_split.txt", "bounding_boxes.txt")
SPLITS = ("train", "test", "val")
DEFAULT_SPLIT = "test"


def find_cub_root(path: str) -> str:
    """The folder holding ``images.txt``: ``path`` itself or ``path/CUB_200_2011``.

    Raises:
        DatasetError: neither holds the CUB index files.
    """
    for folder in (path, os.path.join(path, "CUB_200_2011")):
        if os.path.isfile(os.path.join(folder, "images.txt")):
            return folder
    raise DatasetError(f"{path}: no images.txt here nor in {os.path.join(path, 'CUB_200_2011')}; cub:DIR needs "
                       f"the folder of the CUB_200_2011 tarball ({', '.join(CUB_FILES)}, images/)")


def _id_rows(folder, name, nfields, what, problems, bad: set | None = None):
    """Yield ``(line, id, fields)`` of a whitespace-separated CUB index file; the ids of malformed
    lines (when readable) go to ``bad``."""
    path = os.path.join(folder, name)
    for line, parts in read_rows(path, fields=None, what=what, sep=None, problems=problems):
        try:
            key = parse_int(parts[0], path=path, line=line, name="id")
        except AnnotationError as e:
            report(e, problems)
            continue
        if len(parts) != nfields:
            report(AnnotationError(f"{where(path, line)}expected {what}, found {len(parts)} field(s): "
                                   f"{' '.join(parts)!r}"), problems)
            if bad is not None:
                bad.add(key)
            continue
        yield line, key, parts[1:]


def _name(images, key) -> str | None:
    return images[key][1] if key in images else None


def _unique(path, rows, problems):
    """``{id: (line, fields)}``, reporting repeated ids."""
    out = {}
    for line, key, fields in rows:
        if key in out:
            report(AnnotationError(f"{where(path, line)}id {key} is listed twice (first on line {out[key][0]}); "
                                   "keep one line per id"), problems)
            continue
        out[key] = (line, fields)
    return out


def read_classes(folder, problems=None) -> list[str]:
    """Class names indexed by class index (= CUB class id - 1)."""
    path = os.path.join(folder, "classes.txt")
    rows = _unique(path, _id_rows(folder, "classes.txt", 2, "'<class_id> <class_name>'", problems), problems)
    ids = sorted(rows)
    if ids != list(range(1, len(ids) + 1)):
        gap = next((i for i in range(1, len(ids) + 2) if i not in rows), None)
        raise AnnotationError(f"{path}: class ids must run 1..K without gaps; class id {gap} is missing "
                              "(CUB-200-2011 has ids 1..200)")
    return [rows[i][1][0] for i in ids]


def read_images(folder, problems=None) -> dict[int, tuple[int, str]]:
    """``{image id: (line, relative image path)}`` from ``images.txt``."""
    path = os.path.join(folder, "images.txt")
    rows = _unique(path, _id_rows(folder, "images.txt", 2, "'<image_id> <class_folder>/<file>'", problems), problems)
    out = {}
    for key, (line, (name,)) in rows.items():
        try:
            out[key] = (line, check_image_id(name, path=path, line=line))
        except AnnotationError as e:
            report(e, problems)
    if not out:
        raise AnnotationError(f"{path}: no images listed; expected lines '<image_id> <class_folder>/<file>'")
    return out


def _known_id(path, line, key, images, problems) -> bool:
    if key in images:
        return True
    report(AnnotationError(f"{where(path, line)}image id {key} is not listed in images.txt; "
                           "remove this line or restore images.txt"), problems)
    return False


def read_labels(folder, images, num_classes, problems=None) -> dict[int, int]:
    """``{image id: class index}`` from ``image_class_labels.txt`` (1-based class ids)."""
    path = os.path.join(folder, "image_class_labels.txt")
    rows = _unique(path, _id_rows(folder, "image_class_labels.txt", 2, "'<image_id> <class_id>'", problems),
                   problems)
    out = {}
    for key, (line, (text,)) in rows.items():
        try:
            cls = parse_int(text, path=path, line=line, name="class id", image_id=_name(images, key))
            if not 1 <= cls <= num_classes:
                raise AnnotationError(f"{where(path, line, _name(images, key))}unknown class id {cls}; "
                                      f"classes.txt defines ids 1..{num_classes} (class ids are 1-based)")
        except AnnotationError as e:
            report(e, problems)
            continue
        if _known_id(path, line, key, images, problems):
            out[key] = cls - 1
    return out


def read_split_flags(folder, images, problems=None) -> dict[int, bool]:
    """``{image id: is_training_image}`` from ``train_test_split.txt``."""
    path = os.path.join(folder, "train_test_split.txt")
    rows = _unique(path, _id_rows(folder, "train_test_split.txt", 2, "'<image_id> <is_training_image>'", problems),
                   problems)
    out = {}
    for key, (line, (text,)) in rows.items():
        if text not in ("0", "1"):
            report(AnnotationError(f"{where(path, line)}is_training_image must be 1 (train) or 0 (test), "
                                   f"found {text!r}"), problems)
            continue
        if _known_id(path, line, key, images, problems):
            out[key] = text == "1"
    return out


def read_boxes(folder, images, problems=None) -> dict[int, list[tuple[int, list[float]]]]:
    """``{image id: [(line, [x0, y0, x1, y1]), ...]}`` from ``bounding_boxes.txt`` (x, y, w, h)."""
    path = os.path.join(folder, "bounding_boxes.txt")
    out: dict[int, list] = {}
    bad: set[int] = set()
    for line, key, parts in _id_rows(folder, "bounding_boxes.txt", 5, "'<image_id> <x> <y> <width> <height>'",
                                     problems, bad):
        image_id = _name(images, key)
        try:
            x, y, w, h = (parse_float(p, path=path, line=line, name=n, image_id=image_id)
                          for p, n in zip(parts, ("x", "y", "width", "height")))
            if w < 0 or h < 0:
                raise AnnotationError(f"{where(path, line, image_id)}box width {w} / height {h} is negative; "
                                      "CUB boxes are x, y, width, height")
        except AnnotationError as e:
            report(e, problems)
            bad.add(key)
            continue
        if _known_id(path, line, key, images, problems):
            out.setdefault(key, []).append((line, [x, y, x + w, y + h]))
    for key in bad:  # already reported: do not report "no box" again
        out.setdefault(key, [])
    return out


def _require(index, key, image_id, path, what, problems) -> bool:
    if key in index:
        return True
    report(AnnotationError(f"{path}: no {what} for image id {key} ({image_id!r}); add its line"), problems)
    return False


def _sizes(root, folder, chosen, images, *, cache, problems):
    names = [images[k][1] for k in chosen]
    sizes, failures = read_image_sizes(root, names, cache=cache)
    path = os.path.join(folder, "images.txt")
    for key in chosen:
        line, name = images[key]
        if name in failures:
            report(ImageFileError(f"{where(path, line, name)}{_reason(failures[name])}",
                                  path=os.path.join(root, name), image_id=name), problems)
    return sizes


def _reason(error: AnnotationError) -> str:
    """The part of an image error after its location prefix."""
    text = str(error)
    return text.split(": ", 1)[1] if ": " in text else text


def _record(key, images, labels, boxes, sizes, folder, problems) -> ImageRecord | None:
    line, image_id = images[key]
    box_path = os.path.join(folder, "bounding_boxes.txt")
    if not _require(labels, key, image_id, os.path.join(folder, "image_class_labels.txt"), "class label", problems):
        return None
    size = sizes.get(image_id)
    kept = []
    for bline, box in boxes.get(key, []):
        try:
            check_box(box, size, path=box_path, line=bline, image_id=image_id)
            kept.append(box)
        except AnnotationError as e:
            report(e, problems)
    return ImageRecord(image_id=image_id, labels=(labels[key],), image_size=size,
                       boxes=np.asarray(kept, np.float64).reshape(-1, 4))


def _val_folder(val_metadata: str) -> str:
    sub = os.path.join(val_metadata, "val")
    return sub if os.path.isfile(os.path.join(sub, "image_ids.txt")) else val_metadata


def _val_ids(val_metadata: str | None) -> set[str]:
    if not val_metadata:
        return set()
    path = os.path.join(_val_folder(val_metadata), "image_ids.txt")
    return {parts[0] for _, parts in read_rows(path, fields=(1,), what="one image id per line")}


def _load_val(root, num_classes, class_names, *, val_metadata, val_images, check_images, problems, source):
    from wsolbench.datasets.wsoleval import load_wsoleval

    if not val_metadata:
        raise DatasetError("CUB-200-2011 has no val split; the field's val (wsolevaluation train-fullsup, CUBV2: "
                           "5 images per class) comes with wsolevaluation's metadata: pass val_metadata=DIR "
                           "(metadata/CUB/val), e.g. `-o val_metadata=metadata/CUB/val`")
    folder = _val_folder(val_metadata)
    val = load_wsoleval(folder, problems=problems, name="cub")
    records = []
    for r in val.records:
        if r.label >= num_classes:
            report(AnnotationError(f"{os.path.join(folder, 'class_labels.txt')}: image '{r.image_id}': class index "
                                   f"{r.label} is not a CUB class (0..{num_classes - 1})"), problems)
            continue
        records.append(r)
    image_root = val_images or root
    if check_images:
        _report_missing(image_root, [r.image_id for r in records], os.path.join(folder, "image_ids.txt"), problems)
    return AnnotationSet(records=records, name="cub", split="val", num_classes=num_classes,
                         class_names=class_names, root=image_root, source=f"{source} + {folder}")


def _report_missing(root, names, listed_in, problems):
    for name in missing_files(root, names):
        report(ImageFileError(f"{os.path.join(root, name)}: image '{name}' (listed in {listed_in}) not found; "
                              "check the image folder (a partial download?)",
                              path=os.path.join(root, name), image_id=name), problems)


@register_adapter("cub")
def load_cub(path: str, *, split: str | None = None, val_metadata: str | None = None,
             val_images: str | None = None, cache: bool = True, check_images: bool = True,
             problems: list | None = None) -> AnnotationSet:
    """Read the native CUB-200-2011 release.

    Args:
        path: the ``CUB_200_2011`` folder (or its parent).
        split: ``train``, ``test`` (default) or ``val`` (needs ``val_metadata``).
        val_metadata: wsolevaluation metadata folder of the val split (``metadata/CUB/val``).
        val_images: folder the val image ids resolve against (default ``DIR/images``).
        cache: cache image sizes read from the headers (see :func:`wsolbench.datasets.images.cache_dir`).
        check_images: val only: check that every image file exists (train/test read every header anyway).
        problems: collect problems here instead of raising (``wsolbench datasets check``).

    Returns:
        The split's :class:`AnnotationSet` (``name="cub"``, 200 classes for the real release).

    Example:
        >>> from wsolbench.datasets import load_annotations                   # doctest: +SKIP
        >>> test = load_annotations("cub:/data/CUB_200_2011", split="test")   # doctest: +SKIP
        >>> len(test), test.num_classes                                       # doctest: +SKIP
        (5794, 200)
    """
    split = split or DEFAULT_SPLIT
    if split not in SPLITS:
        raise DatasetError(f"cub has splits {', '.join(SPLITS)}; got split {split!r}")
    folder = find_cub_root(path)
    root = os.path.join(folder, "images")
    class_names = read_classes(folder, problems)
    if split == "val":
        return _load_val(root, len(class_names), class_names, val_metadata=val_metadata, val_images=val_images,
                         check_images=check_images, problems=problems, source=folder)
    images = read_images(folder, problems)
    labels = read_labels(folder, images, len(class_names), problems)
    flags = read_split_flags(folder, images, problems)
    boxes = read_boxes(folder, images, problems)
    split_path = os.path.join(folder, "train_test_split.txt")
    held_out = _val_ids(val_metadata) if split == "train" else set()
    chosen = [k for k in sorted(images)
              if _require(flags, k, images[k][1], split_path, "train/test flag", problems)
              and flags[k] == (split == "train") and images[k][1] not in held_out]
    for k in chosen:
        _require(boxes, k, images[k][1], os.path.join(folder, "bounding_boxes.txt"), "bounding box", problems)
    sizes = _sizes(root, folder, chosen, images, cache=cache, problems=problems)
    records = [r for k in chosen if (r := _record(k, images, labels, boxes, sizes, folder, problems)) is not None]
    return AnnotationSet(records=records, name="cub", split=split, num_classes=len(class_names),
                         class_names=class_names, root=root, source=folder)
