"""The straightforward box engine: one labelling per CAM threshold, with SciPy and NumPy only.

It follows the reference (clovaai/wsolevaluation) step by step: for every threshold of the grid it
binarises the quantised map, labels 8-connected components and 4-connected holes with
``scipy.ndimage.label``, measures every component's outer-contour area (Pick's theorem on the
component with its holes filled, an independent route to ``cv2.contourArea``), and takes the best
IoU. It shares no code with :mod:`wsolbench.metrics.boxkernel`; the benchmark and the tests use it
as a second oracle that needs no OpenCV.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

S8 = np.ones((3, 3), bool)
S4 = ndimage.generate_binary_structure(2, 1)

# Cyclic 8-neighbourhood (dy, dx): E, NE, N, NW, W, SW, S, SE; even positions are 4-neighbours.
RING = ((0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1))


def naive_quantize(scoremap: np.ndarray) -> np.ndarray:
    """``(float64(map) * 255).astype(uint8)``."""
    return (np.asarray(scoremap, dtype=np.float64) * 255).astype(np.uint8)


def contour_area2(component: np.ndarray) -> int:
    """Twice ``cv2.contourArea`` of the outer border of one 8-connected component.

    Pick's theorem on the border walk: ``area = F - moves / 2 - 1`` with ``F`` the pixel count of the
    component with its holes filled and ``moves`` the number of times the border walk visits a
    pixel: per pixel, the runs of background in its cyclic 8-neighbourhood that contain a
    4-neighbour. A single pixel has area 0.

    Args:
        component: bool (h, w) mask of one 8-connected component.
    """
    filled = ndimage.binary_fill_holes(component)
    count = int(filled.sum())
    if count <= 1:
        return 0
    pad = np.pad(filled, 1)
    h, w = filled.shape
    ring = np.stack([pad[1 + dy:1 + dy + h, 1 + dx:1 + dx + w] for dy, dx in RING])   # (8, h, w)
    bg = ~ring
    prev_fg = np.roll(ring, 1, axis=0)           # neighbour k-1 (cyclic) is foreground
    next_fg = np.roll(ring, -1, axis=0)
    run_starts = bg & prev_fg                     # a background run starts at k
    lone_diagonal = bg & prev_fg & next_fg        # a run made of one diagonal neighbour only
    lone_diagonal[0::2] = False
    visits = (run_starts.sum(axis=0) - lone_diagonal.sum(axis=0))[filled]
    return int(2 * count - visits.sum() - 2)


def _label_regions(u8: np.ndarray, thr: int):
    """Component extents with their contour areas (twice) and hole extents of ``u8 > thr``."""
    fg = u8 > thr
    lab, _ = ndimage.label(fg, structure=S8)
    comps = []
    for i, sl in enumerate(ndimage.find_objects(lab), 1):
        area2 = contour_area2(lab[sl] == i)
        comps.append((sl[1].start, sl[0].start, sl[1].stop - 1, sl[0].stop - 1, area2))
    hl, _ = ndimage.label(~fg, structure=S4)
    border = set(np.unique(np.r_[hl[0], hl[-1], hl[:, 0], hl[:, -1]]).tolist())
    holes = [(sl[1].start, sl[0].start, sl[1].stop - 1, sl[0].stop - 1)
             for i, sl in enumerate(ndimage.find_objects(hl), 1) if sl is not None and i not in border]
    return comps, holes


def _boxes(u8: np.ndarray, thr: int) -> tuple[np.ndarray, np.ndarray]:
    """(largest box (1, 4), all boxes (n, 4)) at integer threshold ``thr``, the reference convention.

    ``all``: components in label (raster) order, then holes in label order. An empty foreground
    gives ``[[0, 0, 0, 0]]`` for both.
    """
    H, W = u8.shape
    if not (u8 > thr).any():
        zero = np.zeros((1, 4), np.int64)
        return zero, zero
    comps, holes = _label_regions(u8, thr)
    boxes = [(x0, y0, min(x1 + 1, W - 1), min(y1 + 1, H - 1)) for x0, y0, x1, y1, _ in comps]
    boxes += [(x0 - 1, y0 - 1, min(x1 + 2, W - 1), min(y1 + 2, H - 1)) for x0, y0, x1, y1 in holes]
    if H == 1 or W == 1:                                          # 1-D signal: the longest interval
        areas = [(x1 - x0) + (y1 - y0) for x0, y0, x1, y1, _ in comps]
    else:
        areas = [c[4] for c in comps]
    best = len(areas) - 1 - int(np.argmax(areas[::-1]))          # the last of the maxima
    every = np.array(boxes, dtype=np.int64).reshape(-1, 4)
    return every[best:best + 1], every


def naive_extract_boxes(scoremap: np.ndarray, threshold: float, *, regions: str = "largest") -> np.ndarray:
    """Boxes (n, 4) int64 of the regions (``largest`` or ``all``) at one CAM threshold."""
    u8 = naive_quantize(scoremap)
    largest, every = _boxes(u8, int(threshold * u8.max()))
    return largest if regions == "largest" else every


def naive_iou(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """(n, m) IoU with the reference's inclusive +1 arithmetic (a transcription of its formula)."""
    a = np.asarray(boxes_a, np.int64)[:, None, :]
    b = np.asarray(boxes_b, np.int64)[None, :, :]
    inter = (np.maximum(0, np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]) + 1)
             * np.maximum(0, np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]) + 1))
    area_a = (a[..., 2] - a[..., 0] + 1) * (a[..., 3] - a[..., 1] + 1)
    area_b = (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)
    union = area_a + area_b - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def naive_best_ious(scoremap: np.ndarray, gt_boxes: np.ndarray, thresholds: np.ndarray, *,
                    all_regions: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-threshold best IoU, largest region and all regions: float64 (T,) each (all may be None)."""
    gt = np.asarray(gt_boxes, np.int64).reshape(-1, 4)
    largest = np.zeros(len(thresholds))
    every = np.zeros(len(thresholds)) if all_regions else None
    u8 = naive_quantize(scoremap)
    for k, tau in enumerate(thresholds):
        if len(gt) == 0:
            continue
        boxes_largest, boxes_all = _boxes(u8, int(tau * u8.max()))
        largest[k] = naive_iou(boxes_largest, gt).max()
        if all_regions:
            every[k] = naive_iou(boxes_all, gt).max()
    return largest, every
