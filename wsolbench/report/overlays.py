"""CAM overlays: score maps drawn over their images with GT and predicted boxes (Pillow only).

A grid has a legend strip on top and one tile per :class:`OverlayItem`: the map in a jet
colour scale blended over the image (or over grey when the image is unavailable), the GT boxes
in green, the GT mask contour in white, the predicted boxes (or predicted region's contour) in
red, and the item's title below.

Example:
    >>> import numpy as np, tempfile, os
    >>> from wsolbench.report.overlays import OverlayItem, render_overlay_grid
    >>> m = np.zeros((28, 28)); m[8:20, 6:18] = 1.0
    >>> item = OverlayItem(image=None, scoremap=m, gt_boxes=np.array([[6, 8, 17, 19]]),
    ...                    pred_boxes=np.array([[5, 7, 18, 20]]), gt_mask=None, title="demo")
    >>> out = render_overlay_grid([item], os.path.join(tempfile.mkdtemp(), "grid.png"), tile=96)
    >>> out.name
    'grid.png'
"""

from __future__ import annotations

import io
import math
import pathlib
from dataclasses import dataclass

import numpy as np

from wsolbench.atomic import write_bytes_atomic

GT_COLOR = (40, 220, 40)
PRED_COLOR = (235, 30, 30)
MASK_COLOR = (255, 255, 255)
OUTLINE_COLOR = (15, 15, 15)
GREY = 128
BACKGROUND = (255, 255, 255)
TEXT_COLOR = (30, 30, 30)
PAD = 6
LEGEND_H = 24
TITLE_LINES = 2
LINE_H = 14
FONT_SIZE = 11


@dataclass
class OverlayItem:
    """One tile of an overlay grid; every array is in the map's frame.

    Attributes:
        image: the image (H, W, 3) uint8, any size (it is resized to the map), or ``None``
            to draw the map on grey.
        scoremap: the post-processed map (h, w), floats in [0, 1].
        gt_boxes: GT boxes (K, 4) ``x0, y0, x1, y1`` (inclusive pixels of the map frame).
        pred_boxes: predicted boxes (n, 4) in the same convention.
        gt_mask: the GT foreground mask (h, w) uint8 (non-zero = foreground) or ``None``.
        title: a caption; ``\\n`` separates up to two lines (a long first line is cut at its
            end, a long second line, e.g. an image id, at its start).
        pred_mask: an optional predicted region (h, w) uint8, drawn as a red contour (mask
            datasets, where the prediction is the thresholded map rather than a box).
    """

    image: np.ndarray | None
    scoremap: np.ndarray
    gt_boxes: np.ndarray
    pred_boxes: np.ndarray
    gt_mask: np.ndarray | None = None
    title: str = ""
    pred_mask: np.ndarray | None = None


