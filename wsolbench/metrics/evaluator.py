"""The evaluator, in stages like COCOeval: evaluate one image -> accumulate mergeable state ->
summarize into an :class:`EvaluationResult`'s sections. It reads no files and formats nothing.

The state adds: shards of a dataset evaluated in separate processes (or machines) merge into
exactly the unsharded state (:meth:`EvalState.merge`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from wsolbench.metrics.box_accuracy import BoxAccuracy
from wsolbench.metrics.boxes import best_ious
from wsolbench.metrics.masks import PerClassPixelAP, PixelAP
from wsolbench.protocol import Protocol


@dataclass
class ImageInput:
    """One image's map and ground truth, already in the evaluation frame.

    Attributes:
        image_id: the dataset id.
        labels: GT class indices of the image.
        scoremap: float64 (H, W) in [0, 1] (post-processed by the protocol).
        gt_boxes: int (K, 4) ``x0, y0, x1, y1`` in the frame (K may be 0 for mask-only data).
        gt_mask: uint8 (H, W) with 1 = foreground, 255 = ignore, 0 = background, or ``None``.
        pred_label: top-1 predicted class or ``None``.
        map_label: the class the map is for (multi-label data) or ``None`` (= the GT class).
        constant: the raw map was constant or NaN (normalised to zeros, as the reference does).
    """

    image_id: str
    labels: tuple[int, ...]
    scoremap: np.ndarray
    gt_boxes: np.ndarray
    gt_mask: np.ndarray | None = None
    pred_label: int | None = None
    map_label: int | None = None
    constant: bool = False


@dataclass
class EvalState:
    """Mergeable evaluation state: accumulators that add, plus per-image rows that concatenate."""

    box: BoxAccuracy | None
    mask: PixelAP | None
    mask_per_class: PerClassPixelAP | None
    image_ids: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    preds: list[int | None] = field(default_factory=list)
    curves: list[np.ndarray] = field(default_factory=list)   # float32 (T,) best IoU, largest region
    constant: list[bool] = field(default_factory=list)

    def merge(self, other: "EvalState") -> "EvalState":
        """Add ``other`` into this state (in place) and return it."""
        for name in ("box", "mask", "mask_per_class"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine is not None:
                mine.merge(theirs)
        for name in ("image_ids", "labels", "preds", "curves", "constant"):
            getattr(self, name).extend(getattr(other, name))
        return self


class Evaluator:
    """Evaluates images under one protocol.

    Args:
        protocol: the protocol.
        with_boxes: compute box metrics (the dataset has boxes).
        with_masks: compute mask metrics (the dataset has masks).
        num_classes: number of classes (for per-class mask metrics).
        multilabel: the dataset is multi-label (maps per (image, class); mPxAP).
    """

    def __init__(self, protocol: Protocol, *, with_boxes: bool, with_masks: bool,
                 num_classes: int | None = None, multilabel: bool = False):
        self.protocol = protocol
        self.thresholds = protocol.cam_thresholds()
        self.with_boxes = with_boxes and not multilabel
        self.with_masks = with_masks
        self.num_classes = num_classes
        self.multilabel = multilabel
        self.all_regions = protocol.box_regions == "both"

    def new_state(self) -> EvalState:
        box = (BoxAccuracy(self.thresholds, iou_thresholds=self.protocol.iou_thresholds,
                           all_regions=self.all_regions) if self.with_boxes else None)
        mask = PixelAP(self.protocol.cam_step) if self.with_masks else None
        per_class = (PerClassPixelAP(self.protocol.cam_step, self.num_classes)
                     if self.with_masks and self.num_classes else None)
        return EvalState(box=box, mask=mask, mask_per_class=per_class)

    def evaluate_image(self, state: EvalState, item: ImageInput) -> None:
        """Add one image (or one (image, class) map for multi-label data) to ``state``."""
        label = item.map_label if item.map_label is not None else item.labels[0]
        if self.with_boxes:
            best = best_ious(item.scoremap, item.gt_boxes, self.thresholds, all_regions=self.all_regions)
            state.box.update(best, gt_label=label, pred_label=item.pred_label)
            state.curves.append(best.largest.astype(np.float32))
        if self.with_masks:
            state.mask.update(item.scoremap, item.gt_mask)
            if state.mask_per_class is not None:
                state.mask_per_class.update(item.scoremap, item.gt_mask, label)
        state.image_ids.append(item.image_id)
        state.labels.append(label)
        state.preds.append(item.pred_label)
        state.constant.append(bool(item.constant))

    def summarize(self, state: EvalState) -> dict:
        """Turn a state into the result sections: metrics, box, mask, per_class, per_image, counts."""
        box = state.box.compute().to_dict() if state.box is not None and state.image_ids else None
        mask = self._mask_section(state) if state.mask is not None else None
        metrics = self._metrics(box, mask, state)
        per_class, iou_at_best = self._per_class(state, box, mask)
        n_pred = sum(p is not None for p in state.preds)
        return {
            "metrics": metrics, "box": box, "mask": mask, "per_class": per_class,
            "per_image": {"image_ids": state.image_ids, "labels": state.labels, "predicted": state.preds,
                          "iou": iou_at_best, "constant_map": state.constant},
            "counts": {"n_images": len(state.image_ids), "n_constant_maps": int(sum(state.constant)),
                       "n_with_predicted_labels": n_pred},
        }

    def _mask_section(self, state: EvalState) -> dict:
        mask = state.mask.compute().to_dict()
        if state.mask_per_class is not None:
            mask["per_class"] = state.mask_per_class.compute_per_class()
        return mask

    def _metrics(self, box: dict | None, mask: dict | None, state: EvalState) -> dict:
        p = self.protocol
        m = dict.fromkeys(("maxboxacc", "maxboxacc_v2", "maxboxacc_iou30", "maxboxacc_iou50", "maxboxacc_iou70",
                           "gt_known_loc", "top1_loc", "top1_cls", "pxap", "piou", "mpxap"))
        key = str(p.maxboxacc_iou)
        has_pred = bool(state.preds) and all(x is not None for x in state.preds)
        if box is not None:
            largest = box["largest"]
            if p.fixed_threshold is None:
                m["maxboxacc"] = largest["max"][key]
                if box.get("all") is not None:
                    maxima = [box["all"]["max"][str(d)] for d in p.iou_thresholds]
                    m["maxboxacc_v2"] = float(np.mean(maxima))
                    for d in p.iou_thresholds:
                        if d in (30, 50, 70):
                            m[f"maxboxacc_iou{d}"] = box["all"]["max"][str(d)]
            m["gt_known_loc"] = largest["max"][key]   # a single threshold under cam2016: its accuracy
            if has_pred:
                m["top1_loc"] = largest["top1_at_best_threshold"][key]
        if has_pred:
            m["top1_cls"] = 100.0 * float(np.mean([a == b for a, b in zip(state.preds, state.labels)]))
        if mask is not None:
            m["pxap"], m["piou"] = mask["pxap"], mask["piou"]
            if self.multilabel and mask.get("per_class"):
                values = [v["pxap"] for v in mask["per_class"].values() if v.get("pxap") is not None]
                m["mpxap"] = float(np.mean(values)) if values else None
        return m

    def _per_class(self, state: EvalState, box: dict | None, mask: dict | None):
        labels = np.asarray(state.labels, dtype=np.int64)
        iou_at_best = [None] * len(labels)
        correct = None
        if box is not None and state.curves:
            key = str(self.protocol.maxboxacc_iou)
            t = box["largest"]["best_threshold_index"][key]
            iou_at_best = [float(c[t]) for c in state.curves]
            correct = np.array([c[t] for c in state.curves], np.float64) >= self.protocol.maxboxacc_iou / 100
        preds = state.preds
        per_class = {}
        for c in np.unique(labels) if len(labels) else []:
            sel = labels == c
            entry = {"n_images": int(sel.sum()), "gt_known_loc": None, "top1_cls": None, "pxap": None}
            if correct is not None:
                entry["gt_known_loc"] = 100.0 * float(correct[sel].mean())
            if preds and all(p is not None for p in preds):
                entry["top1_cls"] = 100.0 * float(np.mean([preds[i] == c for i in np.flatnonzero(sel)]))
            if mask is not None and mask.get("per_class"):
                entry["pxap"] = mask["per_class"].get(str(int(c)), {}).get("pxap")
            per_class[str(int(c))] = entry
        return per_class, iou_at_best
