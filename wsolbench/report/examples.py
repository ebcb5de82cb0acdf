"""Example images for overlays: pick the best, the worst and random images of a result and
rebuild what the evaluation saw for each (post-processed map, GT and prediction in the map frame).

Maps are post-processed exactly as the evaluation does
(:func:`wsolbench.metrics.resize.postprocess_map`), GT boxes brought to the frame with
:func:`wsolbench.metrics.gt.resize_boxes`, and the predicted box is the extracted box that best
matches the GT at the MaxBoxAcc optimal threshold
(:func:`wsolbench.metrics.boxes.best_boxes`, largest region). For mask-only data the predicted
region is the map thresholded at the PIoU threshold, drawn as a contour.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from wsolbench.errors import FormatError
from wsolbench.report.overlays import OverlayItem

GROUPS = ("best", "worst", "random")
IGNORE = 255


@dataclass(frozen=True)
class Example:
    """One row of ``result["per_image"]`` chosen for an overlay.

    Attributes:
        row: index into the per-image arrays.
        image_id: the dataset id.
        label: the class the map is for.
        predicted: the predicted class or ``None``.
        score: the IoU the row was ranked by (``None`` if unknown).
    """

    row: int
    image_id: str
    label: int
    predicted: int | None
    score: float | None


def _finite(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def select_examples(per_image: dict, *, n: int = 8, seed: int = 0, scores=None) -> dict[str, list[Example]]:
    """Choose the ``n`` best, ``n`` worst and ``n`` random rows of a result's per-image table.

    Args:
        per_image: ``result["per_image"]`` (``image_ids``, ``labels``, ``predicted``, ``iou``).
        n: images per group.
        seed: seed of the random group (the same seed picks the same images).
        scores: optional per-row scores replacing ``per_image["iou"]`` (e.g. mask IoUs).

    Returns:
        ``{"best": [...], "worst": [...], "random": [...]}``; best and worst are empty when no
        row has a score; ties are broken by row order. The random group avoids rows already
        shown when enough others remain.
    """
    ids = list(per_image.get("image_ids") or [])
    labels = list(per_image.get("labels") or [None] * len(ids))
    preds = list(per_image.get("predicted") or [None] * len(ids))
    values = list(scores if scores is not None else (per_image.get("iou") or [None] * len(ids)))

    def example(r: int) -> Example:
        v = values[r]
        return Example(r, ids[r], labels[r], preds[r], float(v) if _finite(v) else None)

    scored = [r for r in range(len(ids)) if _finite(values[r])]
    best = sorted(scored, key=lambda r: (-values[r], r))[:n]
    worst = sorted(scored, key=lambda r: (values[r], r))[:n]
    shown = set(best) | set(worst)
    pool = [r for r in range(len(ids)) if r not in shown]
    if len(pool) < n:
        pool = list(range(len(ids)))
    rng = np.random.default_rng(seed)
    random = sorted(rng.choice(len(pool), size=min(n, len(pool)), replace=False).tolist()) if pool else []
    return {"best": [example(r) for r in best], "worst": [example(r) for r in worst],
            "random": [example(pool[i]) for i in random]}


def load_image(root, image_id: str) -> np.ndarray | None:
    """The RGB image ``root/image_id`` as (H, W, 3) uint8, or ``None`` when absent or undecodable."""
    from PIL import Image

    if not root:
        return None
    path = os.path.join(root, image_id)
    if not os.path.isfile(path):
        return None
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except OSError:
        return None


@dataclass(frozen=True)
class Frame:
    """What overlays need from the result: the protocol, the box threshold and the mask threshold."""

    protocol: object
    box_threshold: float | None
    mask_threshold: float | None


def result_frame(result: dict) -> Frame:
    """The protocol and the optimal thresholds of a result dict."""
    from wsolbench.protocol import Protocol

    protocol = Protocol.from_dict(result["protocol"])
    box = (result.get("box") or {}).get("largest")
    key = str(protocol.maxboxacc_iou)
    box_thr = float(box["best_threshold"][key]) if box and key in box.get("best_threshold", {}) else None
    mask = result.get("mask") or {}
    mask_thr = mask.get("piou_threshold")
    return Frame(protocol, box_thr, None if mask_thr is None else float(mask_thr))


def _gt_in_frame(record, frame: Frame, label: int | None):
    """GT boxes (K, 4) and the GT mask (uint8 1/255/0, or None) of a record in the map frame."""
    from wsolbench.metrics.gt import gt_mask, resize_boxes

    res = frame.protocol.resolution
    boxes = np.zeros((0, 4), np.int64)
    if len(record.boxes) and record.image_size is not None:
        boxes = resize_boxes(record.boxes, record.image_size, res, image_id=record.image_id)
    mask = None
    if record.masks is not None:
        cls = label if len(record.labels) > 1 else None
        mask = gt_mask(record.masks.load_at(res), res, class_index=cls, image_id=record.image_id)
    return boxes, mask


def mask_iou(scoremap: np.ndarray, mask: np.ndarray, threshold: float) -> float | None:
    """IoU of ``scoremap >= threshold`` with the foreground of a 1/255/0 mask, ignore pixels dropped."""
    valid = mask != IGNORE
    pred, fg = (scoremap >= threshold) & valid, (mask == 1)
    union = np.logical_or(pred, fg).sum()
    return None if union == 0 else float(np.logical_and(pred, fg).sum() / union)


def _title(k: int, ex: Example, iou: float | None) -> str:
    """Two caption lines: rank, IoU, class and prediction; then the image id."""
    head = f"#{k + 1}"
    if iou is not None:
        head += f" IoU {iou:.2f}"
    head += f" · cls {ex.label}"
    if ex.predicted is not None:
        head += f" · pred {ex.predicted}"
    return f"{head}\n{ex.image_id}"


def _read_map(f, ex: Example, frame: Frame) -> np.ndarray:
    from wsolbench.metrics.resize import postprocess_map

    try:
        row = f.row_of(ex.image_id, ex.label if f.has_map_labels else None)
    except KeyError:
        raise FormatError(f"{f.path}: no map for image '{ex.image_id}' (class {ex.label}), which the result lists; "
                          "pass the maps file the result was computed from (see its maps.sha256)") from None
    smap, _ = postprocess_map(f.read(row), frame.protocol, normalized=f.normalized, image_id=ex.image_id)
    return smap


def build_item(f, annotations, ex: Example, frame: Frame, *, group: str, k: int, image_root=None) -> OverlayItem:
    """The :class:`OverlayItem` of one example, from an open ``ScoreMapFile`` and the annotations."""
    from wsolbench.metrics.boxes import best_boxes

    if ex.image_id not in annotations:
        raise FormatError(f"image '{ex.image_id}' of the result is not in the annotations "
                          f"({annotations.source or annotations.name}); pass the --gt the result was computed with")
    record = annotations[ex.image_id]
    smap = _read_map(f, ex, frame)
    gt_boxes, mask = _gt_in_frame(record, frame, ex.label)
    pred_boxes, pred_mask, iou = np.zeros((0, 4), np.int64), None, ex.score
    if len(gt_boxes) and frame.box_threshold is not None:
        box, iou = best_boxes(smap, frame.box_threshold, gt_boxes, regions="largest")
        pred_boxes = np.asarray(box).reshape(1, 4)
    elif mask is not None and frame.mask_threshold is not None:
        pred_mask = (smap >= frame.mask_threshold).astype(np.uint8)
        iou = mask_iou(smap, mask, frame.mask_threshold)
    image = load_image(image_root if image_root is not None else annotations.root, ex.image_id)
    return OverlayItem(image=image, scoremap=smap, gt_boxes=gt_boxes, pred_boxes=pred_boxes,
                       gt_mask=None if mask is None else (mask == 1).astype(np.uint8),
                       title=_title(k, ex, iou), pred_mask=pred_mask)


def mask_scores(maps_path, annotations, result: dict) -> list[float | None]:
    """Per-row mask IoU at the PIoU threshold, for ranking mask-only results (reads every map)."""
    from wsolbench.scoremaps import ScoreMapFile

    frame = result_frame(result)
    per_image = result.get("per_image") or {}
    out = []
    with ScoreMapFile(maps_path) as f:
        for r, (image_id, label) in enumerate(zip(per_image.get("image_ids") or [], per_image.get("labels") or [])):
            ex = Example(r, image_id, label, None, None)
            record = annotations[image_id] if image_id in annotations else None
            if record is None or record.masks is None or frame.mask_threshold is None:
                out.append(None)
                continue
            _, mask = _gt_in_frame(record, frame, label)
            out.append(mask_iou(_read_map(f, ex, frame), mask, frame.mask_threshold))
    return out


def example_items(maps_path, annotations, result: dict, *, n: int = 8, seed: int = 0,
                  image_root=None) -> dict[str, list[OverlayItem]]:
    """Overlay items of the best, worst and random images of a result.

    Args:
        maps_path: the score-map file the result was computed from.
        annotations: the :class:`~wsolbench.datasets.records.AnnotationSet` it was computed against.
        result: the result dict.
        n: images per group.
        seed: seed of the random group.
        image_root: folder of the images (default ``annotations.root``); absent images are drawn
            as the map alone on grey.

    Returns:
        ``{"best": [...], "worst": [...], "random": [...]}`` (groups may be empty).
    """
    from wsolbench.scoremaps import ScoreMapFile

    per_image = result.get("per_image") or {}
    scores = None
    if per_image.get("image_ids") and not any(_finite(v) for v in per_image.get("iou") or []) and result.get("mask"):
        scores = mask_scores(maps_path, annotations, result)
    chosen = select_examples(per_image, n=n, seed=seed, scores=scores)
    frame = result_frame(result)
    with ScoreMapFile(maps_path) as f:
        return {group: [build_item(f, annotations, ex, frame, group=group, k=k, image_root=image_root)
                        for k, ex in enumerate(chosen[group])] for group in GROUPS}