def jet(values: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] to RGB with the classic jet colour scale.

    Args:
        values: array (h, w) of floats; NaN is drawn as 0, values are clipped to [0, 1].

    Returns:
        uint8 array (h, w, 3).
    """
    x = np.clip(np.nan_to_num(np.asarray(values, np.float64), nan=0.0), 0.0, 1.0)
    channels = [np.clip(1.5 - np.abs(4.0 * x - c), 0.0, 1.0) for c in (3.0, 2.0, 1.0)]
    return np.round(np.stack(channels, axis=-1) * 255).astype(np.uint8)


def grid_size(n_items: int, *, ncols: int = 4, tile: int = 160) -> tuple[int, int]:
    """The ``(width, height)`` in pixels of the PNG :func:`render_overlay_grid` writes.

    Args:
        n_items: number of tiles (>= 1).
        ncols: maximum tiles per row (the grid uses ``min(ncols, n_items)`` columns).
        tile: side of the square area each map is fitted into.
    """
    cols = max(1, min(ncols, n_items))
    rows = math.ceil(n_items / cols)
    width = cols * (tile + PAD) + PAD
    height = LEGEND_H + rows * (tile + TITLE_LINES * LINE_H + PAD) + PAD
    return width, height


def _check_item(i: int, item: OverlayItem) -> np.ndarray:
    smap = np.asarray(item.scoremap, np.float64)
    if smap.ndim != 2 or smap.size == 0:
        raise ValueError(f"overlay item {i} ({item.title!r}): scoremap must be a non-empty 2-D array (h, w), "
                         f"got shape {smap.shape}")
    for name in ("gt_mask", "pred_mask"):
        mask = getattr(item, name)
        if mask is not None and np.shape(mask) != smap.shape:
            raise ValueError(f"overlay item {i} ({item.title!r}): {name} shape {np.shape(mask)} "
                             f"differs from the scoremap's {smap.shape}; bring both to the map's frame")
    if item.image is not None:
        img = np.asarray(item.image)
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"overlay item {i} ({item.title!r}): image must be (H, W, 3) uint8, got shape {img.shape}")
    return smap


def _blend(image: np.ndarray | None, smap: np.ndarray) -> np.ndarray:
    """The map in jet over the image (resized to the map) or over grey; (h, w, 3) uint8."""
    from PIL import Image

    h, w = smap.shape
    if image is None:
        base, alpha = np.full((h, w, 3), GREY, np.float64), 0.8
    else:
        pil = Image.fromarray(np.asarray(image, np.uint8)).resize((w, h), Image.BILINEAR)
        base, alpha = np.asarray(pil, np.float64), 0.5
    out = base * (1.0 - alpha) + jet(smap).astype(np.float64) * alpha
    return np.round(out).astype(np.uint8)


def _scales(w: int, h: int, tile: int) -> tuple[float, float]:
    """Per-axis scale fitting (w, h) into the tile; very flat maps (1-D signals) are stretched."""
    s = min(tile / w, tile / h)
    sy = max(s, (tile // 4) / h) if h * s < tile // 4 else s
    return s, min(sy, tile / h)


def _shift_all(m: np.ndarray, radius: int, *, combine) -> np.ndarray:
    """AND (erosion) or OR (dilation) of ``m`` over a diamond of ``radius`` pixels."""
    padded = np.pad(m, radius, mode="edge")
    out = m.copy()
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            if 0 < abs(dy) + abs(dx) <= radius:
                out = combine(out, padded[radius + dy:radius + dy + m.shape[0], radius + dx:radius + dx + m.shape[1]])
    return out


def _contour(mask: np.ndarray, size_wh: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Contour of a mask resized (nearest) to ``size_wh``.

    Returns:
        ``(line, halo)``: bool arrays (H, W); ``line`` is a 2-px band inside the boundary,
        ``halo`` the 1-px band just outside it (drawn dark so the line reads on any colour).
    """
    from PIL import Image

    small = (np.asarray(mask) > 0).astype(np.uint8) * 255
    m = np.asarray(Image.fromarray(small).resize(size_wh, Image.NEAREST)) > 0
    line = m & ~_shift_all(m, 2, combine=np.logical_and)
    halo = _shift_all(m, 1, combine=np.logical_or) & ~m
    return line, halo


def _draw_boxes(draw, boxes, sx: float, sy: float, color) -> None:
    """Draw inclusive-pixel boxes scaled by (sx, sy): a dark outline under a coloured one."""
    for x0, y0, x1, y1 in np.asarray(boxes, np.float64).reshape(-1, 4):
        left, top = x0 * sx, y0 * sy
        right, bottom = max(left, (x1 + 1) * sx - 1), max(top, (y1 + 1) * sy - 1)
        draw.rectangle([left, top, right, bottom], outline=OUTLINE_COLOR, width=4)
        if right - left >= 2 and bottom - top >= 2:
            draw.rectangle([left + 1, top + 1, right - 1, bottom - 1], outline=color, width=2)
        else:  # a box one pixel thin at this scale: a single coloured stroke
            draw.rectangle([left, top, right, bottom], outline=color, width=1)


def render_tile(item: OverlayItem, *, tile: int = 160, index: int = 0):
    """Render one item's picture (without its title), fitted into ``tile`` x ``tile``.

    Returns:
        A ``PIL.Image.Image`` in RGB of at most ``tile`` x ``tile`` pixels.
    """
    from PIL import Image, ImageDraw

    smap = _check_item(index, item)
    h, w = smap.shape
    sx, sy = _scales(w, h, tile)
    size = (max(1, round(w * sx)), max(1, round(h * sy)))
    pic = Image.fromarray(_blend(item.image, smap)).resize(size, Image.BILINEAR)
    arr = np.asarray(pic).copy()
    for mask, color in ((item.gt_mask, MASK_COLOR), (item.pred_mask, PRED_COLOR)):
        if mask is not None:
            line, halo = _contour(mask, size)
            arr[halo] = OUTLINE_COLOR
            arr[line] = color
    pic = Image.fromarray(arr)
    draw = ImageDraw.Draw(pic)
    _draw_boxes(draw, item.gt_boxes, size[0] / w, size[1] / h, GT_COLOR)
    _draw_boxes(draw, item.pred_boxes, size[0] / w, size[1] / h, PRED_COLOR)
    return pic


