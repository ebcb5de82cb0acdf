"""The per-image core of evaluation, in stages like COCOeval: evaluate one image that is already in
the evaluation frame -> one row of a mergeable state -> summarize the state into the sections of an
:class:`~wsolbench.metrics.result.EvaluationResult`. It reads no files and formats nothing; the
public :class:`wsolbench.Evaluator` brings maps and ground truth into the frame and checks image ids.

The state (:class:`EvalState`) is one :class:`ImageRow` per evaluated map, keyed by the map's place
in the ground truth (record index, position of the map's class among the record's labels). A row
keeps all that its image contributes to every number: the per-threshold correctness bits of every
(region mode, IoU threshold), the best IoU curve of the largest region, and the PxAP histograms.
So shards evaluated in any order, in other processes or on other machines, merge exactly (a union
of rows), duplicates are found by key, the summary is the same whatever the order of evaluation,
and per-image resampling (bootstrap intervals) needs no second pass over the maps.

A row also keeps the image's diagnostics (pointing-game hit, energy share and, when asked, the
largest region's box area at every threshold; :mod:`wsolbench.metrics.diagnostics`), and
:meth:`FrameEvaluator.image_state` turns the rows into the columnar
:class:`~wsolbench.metrics.imagestate.ImageState` that bootstrap resampling works on.

Memory per row: ``T`` float32 + ``ceil(T / 8)`` bytes per (mode, IoU) for boxes (T = 100 at step
0.01: ~0.5 KB; T = 1000: ~4.8 KB), ``2 (T + 2)`` uint16 for masks at 224x224 (uint32 for frames over
65,535 pixels), and with box sizes ``T`` uint16 more (2 KB at T = 1000).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from wsolbench.errors import AnnotationError, FormatError, ProtocolError, where
from wsolbench.metrics.box_accuracy import MODES, BoxAccuracy, _top1_ok, iou_level_grid
from wsolbench.metrics.boxes import BestIoU, best_ious, iou_rows
from wsolbench.metrics.diagnostics import image_diagnostics, summarize_diagnostics
from wsolbench.metrics.imagestate import ImageState
from wsolbench.metrics.masks import PerClassPixelAP, PixelAP
from wsolbench.metrics.sizes import area_dtype
from wsolbench.protocol import Protocol

SUM_CHUNK = 2048        # rows whose bits are unpacked at once when summing


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
        key: the map's place in the ground truth, ``(record index, class position)``; rows are
            summarised in key order.
        best: the map's best IoUs on the evaluator's threshold grid when they were computed with the
            post-processing (:func:`~wsolbench.metrics.boxes.postprocess_best_ious`), else ``None``.
    """

    image_id: str
    labels: tuple[int, ...]
    scoremap: np.ndarray
    gt_boxes: np.ndarray
    gt_mask: np.ndarray | None = None
    pred_label: int | None = None
    map_label: int | None = None
    constant: bool = False
    key: tuple[int, int] = (0, 0)
    best: BestIoU | None = None


@dataclass(eq=False)
class ImageRow:
    """What one evaluated map leaves in the state.

    Attributes:
        image_id: the dataset id.
        label: the class the map was scored for (the GT class, or the map's class for multi-label data).
        pred: top-1 predicted class or ``None``.
        constant: the raw map was constant or NaN.
        largest: float32 (T,) best IoU per CAM threshold, largest region (``None`` without boxes).
        correct: uint8 ``np.packbits`` of the bool array (modes, IoU thresholds, T) "best IoU >= IoU
            threshold" along the last axis; modes are ``largest`` then ``all`` (``None`` without boxes).
        fg_hist, bg_hist: (T + 2,) PxAP score histograms of foreground / background pixels, uint16
            (uint32 for frames over 65,535 pixels), ``None`` without masks.
        hit: the pointing game's hit; energy: the energy share inside the ground truth.
        box_area: (T,) unsigned area of the largest region's box per threshold, or ``None`` (not
            asked, or no boxes); gt_area: area of the largest GT box; n_gt_boxes: GT boxes.
    """

    image_id: str
    label: int
    pred: int | None
    constant: bool
    largest: np.ndarray | None = None
    correct: np.ndarray | None = None
    fg_hist: np.ndarray | None = None
    bg_hist: np.ndarray | None = None
    hit: bool | None = None
    energy: float | None = None
    box_area: np.ndarray | None = None
    gt_area: int | None = None
    n_gt_boxes: int = 0


