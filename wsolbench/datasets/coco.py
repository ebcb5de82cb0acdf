"""Adapter for COCO-format annotation files (``coco:FILE.json``): MS COCO itself, and any dataset
exported in that format (CVAT, Label Studio, Roboflow, FiftyOne, detectron2 and mmdetection all write it).

Specs::

    coco:/data/mine/annotations.json                      one split: that file
    coco:/data/mine/annotations.json?images=/data/mine/img
    coco:/data/coco --split val2017                       annotations/instances_val2017.json, images val2017/
    coco:/data/coco/annotations/instances_val2017.json?categories=dog,cat&masks=false

Options (in the spec after ``?``, or ``-o KEY=VALUE``): ``images`` (the folder ``file_name`` is relative
to), ``categories`` (a subset, by name or id, comma-separated), ``masks`` (``false``: ignore the
segmentations, boxes only), ``check_images`` (``false``: do not look for the image files).

**Splits are files.** A split's name is its file's stem without the ``instances_`` prefix
(``instances_val2017.json`` is ``val2017``). ``coco:FILE`` is FILE's split; another ``--split NAME``
is the file ``NAME.json`` or ``instances_NAME.json`` beside it. ``coco:DIR`` looks in ``DIR`` and
``DIR/annotations`` (only at ``instances_*.json`` where there are any, so COCO's ``captions_*`` files
are not splits) and takes ``--split``, else ``test``, else ``val``, else the only split.

**Images** are found at ``images=DIR``, else the first folder that exists of ``ROOT/<split>``,
``ROOT/images/<split>``, ``ROOT/images`` and ``ROOT``, where ``ROOT`` is the JSON's folder, or its
parent when that folder is called ``annotations`` (COCO's layout: ``val2017/`` beside ``annotations/``).
``image_id`` is the image's ``file_name``.

**Labels** are the categories of the image's annotations: class index = position of the category
in the ``categories`` list sorted by id (restricted to the ``categories`` subset if one is given),
so COCO's 80 ids 1..90 become 0..79. An image with annotations of several categories is
multi-label (like PASCAL VOC): mPxAP applies, and each class's map is scored against that class's
instances. Images without an annotation of a kept category are left out (WSOL needs a label).

**Boxes**: COCO's ``bbox`` is ``[x, y, width, height]`` in continuous pixel coordinates (pixel i
spans [i, i + 1)), so the object covers pixel columns ``x`` .. ``x + width - 1``. wsolbench's boxes are
inclusive pixel indices and its IoU counts ``x1 - x0 + 1`` pixels, so the record box is
``x0 = x, y0 = y, x1 = x + width - 1, y1 = y + height - 1`` (at least ``x0``, ``y0``: a box narrower
than a pixel covers one), which keeps the COCO box's area. (The ``cub:`` adapter's ``x1 = x + width``
is not this convention: it reproduces what wsolevaluation's CUB metadata holds.)

**Masks** (polygons, uncompressed and compressed RLE, decoded by pycocotools, the ``[coco]`` extra):
one instance mask per annotation, labelled with its class. ``iscrowd: 1`` annotations mark a region
holding many objects that are not outlined one by one: their pixels are **ignored** for PxAP (for
every class: a record has one ignore mask, as VOC's void), never foreground or background, and they
give neither a label nor a box. This is how COCO's own evaluation treats crowd regions (a detection
on one is neither a true nor a false positive). If any kept object has a segmentation, every object
and crowd must have one (an object without a mask would count as background); a file without any
segmentation is read as boxes only.

**Bad input** is reported per annotation id (``annotation id 7 (image 'a.jpg'): ...``) or per image
id: unknown image or category ids, malformed boxes, broken segmentations (see
:mod:`wsolbench.datasets.cocomasks`), images without a size, missing image files. ``wsolbench
datasets check`` lists them all; loading stops at the first.

The JSON is read with the standard library, not ``pycocotools.coco.COCO``: COCO's class prints to
stdout (which carries ``--json`` output) and stops at the first inconsistency, while each problem
here is reported with its annotation id.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass

import numpy as np

from wsolbench.datasets.boxes import check_box
from wsolbench.datasets.cocomasks import check_segmentation, decode_segmentation, has_segmentation, mask_utils
from wsolbench.datasets.images import ImageFileError, missing_files
from wsolbench.datasets.records import AnnotationSet, GTMasks, ImageRecord, MaskSource, check_image_id
from wsolbench.datasets.registry import register_adapter, split_query
from wsolbench.datasets.textfiles import report
from wsolbench.errors import AnnotationError, DatasetError

SPLIT_PREFIX = "instances_"
DEFAULT_SPLITS = ("test", "val")
OPTIONS = ("images", "categories", "masks", "check_images")


# ----------------------------------------------------------------------------------- spec and files

def split_name(json_path: str) -> str:
    """``instances_val2017.json`` -> ``val2017``; ``test.json`` -> ``test``."""
    stem = os.path.splitext(os.path.basename(json_path))[0]
    return stem[len(SPLIT_PREFIX):] if stem.startswith(SPLIT_PREFIX) and len(stem) > len(SPLIT_PREFIX) else stem


def split_files(folder: str) -> dict[str, str]:
    """``{split: json path}`` of the COCO files in ``folder`` and ``folder/annotations``."""
    found = []
    for base in (folder, os.path.join(folder, "annotations")):
        if os.path.isdir(base):
            found += [os.path.join(base, f) for f in sorted(os.listdir(base)) if f.endswith(".json")]
    instances = [p for p in found if os.path.basename(p).startswith(SPLIT_PREFIX)]
    return {split_name(p): p for p in (instances or found)}


def _pick_split(where: str, files: dict[str, str], split: str | None) -> tuple[str, str]:
    if split is not None:
        if split in files:
            return files[split], split
        raise DatasetError(f"{where}: no COCO file for split {split!r} (looked for {split}.json and "
                           f"{SPLIT_PREFIX}{split}.json); splits here: {', '.join(files) or 'none'}")
    for name in DEFAULT_SPLITS:
        if name in files:
            return files[name], name
    if len(files) == 1:
        (name, path), = files.items()
        return path, name
    raise DatasetError(f"{where}: several COCO files ({', '.join(files)}); choose one with --split NAME")


def resolve_file(location: str, split: str | None) -> tuple[str, str]:
    """``(json path, split name)`` named by a spec's location and ``split`` (see the module docstring).

    Raises:
        DatasetError: no such file or folder, or no file for the split.
    """
    if not location:
        raise DatasetError("coco: needs the annotation file: coco:PATH/annotations.json (or coco:DIR --split NAME)")
    location = os.path.expanduser(location)
    if os.path.isfile(location):
        own = split_name(location)
        if split is None or split == own:
            return location, own
        return _pick_split(location, split_files(os.path.dirname(location) or "."), split)
    if os.path.isdir(location):
        files = split_files(location)
        if not files:
            raise DatasetError(f"{location}: no .json annotation file here or in {location}/annotations; "
                               "name the file: coco:PATH/annotations.json")
        return _pick_split(location, files, split)
    raise DatasetError(f"{location}: no such file or folder; coco:PATH names a COCO annotation file (.json)")


def image_folder(json_path: str, split: str, images: str | None) -> str:
    """The folder the images' ``file_name`` resolve against (see the module docstring)."""
    if images:
        return os.path.expanduser(images)
    root = os.path.dirname(os.path.abspath(json_path))
    if os.path.basename(root) == "annotations":
        root = os.path.dirname(root)
    for folder in (os.path.join(root, split), os.path.join(root, "images", split), os.path.join(root, "images")):
        if os.path.isdir(folder):
            return folder
    return root


