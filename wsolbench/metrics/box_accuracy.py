"""Box accuracy over a dataset: MaxBoxAcc, MaxBoxAccV2, GT-known and top-1 localisation.

Torchmetrics style: a pure core (:func:`_update` turns one image's :class:`BestIoU` into state
increments, :func:`_compute` turns a state into a :class:`BoxAccuracyResult`) shared by the
accumulator :class:`BoxAccuracy` and the one-call :func:`box_accuracy`.

The state is a few named int64 arrays that **add**, so shards evaluated anywhere merge exactly by
summation. Axes of the 2-D arrays: ``[iou threshold, CAM threshold]``.

* ``correct_largest``, ``correct_all``: images whose best IoU (largest region / all regions) is
  ``>= iou / 100`` (the reference's float64 ``>=``).
* ``top1_largest``, ``top1_all``: the same AND the predicted label equals the GT label.
* ``count`` (images), ``count_with_pred`` (images with a predicted label), ``cls_correct``
  (images whose predicted label is right). 0-d arrays.

The ``*_all`` arrays exist only when all regions are evaluated (MaxBoxAccV2).

Example:
    >>> import numpy as np
    >>> from wsolbench.metrics.boxes import best_ious
    >>> thresholds = np.arange(0, 1, 0.25)
    >>> m = np.zeros((8, 8)); m[2:6, 2:6] = 1.0
    >>> acc = BoxAccuracy(thresholds, iou_thresholds=(50,))
    >>> acc.update(best_ious(m, np.array([[2, 2, 5, 5]]), thresholds), gt_label=3, pred_label=3)
    >>> result = acc.compute()
    >>> result.maxboxacc, result.top1_loc
    (100.0, 100.0)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from wsolbench.errors import ProtocolError
from wsolbench.metrics.boxes import BestIoU, iou_rows

MODES = ("largest", "all")
SCALARS = ("count", "count_with_pred", "cls_correct")


def _iou_levels(iou_thresholds: Sequence[int]) -> np.ndarray:
    """float64 (n_iou, 1) ``iou / 100``, the reference's ``_THRESHOLD / 100``."""
    return (np.asarray(iou_thresholds, dtype=np.int64) / 100)[:, None]


def iou_level_grid(iou_thresholds: Sequence[int], n_modes: int, n_thresholds: int) -> np.ndarray:
    """The IoU levels repeated for every (mode, IoU, CAM threshold) cell, C-contiguous: comparing a
    (modes, 1, T) array of best IoUs with it is 1.6 times as fast as with the (n_iou, 1) broadcast."""
    shape = (n_modes, len(iou_thresholds), n_thresholds)
    return np.ascontiguousarray(np.broadcast_to(_iou_levels(iou_thresholds), shape))


def _update(best: BestIoU, *, iou_thresholds: Sequence[int], top1_ok: bool | None) -> dict:
    """State increments of one image.

    Args:
        best: the image's per-threshold best IoUs (T,).
        iou_thresholds: IoU thresholds in percent.
        top1_ok: ``True``/``False`` if the predicted label is right/wrong, ``None`` if the image
            has no predicted label.

    Returns:
        dict of int64 arrays: ``correct_<mode>``, ``top1_<mode>`` (n_iou, T) for each mode that
        ``best`` holds, and the 0-d ``count``, ``count_with_pred``, ``cls_correct``.
    """
    levels = _iou_levels(iou_thresholds)
    inc = {}
    for mode in MODES:
        ious = getattr(best, mode)
        if ious is None:
            continue
        correct = (np.asarray(ious, dtype=np.float64)[None, :] >= levels).astype(np.int64)
        inc[f"correct_{mode}"] = correct
        inc[f"top1_{mode}"] = correct if top1_ok else np.zeros_like(correct)
    inc["count"] = np.array(1, np.int64)
    inc["count_with_pred"] = np.array(int(top1_ok is not None), np.int64)
    inc["cls_correct"] = np.array(int(bool(top1_ok)), np.int64)
    return inc


