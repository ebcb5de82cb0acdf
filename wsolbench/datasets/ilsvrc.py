"""Adapter for ILSVRC 2012 (ImageNet) validation (``ilsvrc:DIR``), in two layouts.

**Native** (split ``val``; ``test`` is accepted as its wsolevaluation name): the 50,000 images
of ``ILSVRC2012_img_val.tar`` and one Pascal-VOC-style XML per image from
``ILSVRC2012_bbox_val_v3.tgz``, with any number of boxes. Recognised layouts::

    DIR/val/ILSVRC2012_val_00000001.JPEG + DIR/val/ILSVRC2012_val_00000001.xml   (official tarballs)
    DIR/ILSVRC/Data/CLS-LOC/val/*.JPEG + DIR/ILSVRC/Annotations/CLS-LOC/val/*.xml (Kaggle)
    DIR/Data/CLS-LOC/val/*.JPEG + DIR/Annotations/CLS-LOC/val/*.xml

(``annotations=FOLDER`` and ``images=FOLDER`` override the search; ``images`` is the folder the
ids resolve against, i.e. the one that *contains* ``val/``.) The class list (index = line number,
first token = wnid) comes from ``LOC_synset_mapping.txt``, ``synset_words.txt``, ``synsets.txt`` or
``wnids.txt`` in ``DIR``, from the devkit's ``ILSVRC2012_devkit_t12/data/meta.mat`` (its 1,000
leaf wnids, sorted), or ``classes=FILE``; without one, the XMLs must name all 1,000 wnids and the
sorted wnids are used. Sorted wnids are the standard class indices (torchvision's ImageNet order).
Image ids are ``val/ILSVRC2012_val_XXXXXXXX.JPEG``, as in wsolevaluation's metadata; the image size
is the XML's ``<size>`` (no image is opened).

Box convention: ``x0, y0, x1, y1 = xmin, ymin, xmax, ymax`` as written in the XML, unchanged. This
is what wsolevaluation's ``metadata/ILSVRC/test/localization.txt`` holds: the XML of
``ILSVRC2012_val_00000001`` (500x375, ``<xmin>111</xmin><ymin>108</ymin><xmax>441</xmax>
<ymax>193</ymax>``) is the metadata line ``val/ILSVRC2012_val_00000001.JPEG,111,108,441,193``, and
full-width boxes there end at ``499`` / ``374`` for 500x375 images, i.e. the values are 0-based
inclusive pixel indices.

**wsolevaluation metadata** (splits ``test`` = the same 50,000 ILSVRC 2012 val images and ``val`` =
the 10,000 ImageNetV2 ``val2/`` images wsolevaluation annotated): used when ``metadata=FOLDER`` is
given (``metadata/ILSVRC`` or one split of it; ``DIR`` is then wsolevaluation's ``dataset/ILSVRC``
image folder), or when ``DIR`` itself is such a metadata folder.
"""

from __future__ import annotations

import glob
import os
import xml.etree.ElementTree as ET

from wsolbench.datasets.boxes import checked_xml_boxes
from wsolbench.datasets.images import ImageFileError, missing_files
from wsolbench.datasets.records import AnnotationSet, ImageRecord
from wsolbench.datasets.registry import register_adapter
from wsolbench.datasets.textfiles import parse_float, parse_int, read_rows, report
from wsolbench.errors import AnnotationError, DatasetError
from wsolbench.optional import import_optional

NUM_CLASSES = 1000
CLASS_FILES = ("LOC_synset_mapping.txt", "synset_words.txt", "synsets.txt", "wnids.txt")
DEVKIT_META = os.path.join("ILSVRC2012_devkit_t12", "data", "meta.mat")
NATIVE_SPLITS = ("val", "test")
METADATA_SPLITS = ("train", "val", "test")


# ------------------------------------------------------------------------------- layout detection