def listing(items, limit: int = 5) -> str:
    items = list(items)
    shown = ", ".join(repr(i) for i in items[:limit])
    return shown + (f" (and {len(items) - limit} more)" if len(items) > limit else "")


@dataclass
class EvalState:
    """Mergeable evaluation state: one :class:`ImageRow` per map, keyed by its place in the ground truth.

    Attributes:
        protocol_hash: the protocol the rows were evaluated under.
        dataset: an identity of the ground truth (its name, split and a digest of its image ids); states
            of different ground truths never merge.
        rows: ``{(record index, class position): ImageRow}``.
    """

    protocol_hash: str
    dataset: str
    rows: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.rows)

    def merge(self, other: "EvalState", *, drop_duplicates: bool = False) -> "EvalState":
        """Add ``other``'s rows into this state (in place) and return it.

        Args:
            other: a state of the same protocol and ground truth.
            drop_duplicates: keep this state's row where both hold one for the same map (e.g. the
                images ``DistributedSampler`` repeats to pad the last batch); by default that is an error.

        Raises:
            ProtocolError: another protocol. FormatError: another ground truth, or a map in both states.
        """
        if other.protocol_hash != self.protocol_hash:
            raise ProtocolError(f"cannot merge evaluation states of different protocols (hash {self.protocol_hash} "
                                f"and {other.protocol_hash}); evaluate every shard with the same protocol")
        if other.dataset != self.dataset:
            raise FormatError(f"cannot merge evaluation states of different ground truths ({self.dataset} and "
                              f"{other.dataset}); evaluate every shard against the same dataset split")
        if not drop_duplicates:
            both = [k for k in other.rows if k in self.rows]
            if both:
                ids = [other.rows[k].image_id for k in sorted(both)]
                raise FormatError(f"{len(both)} map(s) were evaluated in both shards: {listing(ids)}; give every "
                                  "image to one shard only, or merge/sync with drop_duplicates=True (for the images "
                                  "a DistributedSampler repeats to pad its last batch)")
        for k, row in other.rows.items():
            self.rows.setdefault(k, row)
        return self

    def ordered_rows(self) -> list[ImageRow]:
        """The rows in ground-truth order."""
        return [self.rows[k] for k in sorted(self.rows)]