def _empty_state(n_thresholds: int, n_iou: int, all_regions: bool) -> dict:
    state = {}
    for mode in MODES if all_regions else MODES[:1]:
        state[f"correct_{mode}"] = np.zeros((n_iou, n_thresholds), np.int64)
        state[f"top1_{mode}"] = np.zeros((n_iou, n_thresholds), np.int64)
    for name in SCALARS:
        state[name] = np.array(0, np.int64)
    return state


def _add_into(state: dict, inc: dict) -> None:
    """``state += inc`` key by key; the keys and shapes must match exactly."""
    if set(state) != set(inc):
        raise ValueError(f"cannot add box-accuracy states with different keys: {sorted(state)} vs "
                         f"{sorted(inc)} (one was built with all_regions and the other without)")
    for key, value in inc.items():
        value = np.asarray(value)
        if value.shape != state[key].shape:
            raise ValueError(f"box-accuracy state '{key}' has shape {value.shape}, expected "
                             f"{state[key].shape}: the thresholds or IoU thresholds differ")
        state[key] = state[key] + value.astype(np.int64)


@dataclass(frozen=True, eq=False)
class BoxModeResult:
    """Box accuracy of one region mode (``largest`` or ``all``); dicts are keyed by IoU percent.

    Attributes:
        num_correct: int64 (T,) images correct per CAM threshold (GT-known).
        curves: float64 (T,) ``num_correct * 100. / count`` (percent, the reference's expression).
        max: max of the curve (the reference ``BoxEvaluator.compute()`` value).
        best_threshold_index: first argmax of the curve; best_threshold: its CAM threshold.
        top1_curves: float64 (T,) percent of all images correct AND correctly classified
            (``None`` if no image has a predicted label).
        top1_at_best_threshold: the top-1 curve at ``best_threshold_index`` (same IoU).
        top1_max: max of the top-1 curve; top1_best_threshold_index: its first argmax.
    """

    num_correct: dict
    curves: dict
    max: dict
    best_threshold_index: dict
    best_threshold: dict
    top1_curves: dict | None
    top1_at_best_threshold: dict | None
    top1_max: dict | None
    top1_best_threshold_index: dict | None

    def to_dict(self) -> dict:
        """The mode section of the result JSON's ``box`` part (keys as strings, lists of numbers)."""
        def listed(d):
            return None if d is None else {str(k): v.tolist() for k, v in d.items()}

        def plain(d):
            return None if d is None else {str(k): v for k, v in d.items()}

        return {
            "num_correct": listed(self.num_correct), "curves": listed(self.curves),
            "max": plain(self.max), "best_threshold_index": plain(self.best_threshold_index),
            "best_threshold": plain(self.best_threshold), "top1_curves": listed(self.top1_curves),
            "top1_at_best_threshold": plain(self.top1_at_best_threshold),
        }


@dataclass(frozen=True, eq=False)
class BoxAccuracyResult:
    """The summarised box accuracy of a dataset.

    Attributes:
        thresholds: float64 (T,) the CAM-threshold grid.
        iou_thresholds: IoU thresholds in percent.
        count, count_with_pred, cls_correct: image counts (see the module docstring).
        largest: :class:`BoxModeResult` of the largest region (MaxBoxAcc).
        all: :class:`BoxModeResult` of all regions with holes (MaxBoxAccV2), or ``None``.
    """

    thresholds: np.ndarray
    iou_thresholds: tuple
    count: int
    count_with_pred: int
    cls_correct: int
    largest: BoxModeResult
    all: BoxModeResult | None

    @property
    def maxboxacc(self) -> float | None:
        """MaxBoxAcc: the largest-region maximum at IoU 50 (``None`` if 50 is not evaluated)."""
        return self.largest.max.get(50)

    @property
    def maxboxacc_v2(self) -> float | None:
        """MaxBoxAccV2: ``np.mean`` of the all-regions maxima over the IoU thresholds, in order."""
        if self.all is None:
            return None
        return float(np.mean([self.all.max[d] for d in self.iou_thresholds]))

    @property
    def gt_known_loc(self) -> float | None:
        """GT-known localisation accuracy (IoU 50, largest region, best threshold) = MaxBoxAcc."""
        return self.maxboxacc

    @property
    def top1_loc(self) -> float | None:
        """Top-1 localisation at IoU 50 at the GT-known best threshold (largest region)."""
        if self.largest.top1_at_best_threshold is None:
            return None
        return self.largest.top1_at_best_threshold.get(50)

    @property
    def top1_cls(self) -> float | None:
        """Top-1 classification accuracy in percent over the images with a predicted label."""
        if self.count_with_pred == 0:
            return None
        return self.cls_correct * 100.0 / self.count_with_pred

    def to_dict(self) -> dict:
        """The ``box`` part of the result JSON (``docs/result-json.md``)."""
        return {
            "thresholds": [float(t) for t in self.thresholds],
            "iou_thresholds": [int(d) for d in self.iou_thresholds],
            "largest": self.largest.to_dict(),
            "all": None if self.all is None else self.all.to_dict(),
        }


