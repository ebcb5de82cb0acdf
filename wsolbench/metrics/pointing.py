"""The pointing game and the energy-based pointing game of one score map (``docs/protocol.md``).

* **Pointing game** (Zhang et al., "Top-down neural attention by excitation backprop", ECCV 2016 /
  IJCV 2018): the map's maximum point is a *hit* when a ground-truth pixel lies within 15 pixels of
  it (Euclidean distance, the paper's tolerance), else a miss; the score of a set is hits / maps.
* **Energy-based pointing game** (Wang et al., "Score-CAM: score-weighted visual explanations for
  convolutional neural networks", CVPR Workshops 2020): the share of the map's energy (sum of its
  values) that falls inside the ground truth, ``sum(map * inside) / sum(map)``, averaged over maps.

wsolbench plays both in the protocol's evaluation frame (224x224 under ``wsoleval``), on the map as
the box and mask metrics see it (resized and min-max normalised), against the GT masks when the
dataset has masks and against the union of the GT boxes (inclusive corners) otherwise. Ignored
mask pixels (255) count neither as object nor in the energy's total. Conventions where the papers
are silent: the maximum point is the first maximum in raster order (``np.argmax``); a map whose
values sum to 0 (e.g. a constant map, normalised to zeros) has energy share 0.

Hand-written: the two definitions are a few lines of NumPy and no maintained library computes
them on wsolbench's evaluation frame (TorchRay's pointing game works on original image sizes).

Example:
    >>> import numpy as np
    >>> m = np.zeros((40, 40)); m[5, 30] = 1.0
    >>> pointing_hit(m, boxes=np.array([[10, 10, 20, 20]]))       # distance 10 from the box corner
    True
    >>> pointing_hit(m, boxes=np.array([[10, 10, 20, 20]]), tolerance=5)
    False
    >>> energy_share(m, boxes=np.array([[25, 0, 35, 10]]))
    1.0
"""

from __future__ import annotations

import numpy as np

from wsolbench.metrics.gt import few_small_boxes

#: The pointing game's tolerance in pixels (Zhang et al. 2016).
TOLERANCE = 15


def max_point(scoremap: np.ndarray) -> tuple[int, int]:
    """``(row, col)`` of the map's first maximum in raster order."""
    m = np.asarray(scoremap)
    i = int(np.argmax(m))
    if m.ndim == 2:
        return divmod(i, m.shape[1])                     # np.unravel_index of a (H, W) map, faster
    return tuple(int(v) for v in np.unravel_index(i, m.shape))


def _box_distance2(row: int, col: int, boxes: np.ndarray) -> float:
    """Smallest squared distance from the pixel to any pixel of the (inclusive-corner) boxes."""
    b = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
    if len(b) == 0:
        return float("inf")
    few = few_small_boxes(b) if abs(row) < 2 ** 30 and abs(col) < 2 ** 30 else None
    if few:
        # an image's few boxes in Python: the same integers (no int64 step can overflow here), faster
        return float(min(max(x0 - col, 0, col - x1) ** 2 + max(y0 - row, 0, row - y1) ** 2
                         for x0, y0, x1, y1 in few))
    dx = np.maximum(np.maximum(b[:, 0] - col, 0), col - b[:, 2])
    dy = np.maximum(np.maximum(b[:, 1] - row, 0), row - b[:, 3])
    return float((dx * dx + dy * dy).min())


def _mask_distance2(row: int, col: int, mask: np.ndarray, within: float) -> float:
    """Smallest squared distance from the pixel to a foreground (== 1) pixel of the mask, looking only
    at the pixels within ``within`` of it (``inf`` when none of those is foreground)."""
    r = int(np.floor(within))
    window = np.asarray(mask)[max(0, row - r):row + r + 1, max(0, col - r):col + r + 1]
    ys, xs = np.nonzero(window == 1)
    if len(ys) == 0:
        return float("inf")
    return float(((ys + max(0, row - r) - row) ** 2 + (xs + max(0, col - r) - col) ** 2).min())


def pointing_hit(scoremap, *, boxes=None, mask=None, tolerance: float = TOLERANCE) -> bool:
    """Whether the map's maximum point lies within ``tolerance`` pixels of the ground truth.

    Args:
        scoremap: (H, W) map in the evaluation frame.
        boxes: int (K, 4) GT boxes ``x0, y0, x1, y1`` (inclusive corners) in the frame, or ``None``.
        mask: uint8 (H, W) GT mask (1 foreground, 0 background, 255 ignore), or ``None``; used
            instead of the boxes when given.
        tolerance: the distance in pixels (15 in the pointing game).

    Returns:
        ``True`` for a hit. An image without ground truth is a miss.
    """
    row, col = max_point(scoremap)
    d2 = _mask_distance2(row, col, mask, tolerance) if mask is not None else _box_distance2(row, col, boxes)
    return bool(d2 <= float(tolerance) ** 2)


def _inside_boxes(shape: tuple[int, int], boxes) -> np.ndarray:
    inside = np.zeros(shape, bool)
    for x0, y0, x1, y1 in np.asarray(boxes, dtype=np.int64).reshape(-1, 4):
        inside[y0:y1 + 1, x0:x1 + 1] = True
    return inside


def energy_share(scoremap, *, boxes=None, mask=None) -> float:
    """The share of the map's energy inside the ground truth, in [0, 1] (0 for a map summing to 0).

    Args:
        scoremap: (H, W) non-negative map in the evaluation frame.
        boxes: int (K, 4) GT boxes in the frame (their union is the inside), or ``None``.
        mask: uint8 (H, W) GT mask (1 inside, 0 outside, 255 ignored), used instead of the boxes.
    """
    m = np.asarray(scoremap, dtype=np.float64)
    if mask is not None:
        mask = np.asarray(mask)
        total = float(m.sum(where=mask <= 1))
        energy = float(m.sum(where=mask == 1))
    else:
        b = np.asarray(boxes if boxes is not None else np.zeros((0, 4)), dtype=np.int64).reshape(-1, 4)
        total = float(m.sum())
        if len(b) == 1:                                  # one box: a view, no mask to build
            x0, y0, x1, y1 = b[0].tolist()
            energy = float(m[y0:y1 + 1, x0:x1 + 1].sum())
        else:
            energy = float(m.sum(where=_inside_boxes(m.shape, b)))
    return energy / total if total > 0 else 0.0