def _font(size: int = FONT_SIZE):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # pragma: no cover - Pillow without FreeType
        return ImageFont.load_default()


def _fit_text(draw, text: str, font, width: int, *, keep_end: bool) -> str:
    """Shorten ``text`` with an ellipsis until it fits ``width`` pixels.

    ``keep_end`` keeps the end (file names of long image ids), else the start.
    """
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(("…" + text) if keep_end else (text + "…"), font=font) > width:
        text = text[1:] if keep_end else text[:-1]
    return ("…" + text) if keep_end else (text + "…")


def _draw_legend(canvas, draw, font, any_mask: bool) -> None:
    """Legend strip: box colours, mask contour colour, and a small jet colour bar."""
    from PIL import Image

    entries = [("GT box", GT_COLOR), ("prediction", PRED_COLOR)]
    if any_mask:
        entries.append(("GT mask", MASK_COLOR))
    x = PAD
    for text, color in entries:
        draw.rectangle([x, 7, x + 18, 17], outline=OUTLINE_COLOR, width=1, fill=color)
        draw.text((x + 23, 6), text, fill=TEXT_COLOR, font=font)
        x += 23 + int(draw.textlength(text, font=font)) + 14
    bar_w = 64
    if x + bar_w + 60 > canvas.width:
        return
    draw.text((x, 6), "map 0", fill=TEXT_COLOR, font=font)
    x += int(draw.textlength("map 0", font=font)) + 4
    bar = jet(np.tile(np.linspace(0.0, 1.0, bar_w), (10, 1)))
    canvas.paste(Image.fromarray(bar), (x, 7))
    draw.text((x + bar_w + 4, 6), "1", fill=TEXT_COLOR, font=font)


def render_overlay_grid(items, out_path, *, ncols: int = 4, tile: int = 160) -> pathlib.Path:
    """Draw overlay tiles in a grid and write it as a PNG (atomically).

    Args:
        items: a non-empty list of :class:`OverlayItem`.
        out_path: the PNG to write.
        ncols: maximum tiles per row.
        tile: side in pixels of the square area each map is fitted into (aspect kept).

    Returns:
        ``out_path`` as a :class:`pathlib.Path`; its size is :func:`grid_size`.

    Raises:
        ValueError: no items, or an item whose arrays have the wrong shape.
    """
    from PIL import Image, ImageDraw

    items = list(items)
    if not items:
        raise ValueError("render_overlay_grid needs at least one OverlayItem")
    if tile < 16 or ncols < 1:
        raise ValueError(f"tile must be >= 16 and ncols >= 1, got tile={tile}, ncols={ncols}")
    width, height = grid_size(len(items), ncols=ncols, tile=tile)
    cols = max(1, min(ncols, len(items)))
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw, font = ImageDraw.Draw(canvas), _font()
    _draw_legend(canvas, draw, font, any(it.gt_mask is not None for it in items))
    for i, item in enumerate(items):
        pic = render_tile(item, tile=tile, index=i)
        x = PAD + (i % cols) * (tile + PAD)
        y = LEGEND_H + (i // cols) * (tile + TITLE_LINES * LINE_H + PAD)
        draw.rectangle([x, y, x + tile - 1, y + tile - 1], fill=(235, 235, 235))
        canvas.paste(pic, (x + (tile - pic.width) // 2, y + (tile - pic.height) // 2))
        for k, line in enumerate(item.title.split("\n")[:TITLE_LINES]):
            text = _fit_text(draw, line, font, tile, keep_end=k > 0)
            draw.text((x, y + tile + 1 + k * LINE_H), text, fill=TEXT_COLOR, font=font)
    buf = io.BytesIO()
    canvas.save(buf, format="PNG", optimize=True)
    return write_bytes_atomic(out_path, buf.getvalue())