def _curve_stats(counts: np.ndarray, count: int, thresholds: np.ndarray):
    """(curve percent, max, first argmax, its threshold) of one count row (T,)."""
    curve = counts * 100. / float(count)
    index = int(np.argmax(curve))
    return curve, float(curve.max()), index, float(thresholds[index])


def _compute_mode(state: dict, mode: str, thresholds: np.ndarray, iou_thresholds: Sequence[int]) -> BoxModeResult:
    count = int(state["count"])
    with_pred = int(state["count_with_pred"]) > 0
    fields = {name: {} for name in ("num_correct", "curves", "max", "best_threshold_index", "best_threshold")}
    top1 = {name: {} for name in ("top1_curves", "top1_at_best_threshold", "top1_max", "top1_best_threshold_index")}
    for row, d in enumerate(iou_thresholds):
        d = int(d)
        counts = state[f"correct_{mode}"][row]
        curve, best, index, tau = _curve_stats(counts, count, thresholds)
        fields["num_correct"][d] = counts.copy()
        fields["curves"][d] = curve
        fields["max"][d] = best
        fields["best_threshold_index"][d] = index
        fields["best_threshold"][d] = tau
        t_curve, t_best, t_index, _ = _curve_stats(state[f"top1_{mode}"][row], count, thresholds)
        top1["top1_curves"][d] = t_curve
        top1["top1_at_best_threshold"][d] = float(t_curve[index])
        top1["top1_max"][d] = t_best
        top1["top1_best_threshold_index"][d] = t_index
    if not with_pred:
        top1 = dict.fromkeys(top1)
    return BoxModeResult(**fields, **top1)


def _compute(state: dict, thresholds: np.ndarray, iou_thresholds: Sequence[int]) -> BoxAccuracyResult:
    """Summarise a state (the ``all`` mode is computed iff the state holds ``correct_all``).

    Raises:
        ValueError: the state holds no image, or its shapes do not match the thresholds.
    """
    thresholds = np.asarray(thresholds, dtype=np.float64)
    iou_thresholds = tuple(int(d) for d in iou_thresholds)
    expected = _empty_state(len(thresholds), len(iou_thresholds), "correct_all" in state)
    _add_into(expected, state)                    # validates keys and shapes
    if int(state["count"]) == 0:
        raise ValueError("no image was accumulated: box accuracy is undefined on an empty set")
    modes = {mode: _compute_mode(state, mode, thresholds, iou_thresholds)
             for mode in MODES if f"correct_{mode}" in state}
    return BoxAccuracyResult(
        thresholds=thresholds, iou_thresholds=iou_thresholds, count=int(state["count"]),
        count_with_pred=int(state["count_with_pred"]), cls_correct=int(state["cls_correct"]),
        largest=modes["largest"], all=modes.get("all"))


