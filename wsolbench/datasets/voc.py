"""Adapter for PASCAL VOC 2012 segmentation (``voc:DIR``): multi-label images with per-class masks,
the dataset of mPxAP.

``DIR`` is ``VOCdevkit/VOC2012`` (or ``VOCdevkit``, or the folder holding it)::

    VOC2012/
      ImageSets/Segmentation/{train,val,trainval}.txt   one image name per line (2007_000032)
      SegmentationClass/<name>.png                       palette PNG: index 0 = background,
                                                          1..20 = the classes, 255 = void (object borders)
      Annotations/<name>.xml                             size and boxes (1-based pixel indices)
      JPEGImages/<name>.jpg

A record's ``labels`` are every class present in its mask (palette indices 1..20 -> class
indices 0..19, in the order of :data:`VOC_CLASSES`); its masks (:class:`GTMasks`) are one binary
mask per present class (``instance_labels`` = that class index) and the void pixels as the ignore
mask. The palette *indices* are read (Pillow's mode ``P``), never the colours: a mask saved as RGB
is an error. Listing decodes each mask once to find its classes and caches the result on disk
(keyed by file size and time); the masks themselves are loaded lazily.

Boxes come from the XML: VOC's ``xmin..xmax`` are 1-based pixel indices, so the record box is
``xmin - 1, ymin - 1, xmax - 1, ymax - 1`` (0-based inclusive, like every other adapter; a 0 in the
XML is read as the first pixel). ``image_size`` is the XML's ``<size>``; ``image_id`` is
``JPEGImages/<name>.jpg``; ``AnnotationSet.root`` is ``DIR``.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import numpy as np

from wsolbench.datasets.boxes import checked_xml_boxes
from wsolbench.datasets.images import ImageFileError, cached_file_facts, missing_files
from wsolbench.datasets.records import AnnotationSet, GTMasks, ImageRecord, MaskSource, check_image_id
from wsolbench.datasets.registry import register_adapter
from wsolbench.datasets.textfiles import parse_float, parse_int, read_rows, report
from wsolbench.errors import AnnotationError, DatasetError, where

VOC_CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
               "tvmonitor")
VOID = 255
DEFAULT_SPLIT = "val"


def find_voc_root(path: str) -> str:
    """The ``VOC2012`` folder under ``path`` (``path`` itself, ``path/VOC2012`` or ``path/VOCdevkit/VOC2012``)."""
    for folder in (path, os.path.join(path, "VOC2012"), os.path.join(path, "VOCdevkit", "VOC2012")):
        if os.path.isdir(os.path.join(folder, "ImageSets", "Segmentation")):
            return folder
    raise DatasetError(f"{path}: no ImageSets/Segmentation here, in VOC2012/ or in VOCdevkit/VOC2012/; voc:DIR "
                       "needs the VOC2012 folder of VOCtrainval_11-May-2012.tar")


def read_indices(path, *, image_id: str | None = None) -> np.ndarray:
    """The palette indices (rows, cols) uint8 of a VOC ``SegmentationClass`` PNG.

    Raises:
        ImageFileError: missing or undecodable file.
        AnnotationError: not a palette (or 8-bit grayscale index) image.
    """
    from PIL import Image

    if not os.path.isfile(path):
        raise ImageFileError(f"{where(path, None, image_id)}segmentation mask not found (a partial download?)",
                             path=path, image_id=image_id)
    try:
        with Image.open(path) as im:
            mode = im.mode
            arr = np.array(im) if mode in ("P", "L") else None
    except (OSError, ValueError, SyntaxError) as e:
        raise ImageFileError(f"{where(path, None, image_id)}cannot decode the mask ({e}); download it again",
                             path=path, image_id=image_id) from e
    if arr is None:
        raise AnnotationError(f"{where(path, None, image_id)}mask has mode {mode}; VOC masks are palette PNGs "
                              "whose indices are the classes (colours are not read): use the original "
                              "SegmentationClass PNGs, not recoloured RGB copies")
    return arr


def _mask_facts(path: str) -> list:
    """``[width, height, [palette indices present]]`` of one mask (what the listing caches)."""
    arr = read_indices(path)
    return [int(arr.shape[1]), int(arr.shape[0]), [int(v) for v in np.flatnonzero(np.bincount(arr.ravel()))]]


def _labels_of(present, path, image_id) -> tuple[int, ...]:
    bad = [v for v in present if v != VOID and v > len(VOC_CLASSES)]
    if bad:
        raise AnnotationError(f"{where(path, None, image_id)}palette index {bad[0]} is not a VOC class "
                              f"(0 = background, 1..{len(VOC_CLASSES)} = classes, {VOID} = void)")
    labels = tuple(v - 1 for v in present if 1 <= v <= len(VOC_CLASSES))
    if not labels:
        raise AnnotationError(f"{where(path, None, image_id)}mask holds no object class (only background/void)")
    return labels


def parse_voc_xml(path: str, *, image_id: str | None = None) -> tuple[tuple[int, int], list[list[float]]]:
    """``((width, height), boxes x0,y0,x1,y1 0-based)`` of a VOC annotation XML.

    Raises:
        AnnotationError: malformed XML (with its line), missing fields, unknown class names.
    """
    if not os.path.isfile(path):
        raise AnnotationError(f"{where(path, None, image_id)}annotation XML not found (a partial download?)")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        line = e.position[0] if getattr(e, "position", None) else None
        raise AnnotationError(f"{where(path, line, image_id)}malformed XML ({e})") from None
    size = root.find("size")
    if size is None or size.find("width") is None or size.find("height") is None:
        raise AnnotationError(f"{where(path, None, image_id)}<size><width>/<height> missing")
    w = parse_int(size.find("width").text or "", path=path, line=None, name="<width>", image_id=image_id)
    h = parse_int(size.find("height").text or "", path=path, line=None, name="<height>", image_id=image_id)
    boxes = []
    for obj in root.iter("object"):
        name = (obj.findtext("name") or "").strip()
        if name not in VOC_CLASSES:
            raise AnnotationError(f"{where(path, None, image_id)}unknown class id {name!r}; VOC classes are "
                                  f"{', '.join(VOC_CLASSES)}")
        bb = obj.find("bndbox")
        if bb is None:
            continue
        vals = [parse_float(bb.findtext(t) or "", path=path, line=None, name=f"<{t}>", image_id=image_id)
                for t in ("xmin", "ymin", "xmax", "ymax")]
        boxes.append([max(v - 1.0, 0.0) if v >= 0 else v for v in vals])
    return (w, h), boxes


def read_split(root: str, split: str, problems: list | None = None) -> list[tuple[int, str]]:
    """``[(line, name)]`` of ``ImageSets/Segmentation/<split>.txt``."""
    path = os.path.join(root, "ImageSets", "Segmentation", f"{split}.txt")
    if not os.path.isfile(path):
        have = sorted(f[:-4] for f in os.listdir(os.path.dirname(path)) if f.endswith(".txt"))
        raise DatasetError(f"{path}: no such split; voc has splits {', '.join(have) or '(none)'}")
    rows = read_rows(path, fields=(1,), what="one image name per line (e.g. 2007_000032)", sep=None,
                     problems=problems)
    return [(line, name) for line, (name,) in rows]


def _mask_loader(path: str, labels: tuple[int, ...], image_id: str, rel: str) -> MaskSource:
    def load() -> GTMasks:
        idx = read_indices(path, image_id=image_id)
        instances = [(idx == c + 1).astype(np.uint8) for c in labels]
        return GTMasks(instances=instances, instance_labels=list(labels), ignore=(idx == VOID).astype(np.uint8))

    return MaskSource(load, f"{len(labels)} class mask(s) of {image_id}", instance_files=(rel,), files=(path,),
                      cache_tag=f"voc-class-png labels={list(labels)}")


def _record(root, name, line, split_path, facts, failures, problems) -> ImageRecord | None:
    image_id = check_image_id(f"JPEGImages/{name}.jpg", path=split_path, line=line)
    mask_rel = f"SegmentationClass/{name}.png"
    mask_path = os.path.join(root, mask_rel)
    if mask_rel in failures:
        report(failures[mask_rel], problems)
        return None
    mw, mh, present = facts[mask_rel]
    labels = _labels_of(present, mask_path, image_id)
    xml_path = os.path.join(root, "Annotations", f"{name}.xml")
    size, boxes = parse_voc_xml(xml_path, image_id=image_id)
    if size != (mw, mh):
        raise AnnotationError(f"{where(xml_path, None, image_id)}<size> {size[0]}x{size[1]} differs from the mask's "
                              f"{mw}x{mh} ({mask_path})")
    return ImageRecord(image_id=image_id, labels=labels, image_size=size,
                       boxes=checked_xml_boxes(boxes, size, xml_path=xml_path, image_id=image_id, problems=problems),
                       masks=_mask_loader(mask_path, labels, image_id, mask_rel))


@register_adapter("voc")
def load_voc(path: str, *, split: str | None = None, cache: bool = True, check_images: bool = True,
             problems: list | None = None) -> AnnotationSet:
    """Read PASCAL VOC 2012 segmentation.

    Args:
        path: ``VOCdevkit/VOC2012`` (or a folder above it).
        split: ``val`` (default, 1,449 images), ``train`` (1,464) or ``trainval``.
        cache: cache the classes present in each mask (see :func:`wsolbench.datasets.images.cache_dir`).
        check_images: check that every JPEG exists (folder listing; no image is opened).
        problems: collect problems here instead of raising (``wsolbench datasets check``).

    Returns:
        A multi-label :class:`AnnotationSet` with per-class masks (20 classes).
    """
    split = split or DEFAULT_SPLIT
    root = find_voc_root(path)
    rows = read_split(root, split, problems)
    split_path = os.path.join(root, "ImageSets", "Segmentation", f"{split}.txt")
    facts, failures = cached_file_facts(root, [f"SegmentationClass/{n}.png" for _, n in rows], _mask_facts,
                                        kind="voc-mask-classes", cache=cache)
    records = []
    for line, name in rows:
        try:
            record = _record(root, name, line, split_path, facts, failures, problems)
        except AnnotationError as e:
            report(e, problems)
            continue
        if record is not None:
            records.append(record)
    if check_images:
        for name in missing_files(root, [r.image_id for r in records]):
            report(ImageFileError(f"{os.path.join(root, name)}: image '{name}' (listed in {split_path}) not found",
                                  path=os.path.join(root, name), image_id=name), problems)
    return AnnotationSet(records=records, name="voc", split=split, num_classes=len(VOC_CLASSES),
                         class_names=VOC_CLASSES, root=root, source=split_path)
