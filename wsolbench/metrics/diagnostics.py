"""Diagnostics beside the protocol's numbers: the pointing games and the size diagnostics.

They are computed in the same pass as the metrics (one image at a time, :func:`image_diagnostics`)
and summarised from the per-image rows (:func:`summarize_diagnostics`) into the result JSON's
``diagnostics`` section and per-image lists (``docs/result-json.md``). They are *not* headline
metrics: they are outside the 11 metric keys and the protocol hash does not cover them.
Definitions and sources: :mod:`wsolbench.metrics.pointing`, :mod:`wsolbench.metrics.sizes` and
``docs/protocol.md``.
"""

from __future__ import annotations

import numpy as np

from wsolbench.metrics import sizes
from wsolbench.metrics.pointing import TOLERANCE, energy_share, pointing_hit

#: Decimals of the per-image energy shares in the result JSON (the summary and the state file keep
#: full precision; 6 decimals keep a CUB-sized JSON 65 KB smaller).
ENERGY_DECIMALS = 6


def image_diagnostics(scoremap: np.ndarray, *, gt_boxes: np.ndarray, gt_mask: np.ndarray | None,
                      thresholds: np.ndarray | None) -> dict:
    """One map's diagnostics.

    Args:
        scoremap: (H, W) map in the evaluation frame.
        gt_boxes: int (K, 4) GT boxes in the frame (K may be 0).
        gt_mask: uint8 (H, W) GT mask, or ``None``; the pointing games use it instead of the boxes.
        thresholds: the CAM thresholds at which to record the largest region's box area, or
            ``None`` not to (it costs one more largest-region sweep of the map).

    Returns:
        ``{"hit": bool, "energy": float, "box_area": (T,) unsigned or None, "gt_area": int or None,
        "n_gt_boxes": int}``.
    """
    out = {"hit": pointing_hit(scoremap, boxes=gt_boxes, mask=gt_mask),
           "energy": energy_share(scoremap, boxes=gt_boxes, mask=gt_mask),
           "box_area": None, "gt_area": sizes.largest_gt_area(gt_boxes), "n_gt_boxes": int(len(gt_boxes))}
    if thresholds is not None and len(gt_boxes):
        h, w = np.shape(scoremap)
        out["box_area"] = sizes.largest_box_areas(scoremap, thresholds).astype(sizes.area_dtype(h, w))
    return out


def _pointing(rows, against: str) -> dict:
    hits = [r.hit for r in rows]
    energy = np.array([r.energy for r in rows], dtype=np.float64)
    n = len(rows)
    return {
        "pointing_game": {"value": 100.0 * (float(sum(hits)) / n), "hits": int(sum(hits)), "n": n,
                          "tolerance_px": TOLERANCE, "against": against},
        "energy_pointing_game": {"value": 100.0 * (float(energy.sum()) / n), "n": n, "against": against},
    }


def box_ratios(rows, index: int) -> np.ndarray:
    """float64 (n,) predicted / GT box area at CAM-threshold index ``index``; NaN where not recorded."""
    return np.array([np.nan if r.box_area is None or not r.gt_area else float(r.box_area[index]) / r.gt_area
                     for r in rows], dtype=np.float64)


def mask_ratios(rows, mask: dict) -> tuple[np.ndarray, int]:
    """float64 (n,) predicted / GT mask area at the PIoU threshold (NaN for maps without foreground),
    and that threshold's curve index."""
    index = int(np.argmax(np.asarray(mask["iou_curve"], dtype=np.float64)))
    ratios = np.full(len(rows), np.nan)
    for start in range(0, len(rows), 1024):
        chunk = rows[start:start + 1024]
        predicted, gt = sizes.mask_areas_at(np.stack([r.fg_hist for r in chunk]),
                                            np.stack([r.bg_hist for r in chunk]), index)
        ok = gt > 0
        ratios[start:start + len(chunk)][ok] = predicted[ok] / gt[ok]
    return ratios, index


def summarize_diagnostics(rows, *, box: dict | None, mask: dict | None, maxboxacc_iou: int,
                          with_masks: bool) -> tuple[dict, dict]:
    """The ``diagnostics`` section and its per-image lists.

    Args:
        rows: the :class:`~wsolbench.metrics.evaluator.ImageRow` list in ground-truth order.
        box, mask: the result's ``box`` / ``mask`` sections (``None`` where not applicable).
        maxboxacc_iou: the IoU (percent) of MaxBoxAcc: its best threshold, and the size bound.
        with_masks: the pointing games were played against masks.

    Returns:
        ``(diagnostics, per_image)``; per_image holds ``pointing_hit``, ``energy`` (rounded to
        :data:`ENERGY_DECIMALS`) and, where recorded, ``box_area_ratio`` / ``mask_area_ratio``
        (``None`` where undefined).
    """
    if not rows:
        return {}, {}
    diagnostics = _pointing(rows, "masks" if with_masks else "boxes")
    per_image = {"pointing_hit": [bool(r.hit) for r in rows],
                 "energy": [round(float(r.energy), ENERGY_DECIMALS) for r in rows]}
    labels = np.array([r.label for r in rows], dtype=np.int64)
    delta = maxboxacc_iou / 100.0
    diagnostics["box_size"] = diagnostics["mask_size"] = None
    if box is not None and any(r.box_area is not None for r in rows):
        key = str(maxboxacc_iou)
        index = int(box["largest"]["best_threshold_index"][key])
        ratios = box_ratios(rows, index)
        diagnostics["box_size"] = {"threshold": float(box["largest"]["best_threshold"][key]),
                                   "threshold_index": index, "iou": maxboxacc_iou,
                                   "n_multi_box": int(sum(r.n_gt_boxes > 1 for r in rows)),
                                   **sizes.area_ratio_summary(ratios, labels, delta=delta)}
        per_image["box_area_ratio"] = [None if np.isnan(v) else float(v) for v in ratios]
    if mask is not None:
        ratios, index = mask_ratios(rows, mask)
        diagnostics["mask_size"] = {"threshold": float(mask["piou_threshold"]), "curve_index": index,
                                    **sizes.area_ratio_summary(ratios, labels, delta=0.5)}
        per_image["mask_area_ratio"] = [None if np.isnan(v) else float(v) for v in ratios]
    return diagnostics, per_image
