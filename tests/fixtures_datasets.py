"""Fixture generators: each writes a tiny dataset in the exact on-disk layout of the real release
(file names, separators, 1-based ids, float boxes, palette PNGs) and returns what it wrote, so tests
can compare the adapters' output with the truth.

Images are small solid-colour pictures with a lighter rectangle where the object box is, so that
``wsolbench datasets show`` renders something one can check by eye.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

# PASCAL VOC's colour map (the standard bit-interleaving palette).


def voc_palette() -> list[int]:
    """The 256-entry VOC palette as a flat [r, g, b, ...] list."""
    pal = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal += [r, g, b]
    return pal


def write_jpeg(path: Path, size_wh, box=None, *, seed: int = 0, mode: str = "RGB") -> Path:
    """A small JPEG of ``size_wh`` with a lighter rectangle over ``box`` (x0, y0, x1, y1)."""
    rng = np.random.default_rng(seed)
    colour = tuple(int(v) for v in rng.integers(30, 120, 3))
    im = Image.new("RGB", tuple(size_wh), colour)
    if box is not None:
        ImageDraw.Draw(im).rectangle([int(v) for v in box], fill=tuple(min(255, c + 110) for c in colour))
    path.parent.mkdir(parents=True, exist_ok=True)
    im.convert(mode).save(path, "JPEG", quality=60)
    return path


def _fmt(v: float) -> str:
    return f"{float(v):.1f}"


# ----------------------------------------------------------------------------------------- CUB


@dataclass
class CubFixture:
    """A CUB_200_2011 folder; ``ids[k]`` is CUB image id k+1; boxes are CUB x, y, w, h."""

    root: Path
    class_names: list[str]
    ids: list[str]
    labels: list[int]
    is_train: list[bool]
    sizes: list[tuple[int, int]]
    xywh: list[tuple[float, float, float, float]]

    def split_ids(self, split: str) -> list[str]:
        return [i for i, t in zip(self.ids, self.is_train) if t == (split == "train")]

    def line_of(self, image_id: str) -> int:
        """The line (1-based) of an image in every CUB index file."""
        return self.ids.index(image_id) + 1

    def path(self, image_id: str) -> Path:
        return self.root / "images" / image_id


def make_cub(tmp: Path, *, n_classes: int = 3, per_class: int = 4, seed: int = 0) -> CubFixture:
    """Write ``tmp/CUB_200_2011`` with ``n_classes * per_class`` images (every other one train)."""
    rng = np.random.default_rng(seed)
    root = tmp / "CUB_200_2011"
    names = [f"{c + 1:03d}.Bird_{chr(65 + c)}" for c in range(n_classes)]
    ids, labels, is_train, sizes, xywh = [], [], [], [], []
    for c, cname in enumerate(names):
        for k in range(per_class):
            image_id = f"{cname}/Bird_{chr(65 + c)}_{k:04d}_{int(rng.integers(10, 999))}.jpg"
            w, h = int(rng.integers(60, 140)), int(rng.integers(50, 120))
            x, y = float(rng.integers(0, w // 3)), float(rng.integers(0, h // 3)) + 0.5 * (k % 2)
            bw, bh = float(rng.integers(10, w - x - 1)), float(rng.integers(10, int(h - y) - 1))
            ids.append(image_id), labels.append(c), is_train.append(k % 2 == 0)
            sizes.append((w, h)), xywh.append((x, y, bw, bh))
            write_jpeg(root / "images" / image_id, (w, h), (x, y, x + bw, y + bh), seed=len(ids))
    (root / "classes.txt").write_text("".join(f"{c + 1} {n}\n" for c, n in enumerate(names)))
    (root / "images.txt").write_text("".join(f"{k + 1} {i}\n" for k, i in enumerate(ids)))
    (root / "image_class_labels.txt").write_text("".join(f"{k + 1} {c + 1}\n" for k, c in enumerate(labels)))
    (root / "train_test_split.txt").write_text("".join(f"{k + 1} {int(t)}\n" for k, t in enumerate(is_train)))
    (root / "bounding_boxes.txt").write_text(
        "".join(f"{k + 1} {' '.join(_fmt(v) for v in b)}\n" for k, b in enumerate(xywh)))
    return CubFixture(root, names, ids, labels, is_train, sizes, xywh)


def write_wsoleval_metadata(folder: Path, ids, labels, sizes, boxes) -> Path:
    """A wsolevaluation metadata folder (``boxes[i]``: list of x0, y0, x1, y1)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "image_ids.txt").write_text("".join(f"{i}\n" for i in ids))
    (folder / "class_labels.txt").write_text("".join(f"{i},{c}\n" for i, c in zip(ids, labels)))
    (folder / "image_sizes.txt").write_text("".join(f"{i},{w},{h}\n" for i, (w, h) in zip(ids, sizes)))
    (folder / "localization.txt").write_text(
        "".join(f"{i},{','.join(f'{v:g}' for v in b)}\n" for i, bs in zip(ids, boxes) for b in bs))
    return folder