def _flag(value, name: str) -> bool:
    if isinstance(value, bool):
        return value
    low = str(value).strip().lower()
    if low in ("true", "1", "yes"):
        return True
    if low in ("false", "0", "no"):
        return False
    raise DatasetError(f"coco dataset: option {name}={value!r} must be true or false")


# ----------------------------------------------------------------------------------- reading the JSON

def read_json(path: str) -> dict:
    """The file's top-level object, checked to hold the lists ``images``, ``annotations``, ``categories``.

    Raises:
        AnnotationError: not JSON (with line and column), or not a COCO object.
    """
    try:
        with open(path, encoding="utf-8-sig") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise AnnotationError(f"{path}:{e.lineno}: not valid JSON ({e.msg}, column {e.colno})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise AnnotationError(f"{path}: cannot read the annotation file ({e})") from None
    if not isinstance(data, dict):
        raise AnnotationError(f"{path}: a COCO file is a JSON object with 'images', 'annotations' and "
                              f"'categories'; found a {type(data).__name__}")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise AnnotationError(f"{path}: '{key}' is {'missing' if key not in data else 'not a list'}; a COCO "
                                  "file has the lists 'images', 'annotations' and 'categories'")
    return data


@dataclass(frozen=True)
class Categories:
    """The kept categories: ``index[category id] = class index``, names by class index, and every id
    the file defines (annotations of defined but not kept ids are skipped, unknown ids are errors)."""

    index: dict
    names: tuple[str, ...]
    defined: frozenset


def _category_table(path: str, entries: list) -> dict:
    table = {}
    for k, c in enumerate(entries):
        if not isinstance(c, dict) or not isinstance(c.get("id"), int) or isinstance(c.get("id"), bool):
            raise AnnotationError(f"{path}: categories[{k}] has no whole-number 'id': {c!r}")
        if c["id"] in table:
            raise AnnotationError(f"{path}: category id {c['id']} is defined twice; category ids must be unique")
        table[c["id"]] = str(c.get("name", c["id"]))
    return table


def _subset(path: str, table: dict, categories) -> list[int]:
    tokens = categories if isinstance(categories, (list, tuple)) else str(categories).split(",")
    by_name = {name: cid for cid, name in table.items()}
    chosen = []
    for token in (str(t).strip() for t in tokens):
        if token in by_name:
            chosen.append(by_name[token])
        elif token.lstrip("-").isdigit() and int(token) in table:
            chosen.append(int(token))
        elif token:
            shown = ", ".join(f"{cid}={name}" for cid, name in sorted(table.items())[:12])
            raise DatasetError(f"{path}: categories={categories!r}: {token!r} is neither a category name nor an id "
                               f"of this file ({shown}{', ...' if len(table) > 12 else ''})")
    if not chosen:
        raise DatasetError(f"{path}: categories={categories!r} names no category")
    return sorted(set(chosen))


def read_categories(path: str, entries: list, categories=None) -> Categories:
    """The categories of the file, or the subset ``categories`` (names or ids, comma-separated)."""
    table = _category_table(path, entries)
    if not table:
        raise AnnotationError(f"{path}: 'categories' is empty; a COCO file lists its categories with id and name")
    kept = _subset(path, table, categories) if categories not in (None, "") else sorted(table)
    return Categories(index={cid: k for k, cid in enumerate(kept)}, names=tuple(table[c] for c in kept),
                      defined=frozenset(table))


@dataclass
class CocoImage:
    """One ``images`` entry and the kept annotations that refer to it."""

    coco_id: object
    file_name: str
    width: int
    height: int
    objects: list
    crowds: list
    broken: bool = False


def _positive_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def read_images(path: str, entries: list, problems: list | None) -> dict:
    """``{COCO image id: CocoImage}`` in file order; an entry without id, file name or size is reported."""
    images: dict = {}
    for k, im in enumerate(entries):
        ident = im.get("id") if isinstance(im, dict) else None
        label = f"{path}: images[{k}] (id {ident!r})"
        try:
            if not isinstance(im, dict) or ident is None or isinstance(ident, (list, dict, float)):
                raise AnnotationError(f"{label}: an image needs an 'id' (a number or string): {im!r}")
            if ident in images:
                raise AnnotationError(f"{label}: image id {ident!r} is listed twice; image ids must be unique")
            name = im.get("file_name")
            if not isinstance(name, str):
                raise AnnotationError(f"{label}: 'file_name' is missing; it names the image file relative to the "
                                      "image folder")
            check_image_id(name, path=f"{path}: image id {ident!r}")
            if not (_positive_int(im.get("width")) and _positive_int(im.get("height"))):
                raise AnnotationError(f"{label}: 'width' and 'height' must be positive whole numbers, found "
                                      f"{im.get('width')!r} x {im.get('height')!r}; boxes and masks need the size")
        except AnnotationError as e:
            report(e, problems)
            continue
        images[ident] = CocoImage(ident, name, im["width"], im["height"], [], [])
    return images


def _box(bbox, image: CocoImage) -> list[float]:
    """The inclusive ``x0, y0, x1, y1`` of a COCO ``[x, y, width, height]`` (see the module docstring)."""
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in bbox)):
        raise AnnotationError(f"'bbox' is {bbox!r}; COCO boxes are [x, y, width, height], four numbers")
    x, y, w, h = (float(v) for v in bbox)
    if w <= 0 or h <= 0:
        raise AnnotationError(f"'bbox' {bbox} has width {w:g} and height {h:g}; both must be positive")
    box = [x, y, max(x, x + w - 1), max(y, y + h - 1)]
    check_box(box, (image.width, image.height))
    return box