class FrameEvaluator:
    """Evaluates images in the evaluation frame under one protocol.

    Args:
        protocol: the protocol.
        with_boxes: compute box metrics (the dataset has boxes).
        with_masks: compute mask metrics (the dataset has masks).
        num_classes: number of classes (for per-class mask metrics).
        multilabel: the dataset is multi-label (maps per (image, class); mPxAP).
        box_sizes: record the largest region's box area at every threshold, for the size diagnostics
            (one more largest-region sweep per map).
    """

    def __init__(self, protocol: Protocol, *, with_boxes: bool, with_masks: bool,
                 num_classes: int | None = None, multilabel: bool = False, box_sizes: bool = False):
        self.protocol = protocol
        self.thresholds = protocol.cam_thresholds()
        self.with_boxes = with_boxes and not multilabel
        self.with_masks = with_masks
        self.num_classes = num_classes
        self.multilabel = multilabel
        self.all_regions = protocol.box_regions == "both"
        self.modes = MODES if self.all_regions else MODES[:1]
        self._pxap = PixelAP(protocol.cam_step) if with_masks else None
        self.box_sizes = bool(box_sizes) and self.with_boxes
        self._hist_dtype = area_dtype(protocol.height, protocol.width)
        self._iou_levels = iou_level_grid(protocol.iou_thresholds, len(self.modes), len(self.thresholds))

    def new_state(self, dataset: str = "") -> EvalState:
        return EvalState(protocol_hash=self.protocol.hash(), dataset=dataset)

    def evaluate_image(self, item: ImageInput) -> ImageRow:
        """One image's (or one (image, class) map's) row."""
        label = item.map_label if item.map_label is not None else item.labels[0]
        row = ImageRow(image_id=item.image_id, label=int(label), pred=item.pred_label, constant=bool(item.constant))
        if self.with_boxes:
            best = item.best
            if best is None:
                best = best_ious(item.scoremap, item.gt_boxes, self.thresholds, all_regions=self.all_regions)
            ious = iou_rows(best, len(self.modes))                                    # (modes, 1, T)
            row.correct = np.packbits(ious >= self._iou_levels, axis=-1)               # (modes, IoU, T) bits
            row.largest = best.largest.astype(np.float32)
        if self.with_masks:
            if self.num_classes and not 0 <= row.label < self.num_classes:
                raise AnnotationError(f"{where(image_id=item.image_id)}class index {row.label} is outside "
                                      f"[0, {self.num_classes - 1}]; check the class labels and num_classes")
            fg, bg = self._pxap._update(item.scoremap, item.gt_mask, image_id=item.image_id)
            row.fg_hist, row.bg_hist = fg.astype(self._hist_dtype), bg.astype(self._hist_dtype)
        diag = image_diagnostics(item.scoremap, gt_boxes=item.gt_boxes,
                                 gt_mask=item.gt_mask if self.with_masks else None,
                                 thresholds=self.thresholds if self.box_sizes else None)
        row.hit, row.energy, row.box_area = diag["hit"], diag["energy"], diag["box_area"]
        row.gt_area, row.n_gt_boxes = diag["gt_area"], diag["n_gt_boxes"]
        return row

    def add(self, state: EvalState, item: ImageInput) -> None:
        """Evaluate one image into ``state`` (replacing a row of the same key)."""
        state.rows[item.key] = self.evaluate_image(item)

    # --- summarize -----------------------------------------------------------------------------

    def box_accuracy(self, rows: list[ImageRow]) -> BoxAccuracy:
        """The :class:`BoxAccuracy` accumulator holding the sum of the rows."""
        acc = BoxAccuracy(self.thresholds, iou_thresholds=self.protocol.iou_thresholds, all_regions=self.all_regions)
        n_t = len(self.thresholds)
        correct = np.zeros((len(self.modes), len(self.protocol.iou_thresholds), n_t), np.int64)
        top1 = np.zeros_like(correct)
        for start in range(0, len(rows), SUM_CHUNK):
            chunk = rows[start:start + SUM_CHUNK]
            bits = np.unpackbits(np.stack([r.correct for r in chunk]), axis=-1, count=n_t)
            correct += bits.sum(axis=0, dtype=np.int64)
            right = np.array([bool(_top1_ok(r.label, r.pred)) for r in chunk])
            top1 += bits[right].sum(axis=0, dtype=np.int64)
        state = {}
        for m, mode in enumerate(self.modes):
            state[f"correct_{mode}"], state[f"top1_{mode}"] = correct[m], top1[m]
        state["count"] = np.array(len(rows), np.int64)
        state["count_with_pred"] = np.array(sum(r.pred is not None for r in rows), np.int64)
        state["cls_correct"] = np.array(sum(bool(_top1_ok(r.label, r.pred)) for r in rows), np.int64)
        return acc.merge_state(state)

    def pixel_ap(self, rows: list[ImageRow]) -> tuple[PixelAP, PerClassPixelAP | None]:
        """The PxAP accumulators (overall, per class) holding the sum of the rows."""
        pxap = PixelAP(self.protocol.cam_step)
        per_class = PerClassPixelAP(self.protocol.cam_step, self.num_classes) if self.num_classes else None
        for r in rows:
            pxap.fg_hist += r.fg_hist
            pxap.bg_hist += r.bg_hist
            if per_class is not None:
                per_class.fg_hist[r.label] += r.fg_hist
                per_class.bg_hist[r.label] += r.bg_hist
                per_class.n_images[r.label] += 1
        pxap.n_images = len(rows)
        return pxap, per_class

    def summarize(self, state: EvalState) -> dict:
        """Turn a state into the result sections: metrics, box, mask, per_class, per_image, counts."""
        rows = state.ordered_rows()
        box = self.box_accuracy(rows).compute().to_dict() if self.with_boxes and rows else None
        mask = self._mask_section(rows) if self.with_masks else None
        metrics = self._metrics(box, mask, rows)
        per_class, iou_at_best = self._per_class(rows, box, mask)
        n_pred = sum(r.pred is not None for r in rows)
        diagnostics, diag_per_image = summarize_diagnostics(
            rows, box=box, mask=mask, maxboxacc_iou=self.protocol.maxboxacc_iou, with_masks=self.with_masks)
        return {
            "metrics": metrics, "box": box, "mask": mask, "per_class": per_class,
            "per_image": {"image_ids": [r.image_id for r in rows], "labels": [r.label for r in rows],
                          "predicted": [r.pred for r in rows], "iou": iou_at_best,
                          "constant_map": [r.constant for r in rows], **diag_per_image},
            "counts": {"n_images": len(rows), "n_constant_maps": int(sum(r.constant for r in rows)),
                       "n_with_predicted_labels": n_pred},
            "diagnostics": diagnostics,
        }

    def image_state(self, state: EvalState) -> ImageState:
        """The rows of ``state`` as columnar arrays (ground-truth order), for bootstrap resampling."""
        rows = state.ordered_rows()
        p = self.protocol

        def stacked(name):
            return np.stack([getattr(r, name) for r in rows]) if rows and getattr(rows[0], name) is not None else None

        return ImageState(
            image_ids=[r.image_id for r in rows], labels=np.array([r.label for r in rows], np.int64),
            predicted=np.array([-1 if r.pred is None else int(r.pred) for r in rows], np.int64),
            thresholds=np.asarray(self.thresholds, np.float64), iou_thresholds=tuple(p.iou_thresholds),
            maxboxacc_iou=p.maxboxacc_iou, modes=tuple(self.modes), fixed_threshold=p.fixed_threshold is not None,
            correct=stacked("correct") if self.with_boxes else None, cam_step=p.cam_step,
            fg_hist=stacked("fg_hist") if self.with_masks else None,
            bg_hist=stacked("bg_hist") if self.with_masks else None, multilabel=self.multilabel,
            pointing_hit=np.array([bool(r.hit) for r in rows]), energy=np.array([r.energy for r in rows], np.float64),
            protocol_hash=p.hash())

    def _mask_section(self, rows: list[ImageRow]) -> dict:
        pxap, per_class = self.pixel_ap(rows)
        mask = pxap.compute().to_dict()
        if per_class is not None:
            mask["per_class"] = per_class.compute_per_class()
        return mask

    def _metrics(self, box: dict | None, mask: dict | None, rows: list[ImageRow]) -> dict:
        p = self.protocol
        m = dict.fromkeys(("maxboxacc", "maxboxacc_v2", "maxboxacc_iou30", "maxboxacc_iou50", "maxboxacc_iou70",
                           "gt_known_loc", "top1_loc", "top1_cls", "pxap", "piou", "mpxap"))
        key = str(p.maxboxacc_iou)
        has_pred = bool(rows) and all(r.pred is not None for r in rows)
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
            m["top1_cls"] = 100.0 * float(np.mean([r.pred == r.label for r in rows]))
        if mask is not None:
            m["pxap"], m["piou"] = mask["pxap"], mask["piou"]
            if self.multilabel and mask.get("per_class"):
                values = [v["pxap"] for v in mask["per_class"].values() if v.get("pxap") is not None]
                m["mpxap"] = float(np.mean(values)) if values else None
        return m

    def _correct_at(self, rows: list[ImageRow], t: int) -> np.ndarray:
        """bool (n,) largest-region correctness at the MaxBoxAcc IoU and CAM threshold index ``t``."""
        i = self.protocol.iou_thresholds.index(self.protocol.maxboxacc_iou)
        byte = np.array([r.correct[0, i, t // 8] for r in rows], np.uint8)
        return ((byte >> (7 - t % 8)) & 1).astype(bool)

    def _per_class(self, rows: list[ImageRow], box: dict | None, mask: dict | None):
        labels = np.asarray([r.label for r in rows], dtype=np.int64)
        iou_at_best = [None] * len(labels)
        correct = None
        if box is not None and rows:
            t = box["largest"]["best_threshold_index"][str(self.protocol.maxboxacc_iou)]
            iou_at_best = [float(r.largest[t]) for r in rows]
            correct = self._correct_at(rows, t)
        preds = [r.pred for r in rows]
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