def cub_as_wsoleval(fx: CubFixture, folder: Path, split: str) -> Path:
    """The wsolevaluation metadata of one split of a CUB fixture (x1 = x + w, y1 = y + h)."""
    keep = [k for k, i in enumerate(fx.ids) if i in set(fx.split_ids(split))]
    boxes = [[(fx.xywh[k][0], fx.xywh[k][1], fx.xywh[k][0] + fx.xywh[k][2], fx.xywh[k][1] + fx.xywh[k][3])]
             for k in keep]
    return write_wsoleval_metadata(folder, [fx.ids[k] for k in keep], [fx.labels[k] for k in keep],
                                   [fx.sizes[k] for k in keep], boxes)


# ------------------------------------------------------------------------------- Tiny ImageNet


@dataclass
class TinyFixture:
    root: Path
    wnids: list[str]                        # in wnids.txt order
    train: dict[str, tuple[str, list[int]]] = field(default_factory=dict)   # image id -> (wnid, box)
    val: dict[str, tuple[str, list[int]]] = field(default_factory=dict)


def make_tinyimagenet(tmp: Path, *, n_classes: int = 3, train_per_class: int = 3, n_val: int = 6,
                      seed: int = 0) -> TinyFixture:
    """Write ``tmp/tiny-imagenet-200`` (wnids.txt deliberately not sorted, as in the release)."""
    rng = np.random.default_rng(seed)
    root = tmp / "tiny-imagenet-200"
    wnids = [f"n0{int(v):07d}" for v in rng.choice(9_999_999, n_classes, replace=False)]
    wnids = sorted(wnids)[::-1]
    fx = TinyFixture(root, wnids)
    root.mkdir(parents=True)
    (root / "wnids.txt").write_text("".join(f"{w}\n" for w in wnids))
    extra = "n00001740\tentity\n"
    (root / "words.txt").write_text(extra + "".join(f"{w}\tthing {k}, object {k}\n" for k, w in enumerate(wnids)))

    def box():
        x0, y0 = (int(v) for v in rng.integers(0, 30, 2))
        return [x0, y0, int(rng.integers(x0 + 8, 64)), int(rng.integers(y0 + 8, 64))]

    for w in wnids:
        lines = []
        for k in range(train_per_class):
            b, name = box(), f"{w}_{k}.JPEG"
            write_jpeg(root / "train" / w / "images" / name, (64, 64), b, seed=k)
            lines.append("\t".join([name] + [str(v) for v in b]))
            fx.train[f"train/{w}/images/{name}"] = (w, b)
        (root / "train" / w / f"{w}_boxes.txt").write_text("\n".join(lines) + "\n")
    lines = []
    for k in range(n_val):
        w, b, name = wnids[k % n_classes], box(), f"val_{k}.JPEG"
        write_jpeg(root / "val" / "images" / name, (64, 64), b, seed=100 + k)
        lines.append("\t".join([name, w] + [str(v) for v in b]))
        fx.val[f"val/images/{name}"] = (w, b)
    (root / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    write_jpeg(root / "test" / "images" / "test_0.JPEG", (64, 64), seed=7)
    return fx


# ---------------------------------------------------------------------------------- OpenImages


@dataclass
class OpenImagesFixture:
    root: Path          # dataset/OpenImages (images and masks, as wsolevaluation's script leaves them)
    metadata: Path      # metadata/OpenImages (with <split>/ sub-folders)
    ids: list[str]
    labels: list[int]
    masks: dict[str, list[np.ndarray]]      # image id -> instance masks (0/255)
    ignore: dict[str, np.ndarray]


def make_openimages(tmp: Path, *, split: str = "test", n_images: int = 4, seed: int = 0) -> OpenImagesFixture:
    """Write wsolevaluation's OpenImages layout under ``tmp/dataset`` and ``tmp/metadata``."""
    rng = np.random.default_rng(seed)
    root, meta = tmp / "dataset" / "OpenImages", tmp / "metadata" / "OpenImages"
    classes = ["01226z", "0bt_c3"]
    fx = OpenImagesFixture(root, meta, [], [], {}, {})
    loc = []
    for k in range(n_images):
        c = k % len(classes)
        stem = f"{int(rng.integers(16 ** 15)):016x}"
        image_id = f"{split}/{classes[c]}/{stem}.jpg"
        w, h = int(rng.integers(50, 90)), int(rng.integers(40, 80))
        write_jpeg(root / image_id, (w, h), seed=k)
        insts = []
        for m in range(1 + k % 2):
            arr = np.zeros((h, w), np.uint8)
            x0, y0 = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
            arr[y0:y0 + h // 3, x0:x0 + w // 3] = 255
            name = f"{split}/{classes[c]}/{stem}_m{classes[c]}_{int(rng.integers(16 ** 8)):08x}.png"
            Image.fromarray(arr).save(root / name)
            insts.append(arr)
            ign = ""
            if m == 0:
                ign = f"{split}/{classes[c]}/{stem}_ignore.png"
                ignore = np.zeros((h, w), np.uint8)
                ignore[-h // 4:, -w // 4:] = 255
                Image.fromarray(ignore).save(root / ign)
                fx.ignore[image_id] = ignore
            loc.append(f"{image_id},{name},{ign}\n")
        fx.ids.append(image_id), fx.labels.append(c * 40)
        fx.masks[image_id] = insts
    folder = meta / split
    folder.mkdir(parents=True)
    (folder / "image_ids.txt").write_text("".join(f"{i}\n" for i in fx.ids))
    (folder / "class_labels.txt").write_text("".join(f"{i},{c}\n" for i, c in zip(fx.ids, fx.labels)))
    (folder / "image_sizes.txt").write_text("")
    (folder / "localization.txt").write_text("".join(loc))
    return fx


# --------------------------------------------------------------------------------------- ILSVRC


ILSVRC_XML = """<annotation>
\t<folder>val</folder>
\t<filename>{stem}</filename>
\t<source>
\t\t<database>ILSVRC_2012</database>
\t</source>
\t<size>
\t\t<width>{w}</width>
\t\t<height>{h}</height>
\t\t<depth>3</depth>
\t</size>
\t<segmented>0</segmented>
{objects}</annotation>
"""

ILSVRC_OBJECT = """\t<object>
\t\t<name>{wnid}</name>
\t\t<pose>Unspecified</pose>
\t\t<truncated>0</truncated>
\t\t<difficult>0</difficult>
\t\t<bndbox>
\t\t\t<xmin>{b[0]}</xmin>
\t\t\t<ymin>{b[1]}</ymin>
\t\t\t<xmax>{b[2]}</xmax>
\t\t\t<ymax>{b[3]}</ymax>
\t\t</bndbox>
\t</object>
"""


def ilsvrc_xml(stem: str, size_wh, wnid: str, boxes) -> str:
    objects = "".join(ILSVRC_OBJECT.format(wnid=wnid, b=b) for b in boxes)
    return ILSVRC_XML.format(stem=stem, w=size_wh[0], h=size_wh[1], objects=objects)


@dataclass
class IlsvrcFixture:
    root: Path
    wnids: list[str]                 # sorted: class index = position
    ids: list[str]                   # "val/ILSVRC2012_val_XXXXXXXX.JPEG"
    labels: list[int]
    sizes: list[tuple[int, int]]
    boxes: list[list[list[int]]]
    xml_dir: Path
    image_dir: Path


def make_ilsvrc(tmp: Path, *, layout: str = "official", n_images: int = 5, n_classes: int = 4,
                seed: int = 0) -> IlsvrcFixture:
    """ILSVRC 2012 val: ``official`` = ``val/`` with the JPEGs and the XMLs of
    ILSVRC2012_bbox_val_v3.tgz side by side plus ``synset_words.txt``; ``kaggle`` =
    ``ILSVRC/Data/CLS-LOC/val``, ``ILSVRC/Annotations/CLS-LOC/val`` and ``LOC_synset_mapping.txt``.
    Image 1 is the real ILSVRC2012_val_00000001 annotation (n01751748, 500x375, 111,108,441,193)."""
    rng = np.random.default_rng(seed)
    root = tmp / f"ilsvrc-{layout}"
    wnids = sorted({"n01751748"} | {f"n0{int(v):07d}" for v in rng.choice(9_999_999, n_classes - 1, replace=False)})
    if layout == "official":
        image_dir = xml_dir = root / "val"
        (root / "synset_words.txt").parent.mkdir(parents=True, exist_ok=True)
        (root / "synset_words.txt").write_text("".join(f"{w} thing {k}\n" for k, w in enumerate(wnids)))
    else:
        image_dir, xml_dir = root / "ILSVRC" / "Data" / "CLS-LOC" / "val", root / "ILSVRC" / "Annotations" / "CLS-LOC" / "val"
        root.mkdir(parents=True)
        (root / "LOC_synset_mapping.txt").write_text("".join(f"{w} thing {k}, item\n" for k, w in enumerate(wnids)))
    xml_dir.mkdir(parents=True, exist_ok=True)
    fx = IlsvrcFixture(root, wnids, [], [], [], [], xml_dir, image_dir)
    for k in range(n_images):
        stem = f"ILSVRC2012_val_{k + 1:08d}"
        if k == 0:
            wnid, size, boxes = "n01751748", (500, 375), [[111, 108, 441, 193]]
        else:
            wnid = wnids[int(rng.integers(n_classes))]
            size = (int(rng.integers(60, 120)), int(rng.integers(50, 100)))
            boxes = [[int(rng.integers(0, 20)), int(rng.integers(0, 20)), int(rng.integers(25, size[0])),
                      int(rng.integers(25, size[1]))] for _ in range(1 + k % 3)]
        (xml_dir / f"{stem}.xml").write_text(ilsvrc_xml(stem, size, wnid, boxes))
        write_jpeg(image_dir / f"{stem}.JPEG", size, boxes[0], seed=k)
        fx.ids.append(f"val/{stem}.JPEG"), fx.labels.append(wnids.index(wnid))
        fx.sizes.append(size), fx.boxes.append(boxes)
    return fx


# ------------------------------------------------------------------------------------------ VOC

VOC_CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
               "tvmonitor")

VOC_XML = """<annotation>
\t<folder>VOC2012</folder>
\t<filename>{name}.jpg</filename>
\t<source>
\t\t<database>The VOC2007 Database</database>
\t\t<annotation>PASCAL VOC2007</annotation>
\t\t<image>flickr</image>
\t</source>
\t<size>
\t\t<width>{w}</width>
\t\t<height>{h}</height>
\t\t<depth>3</depth>
\t</size>
\t<segmented>1</segmented>
{objects}</annotation>
"""

VOC_OBJECT = """\t<object>
\t\t<name>{cls}</name>
\t\t<pose>Unspecified</pose>
\t\t<truncated>0</truncated>
\t\t<difficult>0</difficult>
\t\t<bndbox>
\t\t\t<xmin>{b[0]}</xmin>
\t\t\t<ymin>{b[1]}</ymin>
\t\t\t<xmax>{b[2]}</xmax>
\t\t\t<ymax>{b[3]}</ymax>
\t\t</bndbox>
\t</object>
"""


@dataclass
class VocFixture:
    root: Path                                   # VOCdevkit/VOC2012
    splits: dict[str, list[str]]                 # split -> names (no extension)
    labels: dict[str, tuple[int, ...]]           # name -> sorted class indices (0-based)
    masks: dict[str, np.ndarray]                 # name -> palette indices (h, w)
    boxes: dict[str, list[list[int]]]            # name -> 1-based VOC boxes as written in the XML
    sizes: dict[str, tuple[int, int]]


def make_voc(tmp: Path, *, n_train: int = 3, n_val: int = 3, seed: int = 0) -> VocFixture:
    """Write ``tmp/VOCdevkit/VOC2012`` with palette PNG masks (255 = void borders) and XML boxes."""
    rng = np.random.default_rng(seed)
    root = tmp / "VOCdevkit" / "VOC2012"
    for sub in ("JPEGImages", "Annotations", "SegmentationClass", "ImageSets/Segmentation"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    fx = VocFixture(root, {"train": [], "val": []}, {}, {}, {}, {})
    palette = voc_palette()
    for k in range(n_train + n_val):
        name = f"2007_{k + 1:06d}"
        split = "train" if k < n_train else "val"
        w, h = int(rng.integers(70, 130)), int(rng.integers(60, 110))
        mask = np.zeros((h, w), np.uint8)
        classes = sorted({int(c) for c in rng.choice(20, 1 + k % 3, replace=False)})
        boxes, objects = [], []
        for j, c in enumerate(classes):
            x0, y0 = int(rng.integers(2, w // 2)), int(rng.integers(2, h // 2))
            x1, y1 = min(w - 3, x0 + int(rng.integers(8, w // 2))), min(h - 3, y0 + int(rng.integers(8, h // 2)))
            mask[y0 - 1:y1 + 2, x0 - 1:x1 + 2] = 255         # void border
            mask[y0:y1 + 1, x0:x1 + 1] = c + 1
            box = [x0 + 1, y0 + 1, x1 + 1, y1 + 1]          # VOC XML: 1-based pixel indices
            boxes.append(box), objects.append(VOC_OBJECT.format(cls=VOC_CLASSES[c], b=box))
        present = sorted({int(v) - 1 for v in np.unique(mask) if 1 <= v <= 20})
        png = Image.fromarray(mask, mode="P")
        png.putpalette(palette)
        png.save(root / "SegmentationClass" / f"{name}.png")
        (root / "Annotations" / f"{name}.xml").write_text(VOC_XML.format(name=name, w=w, h=h, objects="".join(objects)))
        write_jpeg(root / "JPEGImages" / f"{name}.jpg", (w, h), seed=k)
        fx.splits[split].append(name)
        fx.labels[name], fx.masks[name], fx.boxes[name], fx.sizes[name] = tuple(present), mask, boxes, (w, h)
    for split, names in fx.splits.items():
        (root / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("".join(f"{n}\n" for n in names))
    (root / "ImageSets" / "Segmentation" / "trainval.txt").write_text(
        "".join(f"{n}\n" for n in fx.splits["train"] + fx.splits["val"]))
    return fx