def _attach(path: str, k: int, a, images: dict, cats: Categories, masks: bool) -> None:
    """Check annotation ``a`` and add it to its image (raises AnnotationError naming the annotation id)."""
    ident = a.get("id") if isinstance(a, dict) else None
    where_ = f"{path}: annotation id {ident!r}" if ident is not None else f"{path}: annotations[{k}]"
    if not isinstance(a, dict):
        raise AnnotationError(f"{where_}: an annotation is an object, found {a!r}")
    image = images.get(a.get("image_id"))
    if image is None:
        raise AnnotationError(f"{where_}: image_id {a.get('image_id')!r} is not in 'images'")
    where_ = f"{where_} (image '{image.file_name}')"
    category = a.get("category_id")
    if category not in cats.defined:
        raise AnnotationError(f"{where_}: unknown category id {category!r}; 'categories' defines "
                              f"{', '.join(str(c) for c in sorted(cats.defined)[:20])}"
                              f"{', ...' if len(cats.defined) > 20 else ''}")
    if category not in cats.index:
        return
    crowd = bool(a.get("iscrowd", 0))
    seg = a.get("segmentation") if masks else None
    try:
        box = None if crowd else _box(a.get("bbox"), image)
        if has_segmentation(seg):
            problem = check_segmentation(seg, image.height, image.width, full=False)
            if problem:
                raise AnnotationError(f"broken segmentation: {problem}")
    except AnnotationError as e:
        raise AnnotationError(f"{where_}: {e}") from None
    entry = (ident, cats.index[category], box, seg if has_segmentation(seg) else None)
    (image.crowds if crowd else image.objects).append(entry)