def _check_grid(best: BestIoU, thresholds: np.ndarray) -> None:
    """The best IoUs must be over ``thresholds``: the same length and, when they record their grid, the
    same values (a grid of the same length with other thresholds would silently mislabel every curve)."""
    if best.largest.shape != thresholds.shape:
        raise ProtocolError(f"best IoUs have shape {best.largest.shape}, expected {thresholds.shape} "
                            "(one value per CAM threshold of this accumulator)")
    grid = best.thresholds
    if not (grid is None or grid is thresholds or np.array_equal(grid, thresholds)):    # `is`: the usual case
        diff = int(np.flatnonzero(np.asarray(best.thresholds) != thresholds)[0])
        raise ProtocolError(f"best IoUs were computed on another CAM-threshold grid than this accumulator's "
                            f"(threshold {diff}: {float(best.thresholds[diff])!r} vs {float(thresholds[diff])!r}); "
                            "call best_ious with the accumulator's thresholds (Protocol.cam_thresholds())")


def _top1_ok(gt_label, pred_label) -> bool | None:
    """Whether the predicted label is right; ``None`` without a prediction. A collection of GT
    labels (multi-label image) is right when it contains the prediction."""
    if pred_label is None:
        return None
    if gt_label is None:
        raise ValueError(f"a predicted label ({pred_label}) needs the GT label to score top-1 localisation")
    if isinstance(gt_label, (set, frozenset, tuple, list)):
        return pred_label in gt_label
    return bool(pred_label == gt_label)


class BoxAccuracy:
    """Accumulates box accuracy image by image; states of shards merge exactly by summation.

    Args:
        thresholds: float64 (T,) CAM thresholds (``Protocol.cam_thresholds()``).
        iou_thresholds: IoU thresholds in percent.
        all_regions: also accumulate the all-regions mode (MaxBoxAccV2).
    """

    def __init__(self, thresholds, *, iou_thresholds: Sequence[int] = (30, 50, 70), all_regions: bool = True):
        t = np.asarray(thresholds, dtype=np.float64)
        self.thresholds = t if t.ndim == 1 else t.reshape(-1)      # the caller's own array where it can
        self.iou_thresholds = tuple(int(d) for d in iou_thresholds)
        if not self.iou_thresholds or any(not 0 < d <= 100 for d in self.iou_thresholds):
            raise ValueError(f"IoU thresholds must be percentages in (0, 100], got {self.iou_thresholds}")
        self.all_regions = bool(all_regions)
        self._n_modes = 2 if self.all_regions else 1
        self._levels = iou_level_grid(self.iou_thresholds, self._n_modes, len(self.thresholds))
        # The state, kept so that an image costs one comparison (both modes at once) and one add of
        # bytes: `_hits[0]` counts the correct (mode, IoU, CAM threshold) cells of the images whose
        # label is right, `_hits[1]` those of the others, so correct = _hits[0] + _hits[1] and top1 =
        # _hits[0]. Images add into the uint8 `_recent` (a tenth of int64 + bool's cost), which moves
        # into `_hits` every 255 images (it cannot overflow) and before the state is read.
        self._hits = np.zeros((2, *self._levels.shape), np.int64)
        self._recent = np.zeros((2, *self._levels.shape), np.uint8)
        self._n_recent = 0
        self._count = self._count_with_pred = self._cls_correct = 0
        self._buffers()

    _BUFFERS = ("_right", "_other", "_hit", "_hit_bytes")

    def _buffers(self) -> None:
        """Views into the counters and the comparison's output buffer (rebuilt after a copy or
        unpickling, which would give views arrays of their own)."""
        self._right, self._other = self._recent                        # views: _recent[0], _recent[1]
        self._hit = np.empty(self._recent.shape[1:], bool)
        self._hit_bytes = self._hit.view(np.uint8)

    def __getstate__(self) -> dict:
        self._flush()
        return {k: v for k, v in self.__dict__.items() if k not in self._BUFFERS}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._buffers()

    def _flush(self) -> None:
        """Move the recent images' counts into the int64 state."""
        if self._n_recent:
            self._hits += self._recent
            self._recent[...] = 0
            self._n_recent = 0

    @property
    def state(self) -> dict:
        """A copy of the state: named int64 arrays (see the module docstring)."""
        self._flush()
        state = {}
        for m, mode in enumerate(MODES[:self._n_modes]):
            state[f"correct_{mode}"] = self._hits[0, m] + self._hits[1, m]
            state[f"top1_{mode}"] = self._hits[0, m].copy()
        state["count"] = np.array(self._count, np.int64)
        state["count_with_pred"] = np.array(self._count_with_pred, np.int64)
        state["cls_correct"] = np.array(self._cls_correct, np.int64)
        return state

    def update(self, best: BestIoU, *, gt_label=None, pred_label=None) -> None:
        """Add one image.

        Args:
            best: its :class:`BestIoU` over this accumulator's thresholds.
            gt_label: its GT class (or a collection of classes); needed with ``pred_label``.
            pred_label: its top-1 predicted class, or ``None``.
        """
        _check_grid(best, self.thresholds)
        if self.all_regions and best.all is None:
            raise ValueError("this accumulator evaluates all regions (MaxBoxAccV2) but the best IoUs have "
                             "none: call best_ious(..., all_regions=True)")
        ok = _top1_ok(gt_label, pred_label)
        np.greater_equal(iou_rows(best, self._n_modes), self._levels, out=self._hit)   # what _update adds
        recent = self._right if ok else self._other
        np.add(recent, self._hit_bytes, out=recent)
        self._n_recent += 1
        if self._n_recent == 255:
            self._flush()
        self._count += 1
        if ok is not None:
            self._count_with_pred += 1
            self._cls_correct += ok

    def merge_state(self, state: dict) -> "BoxAccuracy":
        """Add a state (e.g. from another process) into this one, in place; returns ``self``."""
        total = self.state                        # (recent images flushed)
        _add_into(total, state)                   # validates keys and shapes
        for m, mode in enumerate(MODES[:self._n_modes]):
            self._hits[0, m] = total[f"top1_{mode}"]
            self._hits[1, m] = total[f"correct_{mode}"] - total[f"top1_{mode}"]
        self._count, self._count_with_pred, self._cls_correct = (int(total[k]) for k in SCALARS)
        return self

    def merge(self, other: "BoxAccuracy") -> "BoxAccuracy":
        """Add another accumulator over the same thresholds into this one, in place; returns ``self``."""
        if not np.array_equal(other.thresholds, self.thresholds) or other.iou_thresholds != self.iou_thresholds:
            raise ValueError("cannot merge box accuracies over different CAM or IoU thresholds")
        return self.merge_state(other.state)

    def compute(self) -> BoxAccuracyResult:
        """The summary of everything accumulated so far."""
        return _compute(self.state, self.thresholds, self.iou_thresholds)