def _metadata_folder(path: str, split: str, metadata: str | None) -> str | None:
    """The wsolevaluation metadata folder to use, or ``None`` for the native layout."""
    candidates = [os.path.join(metadata, split), metadata] if metadata else [os.path.join(path, split), path]
    for folder in candidates:
        if os.path.isfile(os.path.join(folder, "image_ids.txt")):
            return folder
    if metadata:
        raise DatasetError(f"{metadata}: no image_ids.txt here nor in {os.path.join(metadata, split)}; metadata= "
                           "must be wsolevaluation's metadata/ILSVRC folder (or one split of it)")
    return None


def detect_layout(path: str, *, split: str | None = None, metadata: str | None = None, **_) -> str:
    """``"wsoleval"`` when ``ilsvrc:path`` reads wsolevaluation metadata, else ``"native"``."""
    return "wsoleval" if _metadata_folder(path, split or "test", metadata) else "native"


def _xml_folder(path: str, annotations: str | None) -> str:
    if annotations:
        if not os.path.isdir(annotations):
            raise DatasetError(f"{annotations}: annotations= must be the folder of the validation XML files")
        return annotations
    for folder in (os.path.join(path, "val"), os.path.join(path, "ILSVRC", "Annotations", "CLS-LOC", "val"),
                   os.path.join(path, "Annotations", "CLS-LOC", "val")):
        if glob.glob(os.path.join(glob.escape(folder), "*.xml")):
            return folder
    raise DatasetError(f"{path}: no ILSVRC validation XML files in val/, ILSVRC/Annotations/CLS-LOC/val/ or "
                       "Annotations/CLS-LOC/val/; extract ILSVRC2012_bbox_val_v3.tgz there or pass "
                       "annotations=FOLDER (or use wsolevaluation's metadata with metadata=FOLDER)")


def _image_root(path: str, images: str | None) -> str:
    """The folder holding ``val/`` with the JPEGs (the ids are ``val/<file>``)."""
    if images:
        return images
    for root in (path, os.path.join(path, "ILSVRC", "Data", "CLS-LOC"), os.path.join(path, "Data", "CLS-LOC")):
        if glob.glob(os.path.join(glob.escape(os.path.join(root, "val")), "*.JPEG")):
            return root
    return path


# ---------------------------------------------------------------------------------------- classes


def _wnids_from_file(path: str) -> tuple[list[str], list[str]]:
    """``(wnids, names)``: first token of each line, and the first name after it (or the wnid)."""
    wnids, names = [], []
    for _, parts in read_rows(path, fields=None, what="'<wnid> <names>' per line", sep=None):
        wnids.append(parts[0])
        names.append(" ".join(parts[1:]).split(",")[0].strip() or parts[0])
    return wnids, names


def _wnids_from_devkit(path: str) -> list[str]:
    loadmat = import_optional("scipy.io", feature=f"{path}: reading the devkit's meta.mat", extra="ilsvrc",
                              alternative="or put LOC_synset_mapping.txt in the folder, or pass classes=FILE").loadmat
    try:
        synsets = loadmat(path, squeeze_me=True)["synsets"]
    except (OSError, ValueError, KeyError, NotImplementedError) as e:
        raise AnnotationError(f"{path}: cannot read the devkit's synsets ({e}); pass classes=FILE instead") from e
    leaves = sorted((str(s["WNID"]), str(s["words"]).split(",")[0]) for s in synsets if int(s["num_children"]) == 0)
    return [w for w, _ in leaves], [n for _, n in leaves]


def read_class_list(path: str, classes: str | None, xml_wnids: set[str]) -> tuple[list[str], list[str], str]:
    """``(wnids indexed by class index, class names, where they came from)``.

    Raises:
        AnnotationError: no class list and the XMLs do not name all 1,000 classes.
    """
    if classes:
        return (*_wnids_from_file(classes), classes)
    for name in CLASS_FILES:
        if os.path.isfile(os.path.join(path, name)):
            return (*_wnids_from_file(os.path.join(path, name)), os.path.join(path, name))
    if os.path.isfile(os.path.join(path, DEVKIT_META)):
        return (*_wnids_from_devkit(os.path.join(path, DEVKIT_META)), os.path.join(path, DEVKIT_META))
    if len(xml_wnids) == NUM_CLASSES:
        return sorted(xml_wnids), sorted(xml_wnids), "the sorted wnids of the XML files"
    raise AnnotationError(f"{path}: no class list ({', '.join(CLASS_FILES)} or {DEVKIT_META}) and the XML files "
                          f"name {len(xml_wnids)} of the 1,000 classes, so class indices are unknown; add "
                          "LOC_synset_mapping.txt (1,000 lines '<wnid> <names>', sorted) or pass classes=FILE")


