"""The box-accuracy accumulator: exact merging of shards, one-call == accumulator, top-1 rules,
the result dictionary, and errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

from wsolbench.metrics import BestIoU, BoxAccuracy, best_ious, box_accuracy
from wsolbench.metrics.box_accuracy import _compute, _update

THRESHOLDS = np.arange(0, 1, 0.05)
IOUS = (30, 50, 70)


def _dataset(n=23, seed=0):
    """Random blob maps with GT boxes, labels and predictions: (best IoUs, gt labels, preds)."""
    rng = np.random.default_rng(seed)
    best, gt_labels, preds = [], [], []
    for i in range(n):
        m = ndimage.gaussian_filter(rng.random((32, 40)), rng.uniform(2, 5))
        m = (m - m.min()) / (m.max() - m.min())
        x0, y0 = rng.integers(0, 20), rng.integers(0, 16)
        gt = np.array([[x0, y0, x0 + rng.integers(3, 20), y0 + rng.integers(3, 16)]])
        best.append(best_ious(m, gt, THRESHOLDS))
        gt_labels.append(int(rng.integers(0, 3)))
        preds.append(int(rng.integers(0, 3)))
    return best, gt_labels, preds


def _accumulate(items, **kw):
    acc = BoxAccuracy(THRESHOLDS, iou_thresholds=IOUS, **kw)
    for best, gt, pred in items:
        acc.update(best, gt_label=gt, pred_label=pred)
    return acc


def _same_state(a, b):
    return set(a) == set(b) and all(np.array_equal(a[k], b[k]) and a[k].dtype == b[k].dtype for k in a)


def test_sharded_equals_unsharded():
    items = list(zip(*_dataset()))
    whole = _accumulate(items)
    shards = [_accumulate(items[:5]), _accumulate(items[5:6]), _accumulate(items[6:])]
    merged = BoxAccuracy(THRESHOLDS, iou_thresholds=IOUS)
    for shard in shards:
        merged.merge(shard)
    assert _same_state(merged.state, whole.state)
    via_dicts = BoxAccuracy(THRESHOLDS, iou_thresholds=IOUS)
    for shard in reversed(shards):
        via_dicts.merge_state(shard.state)
    assert _same_state(via_dicts.state, whole.state)
    assert merged.compute().to_dict() == whole.compute().to_dict()
    assert int(whole.state["count"]) == len(items)


def test_one_call_equals_accumulator():
    best, gt, preds = _dataset(seed=1)
    one = box_accuracy(best, thresholds=THRESHOLDS, iou_thresholds=IOUS, gt_labels=gt, pred_labels=preds)
    acc = _accumulate(zip(best, gt, preds)).compute()
    assert one.to_dict() == acc.to_dict()
    assert (one.maxboxacc, one.maxboxacc_v2, one.top1_loc, one.top1_cls) == (
        acc.maxboxacc, acc.maxboxacc_v2, acc.top1_loc, acc.top1_cls)


def test_counts_curves_and_first_argmax():
    t = np.array([0.1, 0.2, 0.3])
    best = [BestIoU(largest=np.array([0.5, 0.7, 0.2]), all=np.array([0.5, 0.7, 0.3])),
            BestIoU(largest=np.array([0.49, 0.5, 0.3]), all=np.array([0.49, 0.5, 0.3])),
            BestIoU(largest=np.array([0.9, 0.29, 0.3]), all=np.array([0.9, 0.3, 0.7]))]
    r = box_accuracy(best, thresholds=t, iou_thresholds=IOUS, gt_labels=[0, 1, 2], pred_labels=[0, 1, 0])
    assert r.largest.num_correct[50].tolist() == [2, 2, 0]          # 0.5 >= 0.5 counts
    assert r.largest.num_correct[30].tolist() == [3, 2, 2]
    assert r.all.num_correct[70].tolist() == [1, 1, 1]
    assert r.largest.curves[50].tolist() == [2 * 100. / 3, 2 * 100. / 3, 0.0]
    assert r.largest.best_threshold_index[50] == 0 and r.largest.best_threshold[50] == 0.1
    assert r.largest.top1_curves[50].tolist() == [100. / 3, 2 * 100. / 3, 0.0]
    assert r.largest.top1_at_best_threshold[50] == 100. / 3
    assert r.largest.top1_max[50] == 2 * 100. / 3 and r.largest.top1_best_threshold_index[50] == 1
    assert r.maxboxacc == 2 * 100. / 3 == r.gt_known_loc
    assert r.maxboxacc_v2 == float(np.mean([r.all.max[d] for d in IOUS]))
    assert r.top1_cls == 2 * 100. / 3


def test_top1_rules_without_and_with_partial_predictions():
    best, gt, _ = _dataset(n=6, seed=2)
    r = box_accuracy(best, thresholds=THRESHOLDS, iou_thresholds=IOUS, gt_labels=gt)
    assert r.top1_loc is None and r.top1_cls is None and r.largest.top1_curves is None
    assert r.to_dict()["largest"]["top1_curves"] is None
    preds = [gt[0], None, None, None, None, None]
    r = box_accuracy(best, thresholds=THRESHOLDS, iou_thresholds=IOUS, gt_labels=gt, pred_labels=preds)
    assert r.count_with_pred == 1 and r.top1_cls == 100.0
    correct = np.array([b.largest for b in best[:1]]) >= 0.5
    assert np.array_equal(r.largest.top1_curves[50], correct[0] * 100. / 6)   # percent of ALL images


def test_multilabel_gt_accepts_any_of_its_labels():
    best = [BestIoU(largest=np.array([0.8]), all=None)]
    r = box_accuracy(best, thresholds=[0.5], iou_thresholds=(50,), gt_labels=[{2, 5}], pred_labels=[5])
    assert r.top1_loc == 100.0 and r.all is None and r.maxboxacc_v2 is None


def test_largest_only_accumulator():
    best, gt, preds = _dataset(n=5, seed=3)
    acc = BoxAccuracy(THRESHOLDS, iou_thresholds=IOUS, all_regions=False)
    for b, g, p in zip(best, gt, preds):
        acc.update(b, gt_label=g, pred_label=p)
    assert not any(k.endswith("_all") for k in acc.state)
    r = acc.compute()
    assert r.all is None and r.to_dict()["all"] is None
    full = _accumulate(zip(best, gt, preds)).compute()
    assert r.to_dict()["largest"] == full.to_dict()["largest"]


def test_result_dict_is_the_documented_json():
    best, gt, preds = _dataset(n=4, seed=4)
    d = box_accuracy(best, thresholds=THRESHOLDS, iou_thresholds=IOUS, gt_labels=gt, pred_labels=preds).to_dict()
    assert set(d) == {"thresholds", "iou_thresholds", "largest", "all"}
    assert set(d["largest"]) == {"num_correct", "curves", "max", "best_threshold_index", "best_threshold",
                                 "top1_curves", "top1_at_best_threshold"}
    assert set(d["all"]["curves"]) == {"30", "50", "70"} and len(d["all"]["curves"]["50"]) == len(THRESHOLDS)
    assert d["thresholds"] == THRESHOLDS.tolist() and d["iou_thresholds"] == [30, 50, 70]
    assert json.loads(json.dumps(d)) == d


def test_pure_core_increments_add():
    best = BestIoU(largest=np.array([0.3, 0.7]), all=np.array([0.3, 0.8]))
    inc = _update(best, iou_thresholds=IOUS, top1_ok=False)
    assert inc["correct_largest"].tolist() == [[1, 1], [0, 1], [0, 1]]
    assert inc["top1_largest"].sum() == 0 and int(inc["count_with_pred"]) == 1 and int(inc["cls_correct"]) == 0
    doubled = {k: v + v for k, v in inc.items()}
    r = _compute(doubled, np.array([0.0, 0.5]), IOUS)
    assert r.count == 2 and r.all.num_correct[70].tolist() == [0, 2]


def test_errors():
    acc = BoxAccuracy(THRESHOLDS, iou_thresholds=IOUS)
    with pytest.raises(ValueError, match="no image"):
        acc.compute()
    with pytest.raises(ValueError, match="shape"):
        acc.update(BestIoU(largest=np.zeros(3), all=np.zeros(3)))
    with pytest.raises(ValueError, match="all_regions=True"):
        acc.update(BestIoU(largest=np.zeros(len(THRESHOLDS)), all=None))
    with pytest.raises(ValueError, match="GT label"):
        acc.update(BestIoU(largest=np.zeros(len(THRESHOLDS)), all=np.zeros(len(THRESHOLDS))), pred_label=1)
    with pytest.raises(ValueError, match="different"):
        acc.merge(BoxAccuracy(THRESHOLDS[:-1], iou_thresholds=IOUS))
    with pytest.raises(ValueError, match="keys"):
        acc.merge(BoxAccuracy(THRESHOLDS, iou_thresholds=IOUS, all_regions=False))
    with pytest.raises(ValueError, match="percentages"):
        BoxAccuracy(THRESHOLDS, iou_thresholds=(0, 50))
