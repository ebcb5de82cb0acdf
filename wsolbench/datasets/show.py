"""A PNG grid of dataset samples with their ground truth drawn (Pillow only).

Each tile shows one image, letterboxed into a square: GT boxes as outlined rectangles, instance or
class masks as translucent colours (one colour per class), ignore pixels whitened, and a caption
with the image id and its class name(s). Used by ``wsolbench datasets show`` to eyeball that an
adapter reads a dataset the right way round (boxes on the objects, masks aligned).

Example:
    >>> from wsolbench.datasets import load_annotations                           # doctest: +SKIP
    >>> render_samples(load_annotations("cub:/data/CUB_200_2011"), "grid.png")     # doctest: +SKIP
    PosixPath('grid.png')
"""

from __future__ import annotations

import os
import pathlib

import numpy as np

from wsolbench.atomic import atomic_path
from wsolbench.datasets.records import AnnotationSet, ImageRecord
from wsolbench.errors import DatasetError, WsolbenchError

# 20 well-separated colours (class index modulo 20).
COLOURS = ((230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
           (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (220, 190, 255),
           (170, 110, 40), (255, 250, 200), (128, 0, 0), (170, 255, 195), (128, 128, 0), (255, 215, 180),
           (0, 0, 128), (128, 128, 128))
BOX_COLOUR = (0, 255, 0)
BACKGROUND = (24, 24, 28)
CAPTION_H = 30
HEADER_H = 26
MASK_ALPHA = 0.5


def pick_records(annotations: AnnotationSet, n: int, *, seed: int | None = None) -> list[ImageRecord]:
    """``n`` records: evenly spread over the split (records are usually grouped by class, so this
    shows many classes), or a random sample with ``seed``."""
    total = len(annotations)
    n = min(n, total)
    if n <= 0:
        return []
    if seed is None:
        idx = np.unique(np.linspace(0, total - 1, n).round().astype(int))
    else:
        idx = np.sort(np.random.default_rng(seed).choice(total, n, replace=False))
    return [annotations.records[i] for i in idx]


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _load_image(annotations: AnnotationSet, record: ImageRecord, masks):
    """The record's image as RGB, or a grey placeholder of its size (and a note) when unavailable."""
    from PIL import Image

    if annotations.root is not None:
        path = os.path.join(annotations.root, record.image_id)
        try:
            with Image.open(path) as im:
                return im.convert("RGB"), ""
        except (OSError, ValueError, SyntaxError):
            note = "image file missing"
    else:
        note = "no image folder"
    size = record.image_size
    if size is None and masks is not None and masks.instances:
        h, w = np.asarray(masks.instances[0]).shape
        size = (w, h)
    return Image.new("RGB", tuple(size or (256, 256)), (90, 90, 96)), note


def _overlay_masks(rgb: np.ndarray, masks, labels) -> np.ndarray:
    """Blend each instance mask in its class colour and whiten the ignore pixels; (H, W, 3) uint8."""
    out = rgb.astype(np.float32)
    h, w = out.shape[:2]
    inst_labels = list(masks.instance_labels) + [None] * (len(masks.instances) - len(masks.instance_labels))
    for k, (inst, lab) in enumerate(zip(masks.instances, inst_labels)):
        m = np.asarray(inst)
        if m.shape != (h, w):
            continue
        colour = np.array(COLOURS[(lab if lab is not None else labels[0] + k) % len(COLOURS)], np.float32)
        sel = m > 0.5
        out[sel] = (1 - MASK_ALPHA) * out[sel] + MASK_ALPHA * colour
    if masks.ignore is not None and np.asarray(masks.ignore).shape == (h, w):
        sel = np.asarray(masks.ignore) > 0.5
        out[sel] = 0.45 * out[sel] + 0.55 * 255
    return out.clip(0, 255).astype(np.uint8)


def _class_text(annotations: AnnotationSet, record: ImageRecord) -> str:
    names = annotations.class_names
    parts = [str(names[c]) if names is not None and 0 <= c < len(names) else str(c) for c in record.labels]
    return ", ".join(parts)


def _fit(text: str, draw, font, width: int) -> str:
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength("…" + text, font=font) > width:
        text = text[1:]
    return "…" + text


def draw_tile(annotations: AnnotationSet, record: ImageRecord, *, tile: int = 192):
    """One tile (``tile`` x ``tile + 30`` pixels) of a record with its ground truth drawn."""
    from PIL import Image, ImageDraw

    masks, note = None, ""
    if record.masks is not None:
        try:
            masks = record.masks.load()
        except WsolbenchError:
            note = "masks unreadable"
    image, image_note = _load_image(annotations, record, masks)
    note = note or image_note
    if masks is not None:
        image = Image.fromarray(_overlay_masks(np.asarray(image), masks, record.labels or (0,)))
    w, h = image.size
    scale = min(tile / w, tile / h)
    shown = image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BILINEAR)
    canvas = Image.new("RGB", (tile, tile + CAPTION_H), BACKGROUND)
    ox, oy = (tile - shown.width) // 2, (tile - shown.height) // 2
    canvas.paste(shown, (ox, oy))
    draw = ImageDraw.Draw(canvas)
    for x0, y0, x1, y1 in np.asarray(record.boxes, np.float64).reshape(-1, 4):
        rect = [ox + x0 * scale, oy + y0 * scale, ox + (x1 + 1) * scale - 1, oy + (y1 + 1) * scale - 1]
        draw.rectangle([rect[0] - 1, rect[1] - 1, rect[2] + 1, rect[3] + 1], outline=(0, 0, 0), width=1)
        draw.rectangle(rect, outline=BOX_COLOUR, width=2)
    font = _font(11)
    if note:
        draw.text((ox + 4, oy + 4), note, fill=(255, 80, 80), font=font)
    draw.text((3, tile + 2), _fit(record.image_id, draw, font, tile - 6), fill=(235, 235, 235), font=font)
    draw.text((3, tile + 15), _fit(_class_text(annotations, record), draw, font, tile - 6), fill=(170, 200, 255),
              font=font)
    return canvas


def _save_png(image, out_path: pathlib.Path) -> pathlib.Path:
    with atomic_path(out_path) as tmp:
        image.save(tmp, format="PNG")
    return out_path


def render_samples(annotations: AnnotationSet, out_path, *, n: int = 16, ncols: int = 4, tile: int = 192,
                   seed: int | None = None) -> pathlib.Path:
    """Draw ``n`` samples of a dataset split with their GT into a PNG grid.

    Args:
        annotations: the split (images are read from ``annotations.root`` when it is set).
        out_path: the PNG to write (atomically).
        n: number of samples.
        ncols: tiles per row.
        tile: tile side in pixels.
        seed: random sample with this seed (default: evenly spread over the split).

    Returns:
        The path written.

    Raises:
        DatasetError: an empty split, a 1-D (time-series) dataset, or bad grid sizes.
    """
    from PIL import Image, ImageDraw

    if annotations.ndim != 2:
        raise DatasetError(f"{annotations.name}: show draws 2-D images; this dataset has {annotations.ndim}-D signals")
    if n < 1 or ncols < 1 or tile < 32:
        raise DatasetError(f"show needs n >= 1, ncols >= 1 and tile >= 32; got n={n}, ncols={ncols}, tile={tile}")
    records = pick_records(annotations, n, seed=seed)
    if not records:
        raise DatasetError(f"{annotations.name} {annotations.split}: no images to show")
    cols = min(ncols, len(records))
    rows = -(-len(records) // cols)
    th = tile + CAPTION_H
    grid = Image.new("RGB", (cols * tile + (cols + 1) * 4, HEADER_H + rows * th + (rows + 1) * 4), (0, 0, 0))
    title = (f"{annotations.name} {annotations.split}: {len(records)} of {len(annotations):,} images  |  "
             "boxes green, masks coloured by class, ignore whitened")
    header = ImageDraw.Draw(grid)
    header.text((6, 6), _fit(title, header, _font(13), grid.width - 12), fill=(255, 255, 255), font=_font(13))
    for k, record in enumerate(records):
        r, c = divmod(k, cols)
        grid.paste(draw_tile(annotations, record, tile=tile), (4 + c * (tile + 4), HEADER_H + 4 + r * (th + 4)))
    return _save_png(grid, pathlib.Path(out_path))
