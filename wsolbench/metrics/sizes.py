"""Size diagnostics: is the predicted box (or mask) too small or too large? (``docs/protocol.md``)

Per image, at the threshold the protocol selects on the whole set (MaxBoxAcc's best threshold for
boxes, PIoU's for masks), the **area ratio** = predicted area / GT area:

* boxes: the area of the largest region's box (the box MaxBoxAcc scores, reference convention,
  +1 pixel arithmetic) over the area of the image's largest GT box (exact for single-box images;
  for images with several boxes the largest one stands for the object);
* masks: the pixels scoring at or above the threshold over the foreground pixels (ignored pixels
  count in neither), read from the image's PxAP histograms.

A ratio below ``delta`` (the MaxBoxAcc IoU as a fraction, 0.5) is **too small** and above
``1 / delta`` **too large**: IoU <= min(ratio, 1 / ratio) whatever the placement, so such a
prediction cannot reach IoU ``delta``. Part domination (a CAM on the most discriminative part)
shows as too-small boxes, maps that bleed into the background as too-large ones.

The predicted box area at every CAM threshold comes from the box engine itself: the IoU of the
largest region's box with the whole-frame box ``[0, 0, W-1, H-1]`` is exactly its area / (W H),
so :func:`largest_box_areas` needs no code of its own beyond one more largest-region sweep.

Example:
    >>> import numpy as np
    >>> m = np.zeros((10, 10)); m[2:4, 2:6] = 1.0
    >>> largest_box_areas(m, np.array([0.5])).tolist()   # 4x2 pixels, box to x1+1, y1+1: 5x3
    [15]
    >>> round(area_ratio_summary(np.array([0.25, 1.0, 3.0]), np.array([0, 0, 1]), delta=0.5)["too_small"], 2)
    33.33
"""

from __future__ import annotations

import numpy as np

from wsolbench.metrics.boxes import best_ious
from wsolbench.metrics.gt import few_small_boxes

#: Bin edges of the log2 area-ratio histogram the report draws (ratios 1/64 .. 64).
LOG2_EDGES = np.arange(-6.0, 6.01, 0.5)


def area_dtype(height: int, width: int):
    """The smallest unsigned dtype that holds any area of an (H, W) frame."""
    return np.uint16 if height * width <= np.iinfo(np.uint16).max else np.uint32


def largest_box_areas(scoremap: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Area (pixels, +1 arithmetic) of the largest region's box at every CAM threshold.

    Args:
        scoremap: (H, W) map in [0, 1] in the evaluation frame.
        thresholds: float64 (T,) CAM thresholds.

    Returns:
        int64 (T,); the empty foreground's box ``[0, 0, 0, 0]`` has area 1.
    """
    h, w = np.shape(scoremap)
    frame = np.array([[0, 0, w - 1, h - 1]], np.int64)
    iou = best_ious(scoremap, frame, thresholds, all_regions=False).largest
    return np.rint(iou * (w * h)).astype(np.int64)


def largest_gt_area(boxes: np.ndarray) -> int | None:
    """Area of the largest GT box (inclusive corners), or ``None`` without boxes."""
    b = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
    if len(b) == 0:
        return None
    few = few_small_boxes(b)
    if few:
        # an image's few boxes in Python: the same integers (no int64 step can overflow here), faster
        return max((x1 - x0 + 1) * (y1 - y0 + 1) for x0, y0, x1, y1 in few)
    return int(((b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)).max())


def mask_areas_at(fg_hist: np.ndarray, bg_hist: np.ndarray, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Predicted and GT areas per image at PxAP curve index ``index`` (``score >= edges[T+1-index]``).

    Args:
        fg_hist, bg_hist: (n, T + 2) per-image score histograms of foreground / background pixels.
        index: an index of the precision/recall curves (0 = "score >= 2", T + 1 = "score >= 0").

    Returns:
        ``(predicted, gt)`` int64 (n,) each.
    """
    fg = np.asarray(fg_hist, dtype=np.int64)
    bg = np.asarray(bg_hist, dtype=np.int64)
    nb = fg.shape[1]
    above = slice(nb - 1 - index, nb)          # bins at or above the threshold
    return fg[:, above].sum(axis=1) + bg[:, above].sum(axis=1), fg.sum(axis=1)


def _shares(ratios: np.ndarray, delta: float) -> dict:
    n = len(ratios)
    if n == 0:
        return {"n": 0, "median_ratio": None, "q25_ratio": None, "q75_ratio": None,
                "too_small": None, "too_large": None}
    q25, med, q75 = np.percentile(ratios, [25, 50, 75])
    return {"n": int(n), "median_ratio": float(med), "q25_ratio": float(q25), "q75_ratio": float(q75),
            "too_small": 100.0 * float(np.count_nonzero(ratios < delta)) / n,
            "too_large": 100.0 * float(np.count_nonzero(ratios > 1.0 / delta)) / n}


def area_ratio_summary(ratios: np.ndarray, labels: np.ndarray, *, delta: float) -> dict:
    """Shares of too-small / too-large predictions, overall and per class.

    Args:
        ratios: float64 (n,) area ratios (NaN where an image has none).
        labels: int (n,) the class of each image.
        delta: the IoU bound (0.5): too small below ``delta``, too large above ``1 / delta``.

    Returns:
        ``{"n", "median_ratio", "q25_ratio", "q75_ratio", "too_small", "too_large" (percent),
        "bounds": [delta, 1 / delta], "per_class": {"<c>": {same keys but bounds}}}``.
    """
    ratios = np.asarray(ratios, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    ok = ~np.isnan(ratios)
    out = _shares(ratios[ok], delta)
    out["bounds"] = [float(delta), float(1.0 / delta)]
    out["per_class"] = {str(int(c)): _shares(ratios[ok & (labels == c)], delta) for c in np.unique(labels[ok])}
    return out


def log2_histogram(ratios) -> dict:
    """Counts of ``log2(ratio)`` in :data:`LOG2_EDGES` (ratios outside land in the end bins)."""
    r = np.asarray([v for v in ratios if v is not None and v > 0], dtype=np.float64)
    logs = np.clip(np.log2(r), LOG2_EDGES[0], LOG2_EDGES[-1]) if len(r) else r
    counts, _ = np.histogram(logs, bins=LOG2_EDGES)
    return {"log2_edges": LOG2_EDGES.tolist(), "counts": counts.tolist()}