def read_annotations(path: str, entries: list, images: dict, cats: Categories, *, masks: bool,
                     problems: list | None) -> None:
    """Attach every kept annotation to its image; an image with a bad annotation is marked ``broken``."""
    for k, a in enumerate(entries):
        try:
            _attach(path, k, a, images, cats, masks)
        except AnnotationError as e:
            report(e, problems)
            image = images.get(a.get("image_id")) if isinstance(a, dict) else None
            if image is not None:
                image.broken = True


def _check_complete_masks(path: str, images: dict, problems: list | None) -> bool:
    """Whether the records carry masks: some kept object has a segmentation; then every object and
    every crowd region must have one."""
    if not any(seg is not None for im in images.values() for *_, seg in im.objects):
        return False
    for im in images.values():
        for ident, _, _, seg in im.objects:
            if seg is None:
                report(AnnotationError(
                    f"{path}: annotation id {ident!r} (image '{im.file_name}'): no 'segmentation', while other "
                    "annotations have one; its object would count as background in PxAP: add its segmentation, "
                    "or pass masks=false to evaluate boxes only"), problems)
                im.broken = True
        for ident, _, _, seg in im.crowds:
            if seg is None:
                report(AnnotationError(
                    f"{path}: annotation id {ident!r} (image '{im.file_name}'): a crowd annotation (iscrowd 1) "
                    "needs its 'segmentation', the region PxAP ignores; add it, or pass masks=false"), problems)
                im.broken = True
    return True


# ----------------------------------------------------------------------------------- records