# ------------------------------------------------------------------------------------------- XML


def _text(node, tag: str, path: str) -> str:
    found = node.find(tag)
    if found is None or found.text is None or not found.text.strip():
        raise AnnotationError(f"{path}: <{tag}> is missing; expected an ILSVRC/Pascal VOC annotation XML")
    return found.text.strip()


def parse_ilsvrc_xml(path: str) -> tuple[tuple[int, int], list[str], list[list[float]]]:
    """``((width, height), wnids of the objects, boxes x0,y0,x1,y1)`` of one annotation XML.

    Raises:
        AnnotationError: malformed XML (with its line), missing fields, non-numeric values.
    """
    try:
        tree = ET.parse(path)
    except ET.ParseError as e:
        line = e.position[0] if getattr(e, "position", None) else None
        raise AnnotationError(f"{path}:{line}: malformed XML ({e}); download the annotation again") from None
    except OSError as e:
        raise AnnotationError(f"{path}: cannot read ({e})") from None
    root = tree.getroot()
    w = parse_int(_text(root, "size/width", path), path=path, line=None, name="<width>")
    h = parse_int(_text(root, "size/height", path), path=path, line=None, name="<height>")
    if w <= 0 or h <= 0:
        raise AnnotationError(f"{path}: image size {w}x{h} is not positive")
    wnids, boxes = [], []
    for obj in root.iter("object"):
        wnids.append(_text(obj, "name", path))
        boxes.append([parse_float(_text(obj, f"bndbox/{t}", path), path=path, line=None, name=f"<{t}>")
                      for t in ("xmin", "ymin", "xmax", "ymax")])
    return (w, h), wnids, boxes


def _parse_all(xml_dir: str, problems):
    parsed = {}
    for xml in sorted(glob.glob(os.path.join(glob.escape(xml_dir), "*.xml"))):
        try:
            parsed[xml] = parse_ilsvrc_xml(xml)
        except AnnotationError as e:
            report(e, problems)
    if not parsed and problems is None:
        raise AnnotationError(f"{xml_dir}: no readable annotation XML")
    return parsed


def _record(xml, parsed, index, problems) -> ImageRecord | None:
    size, wnids, boxes = parsed
    stem = os.path.splitext(os.path.basename(xml))[0]
    image_id = f"val/{stem}.JPEG"
    unknown = sorted({w for w in wnids if w not in index})
    if unknown:
        report(AnnotationError(f"{xml}: image '{image_id}': unknown class id {unknown[0]!r}: not in the class list"),
               problems)
        return None
    classes = sorted({index[w] for w in wnids})
    if len(classes) != 1:
        report(AnnotationError(f"{xml}: image '{image_id}': expected the objects of one class (ILSVRC val images "
                               f"have one label), found {len(classes)} ({', '.join(sorted(set(wnids)))})"), problems)
        return None
    return ImageRecord(image_id=image_id, labels=(classes[0],), image_size=size,
                       boxes=checked_xml_boxes(boxes, size, xml_path=xml, image_id=image_id, problems=problems))