def box_accuracy(best_list: Iterable[BestIoU], *, thresholds, iou_thresholds: Sequence[int] = (30, 50, 70),
                 gt_labels=None, pred_labels=None) -> BoxAccuracyResult:
    """Box accuracy of a list of images in one call (the same core as :class:`BoxAccuracy`).

    Args:
        best_list: one :class:`BestIoU` per image; the all-regions mode is computed iff every
            image has it.
        thresholds: float64 (T,) CAM thresholds.
        iou_thresholds: IoU thresholds in percent.
        gt_labels, pred_labels: per-image labels (``None`` entries allowed in ``pred_labels``) or
            ``None``.
    """
    best_list = list(best_list)
    n = len(best_list)
    gt_labels = [None] * n if gt_labels is None else list(gt_labels)
    pred_labels = [None] * n if pred_labels is None else list(pred_labels)
    if len(gt_labels) != n or len(pred_labels) != n:
        raise ValueError(f"got {n} images but {len(gt_labels)} GT labels and {len(pred_labels)} predicted labels")
    all_regions = n > 0 and all(b.all is not None for b in best_list)
    thresholds = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    state = _empty_state(len(thresholds), len(iou_thresholds), all_regions)
    for best, gt, pred in zip(best_list, gt_labels, pred_labels):
        _check_grid(best, thresholds)
        if not all_regions:
            best = BestIoU(largest=best.largest, all=None)
        _add_into(state, _update(best, iou_thresholds=iou_thresholds, top1_ok=_top1_ok(gt, pred)))
    return _compute(state, thresholds, iou_thresholds)