def _mask_source(path: str, image: CocoImage) -> MaskSource:
    objects, crowds = list(image.objects), list(image.crowds)

    def decode(ident, seg) -> np.ndarray:
        try:
            return decode_segmentation(seg, image.height, image.width)
        except AnnotationError as e:
            raise AnnotationError(f"{path}: annotation id {ident!r} (image '{image.file_name}'): broken "
                                  f"segmentation: {e}") from None

    def load() -> GTMasks:
        instances = [decode(ident, seg) for ident, _, _, seg in objects]
        ignore = None
        for ident, _, _, seg in crowds:
            region = decode(ident, seg)
            ignore = region if ignore is None else ignore | region
        return GTMasks(instances=instances, instance_labels=[label for _, label, _, _ in objects], ignore=ignore)

    return MaskSource(load, f"{len(objects)} instance mask(s), {len(crowds)} crowd region(s) of {image.file_name}",
                      instance_files=[_segmentation_id(label, seg) for _, label, _, seg in objects],
                      ignore_file=";".join(sorted(_segmentation_id(None, seg) for *_, seg in crowds)) or None)


def _segmentation_id(label, seg) -> str:
    """What stands for a mask file in the ground truth's fingerprint: the class and a digest of the segmentation."""
    digest = hashlib.sha256(json.dumps(seg, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]
    return f"coco-segmentation:{label}:{digest}"


def _record(path: str, image: CocoImage, with_masks: bool) -> ImageRecord:
    labels = tuple(sorted({label for _, label, _, _ in image.objects}))
    boxes = np.asarray([box for _, _, box, _ in image.objects], np.float64).reshape(-1, 4)
    return ImageRecord(image_id=image.file_name, labels=labels, image_size=(image.width, image.height), boxes=boxes,
                       masks=_mask_source(path, image) if with_masks else None)


def _report_missing_images(root: str, path: str, records: list, images: dict, problems: list | None) -> list:
    missing = set(missing_files(root, [r.image_id for r in records]))
    ids = {im.file_name: im.coco_id for im in images.values()}
    for name in (r.image_id for r in records if r.image_id in missing):
        report(ImageFileError(f"{os.path.join(root, name)}: image '{name}' (image id {ids[name]!r} in {path}) not "
                              "found; check the image folder or pass images=DIR", path=os.path.join(root, name),
                              image_id=name), problems)
    return [r for r in records if r.image_id not in missing]


@register_adapter("coco")
def load_coco(path: str, *, split: str | None = None, images: str | None = None, categories=None,
              masks=True, check_images=True, problems: list | None = None) -> AnnotationSet:
    """Read a COCO-format annotation file (see the module docstring for the conventions).

    Args:
        path: the spec's path part: a ``.json`` file or a folder, optionally ``?key=value&...``.
        split: a split name (a file, see the module docstring); default: the named file's.
        images: the folder the images' ``file_name`` are relative to.
        categories: a subset of categories, by name or id (``"dog,cat"``, ``"18,17"`` or a list).
        masks: read the segmentations (polygons, RLE; needs pycocotools when masks are loaded).
        check_images: check that every image file exists (folder listings; no image is opened).
        problems: collect problems here instead of raising (``wsolbench datasets check``).

    Returns:
        The split's :class:`AnnotationSet` (``name`` ``coco``, ``root`` the image folder).
    """
    location, query = split_query("coco", path, example="coco:annotations.json?images=DIR")
    unknown = [k for k in query if k not in OPTIONS]
    if unknown:
        raise DatasetError(f"coco dataset: unknown option {unknown[0]!r} in {path!r}; options: {', '.join(OPTIONS)}")
    given = {"images": images, "categories": categories, "masks": None if masks is True else masks,
             "check_images": None if check_images is True else check_images}
    opts = {**query, **{k: v for k, v in given.items() if v is not None}}
    json_path, split = resolve_file(location, split)
    data = read_json(json_path)
    cats = read_categories(json_path, data["categories"], opts.get("categories"))
    coco_images = read_images(json_path, data["images"], problems)
    read_annotations(json_path, data["annotations"], coco_images, cats, masks=_flag(opts.get("masks", True), "masks"),
                     problems=problems)
    with_masks = _check_complete_masks(json_path, coco_images, problems)
    if with_masks:
        mask_utils()                    # no pycocotools: say so now, not once per image
    kept = [im for im in coco_images.values() if im.objects and not im.broken]
    records = [_record(json_path, im, with_masks) for im in kept]
    root = image_folder(json_path, split, opts.get("images"))
    if _flag(opts.get("check_images", True), "check_images"):
        records = _report_missing_images(root, json_path, records, coco_images, problems)
    return AnnotationSet(records=records, name="coco", split=split, num_classes=len(cats.names),
                         class_names=cats.names, root=root, source=json_path)