def _load_native(path, *, split, annotations, images, classes, check_images, problems) -> AnnotationSet:
    xml_dir = _xml_folder(path, annotations)
    parsed = _parse_all(xml_dir, problems)
    wnids, names, class_source = read_class_list(path, classes, {w for _, ws, _ in parsed.values() for w in ws})
    if len(set(wnids)) != len(wnids):
        raise AnnotationError(f"{class_source}: a wnid is listed twice; the class list must name each class once")
    index = {w: k for k, w in enumerate(wnids)}
    records = [r for xml, p in parsed.items() if (r := _record(xml, p, index, problems)) is not None]
    root = _image_root(path, images)
    if check_images:
        for name in missing_files(root, [r.image_id for r in records]):
            report(ImageFileError(f"{os.path.join(root, name)}: image '{name}' has an annotation XML but no image "
                                  "file; extract ILSVRC2012_img_val.tar there or pass images=FOLDER",
                                  path=os.path.join(root, name), image_id=name), problems)
    return AnnotationSet(records=records, name="ilsvrc", split=split, num_classes=len(wnids), class_names=names,
                         root=root, source=f"{xml_dir} (classes: {class_source})")


def _load_metadata(folder, *, path, split, images, check_images, problems) -> AnnotationSet:
    from wsolbench.datasets.wsoleval import load_wsoleval

    data = load_wsoleval(folder, problems=problems)
    records = []
    for r in data.records:
        if r.label >= NUM_CLASSES:
            report(AnnotationError(f"{os.path.join(folder, 'class_labels.txt')}: image '{r.image_id}': unknown "
                                   f"class index {r.label}; ILSVRC has classes 0..{NUM_CLASSES - 1}"), problems)
            continue
        records.append(r)
    is_metadata_dir = os.path.normpath(folder) in (os.path.normpath(path), os.path.normpath(os.path.join(path, split)))
    root = images or (None if is_metadata_dir else path)
    if check_images and root:
        for name in missing_files(root, [r.image_id for r in records]):
            report(ImageFileError(f"{os.path.join(root, name)}: image '{name}' (listed in {folder}) not found",
                                  path=os.path.join(root, name), image_id=name), problems)
    return AnnotationSet(records=records, name="ilsvrc", split=split, num_classes=NUM_CLASSES, root=root,
                         source=folder)


@register_adapter("ilsvrc")
def load_ilsvrc(path: str, *, split: str | None = None, metadata: str | None = None,
                annotations: str | None = None, images: str | None = None, classes: str | None = None,
                check_images: bool = True, problems: list | None = None) -> AnnotationSet:
    """Read ILSVRC 2012 validation: native XML boxes, or wsolevaluation's metadata.

    Args:
        path: the dataset folder (see the module docstring), or a wsolevaluation metadata folder.
        split: native: ``val`` (default; ``test`` is the same set under wsolevaluation's name).
            Metadata: ``test`` (default; ILSVRC 2012 val) or ``val`` (ImageNetV2 ``val2/``).
        metadata: wsolevaluation's ``metadata/ILSVRC`` (or one split of it); ``path`` is then the images' root.
        annotations: native: the folder of the XML files.
        images: the folder the ids resolve against (holding ``val/``).
        classes: native: a class-list file (first token of each line = wnid, in class-index order).
        check_images: check that every image file exists (folder listings; no image is opened).
        problems: collect problems here instead of raising (``wsolbench datasets check``).
    """
    folder = _metadata_folder(path, split or "test", metadata)
    if folder is not None:
        split = split or "test"
        if split not in METADATA_SPLITS:
            raise DatasetError(f"ilsvrc (wsolevaluation metadata) has splits {', '.join(METADATA_SPLITS)}; "
                               f"got {split!r}")
        return _load_metadata(folder, path=path, split=split, images=images, check_images=check_images,
                              problems=problems)
    split = split or "val"
    if split not in NATIVE_SPLITS:
        raise DatasetError(f"ilsvrc (native XML) has the validation split only ('val', or wsolevaluation's name "
                           f"'test'); got {split!r}")
    if not os.path.isdir(path):
        raise DatasetError(f"{path}: not a folder; ilsvrc:DIR needs the ILSVRC 2012 validation images and XMLs")
    return _load_native(path, split=split, annotations=annotations, images=images, classes=classes,
                        check_images=check_images, problems=problems)
