"""Golden parity of the box engine with the unmodified wsolevaluation reference.

Ground truth: ``tests/data/golden`` (``golden.npz`` inputs and per-image best IoUs, ``expected.json``
numbers); see its README. Every comparison is exact (``np.array_equal`` / ``==``).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from wsolbench.metrics import BestIoU, BoxAccuracy, best_ious, box_accuracy, extract_boxes, quantize
from wsolbench.protocol import get_protocol

GOLDEN = Path(__file__).parent / "data" / "golden"
STEPS = {"0.01": "0p01", "0.001": "0p001"}
MODES = {"largest": "maxboxacc", "all": "maxboxaccv2"}
IOUS = (30, 50, 70)


@pytest.fixture(scope="module")
def golden():
    with np.load(GOLDEN / "golden.npz") as z:
        data = {k: z[k] for k in z.files if k.startswith("box_")}
    data["expected"] = json.loads((GOLDEN / "expected.json").read_text())
    return data


def _gt(golden, i):
    return golden["box_gt_boxes_224"][golden["box_gt_image_index"] == i]


@pytest.fixture(scope="module")
def engine_ious(golden):
    """Per step: (largest (N, T), all (N, T)) computed by best_ious on the golden maps."""
    out = {}
    for step in STEPS:
        thresholds = np.array(golden["expected"]["cam_thresholds"][step])
        rows = [best_ious(m, _gt(golden, i), thresholds) for i, m in enumerate(golden["box_scoremaps"])]
        out[step] = rows
    return out


def test_threshold_grid_is_the_protocols(golden):
    for step in STEPS:
        grid = get_protocol("wsoleval", cam_step=float(step)).cam_thresholds()
        assert np.array_equal(grid, np.array(golden["expected"]["cam_thresholds"][step]))


def test_quantisation_matches_reference(golden):
    for m, u8 in zip(golden["box_scoremaps"], golden["box_scoremaps_u8"]):
        assert np.array_equal(quantize(m), u8)


@pytest.mark.parametrize("step", list(STEPS))
@pytest.mark.parametrize("mode", list(MODES))
def test_best_iou_arrays_equal_reference(golden, engine_ious, step, mode):
    ours = np.stack([getattr(r, mode) for r in engine_ious[step]])
    ref = golden[f"box_best_iou_{MODES[mode]}_int{STEPS[step]}"]
    assert ours.dtype == np.float64
    assert np.array_equal(ours, ref), np.argwhere(ours != ref)[:5]


def test_float64_input_gives_same_ious(golden):
    thresholds = np.arange(0, 1, 0.01)
    for i in (0, 7, 33):
        a = best_ious(golden["box_scoremaps"][i], _gt(golden, i), thresholds)
        b = best_ious(golden["box_scoremaps"][i].astype(np.float64), _gt(golden, i), thresholds)
        assert np.array_equal(a.largest, b.largest) and np.array_equal(a.all, b.all)


def _accumulated(golden, engine_ious, step):
    thresholds = np.array(golden["expected"]["cam_thresholds"][step])
    acc = BoxAccuracy(thresholds, iou_thresholds=IOUS, all_regions=True)
    for i, best in enumerate(engine_ious[step]):
        acc.update(best, gt_label=int(golden["box_gt_class"][i]), pred_label=int(golden["box_pred_class"][i]))
    return acc.compute()


@pytest.mark.parametrize("step", list(STEPS))
@pytest.mark.parametrize("mode", list(MODES))
def test_accumulated_numbers_equal_reference(golden, engine_ious, step, mode):
    result = _accumulated(golden, engine_ious, step)
    ref = golden["expected"]["box"][f"interval_{step}"][MODES[mode]]
    ours = getattr(result, mode)
    assert result.count == ref["cnt"] == 60
    for d in IOUS:
        k = str(d)
        assert ours.num_correct[d].tolist() == ref["num_correct"][k]
        assert ours.curves[d].tolist() == ref["curves"][k]
        assert ours.max[d] == ref["max_box_acc"][k]
        assert ours.best_threshold_index[d] == ref["optimal_threshold_index"][k]
        assert ours.best_threshold[d] == ref["optimal_threshold"][k]
        top1 = ref["top1_loc"][k]
        assert ours.top1_curves[d].tolist() == top1["curve"]
        assert ours.top1_at_best_threshold[d] == top1["at_gt_known_optimal_threshold"]
        assert ours.top1_max[d] == top1["max_over_thresholds"]
        assert ours.top1_best_threshold_index[d] == top1["argmax_over_thresholds"]
    assert float(np.mean([ours.max[d] for d in IOUS])) == ref["mean_max_box_acc"]


@pytest.mark.parametrize("step", list(STEPS))
def test_headline_numbers(golden, engine_ious, step):
    result = _accumulated(golden, engine_ious, step)
    ref = golden["expected"]["box"][f"interval_{step}"]
    assert result.maxboxacc == ref["maxboxacc"]["MaxBoxAcc"]
    assert result.maxboxacc_v2 == ref["maxboxaccv2"]["MaxBoxAccV2"]
    assert result.top1_loc == ref["maxboxacc"]["top1_loc"]["50"]["at_gt_known_optimal_threshold"]
    assert result.top1_cls == golden["expected"]["box"]["classification_top1_acc"]
    d = result.to_dict()
    assert d["largest"]["max"]["50"] == ref["maxboxacc"]["MaxBoxAcc"]
    assert d["all"]["curves"]["70"] == ref["maxboxaccv2"]["curves"]["70"]


@pytest.mark.parametrize("step", list(STEPS))
def test_one_call_from_reference_ious(golden, step):
    """The accumulation core alone, fed the reference's own best IoUs, reproduces its numbers."""
    key = STEPS[step]
    best = [BestIoU(largest=a, all=b) for a, b in zip(golden[f"box_best_iou_maxboxacc_int{key}"],
                                                      golden[f"box_best_iou_maxboxaccv2_int{key}"])]
    result = box_accuracy(best, thresholds=np.array(golden["expected"]["cam_thresholds"][step]),
                          iou_thresholds=IOUS, gt_labels=golden["box_gt_class"].tolist(),
                          pred_labels=golden["box_pred_class"].tolist())
    ref = golden["expected"]["box"][f"interval_{step}"]
    assert result.maxboxacc == ref["maxboxacc"]["MaxBoxAcc"]
    assert result.maxboxacc_v2 == ref["maxboxaccv2"]["MaxBoxAccV2"]


@pytest.mark.parametrize("step", list(STEPS))
@pytest.mark.parametrize("mode", list(MODES))
def test_iou_exactly_at_threshold_counts_as_correct(golden, engine_ious, step, mode):
    """Pairs whose best IoU equals iou/100 exactly are correct (``>=``); ``>`` would lose them."""
    ref = golden["expected"]["box"][f"interval_{step}"][MODES[mode]]
    ious = np.stack([getattr(r, mode) for r in engine_ious[step]])
    result = _accumulated(golden, engine_ious, step)
    for d in IOUS:
        exact = int((ious == d / 100).sum())
        assert exact == ref["iou_exactly_at_threshold_count"][str(d)]
        strict = (ious > d / 100).sum(axis=0)
        assert getattr(result, mode).num_correct[d].sum() == strict.sum() + exact
    assert sum(ref["iou_exactly_at_threshold_count"].values()) > 0


def test_extracted_boxes_equal_reference(golden):
    maps = golden["box_scoremaps"]
    cases = golden["expected"]["box"]["box_extraction"]
    n_ties = 0
    for case in cases:
        m = maps[case["image_index"]]
        assert int(quantize(m).max()) == case["u8_max"]
        for t in case["thresholds"]:
            largest = extract_boxes(m, t["value"], regions="largest").tolist()
            every = extract_boxes(m, t["value"], regions="all").tolist()
            where = (case["image_id"], t["value"])
            assert largest == t["boxes_largest_contour"], where
            assert Counter(map(tuple, every)) == Counter(map(tuple, t["boxes_all_contours"])), where
            assert len(every) == t["n_boxes_all_contours"]
            n_ties += t["largest_contour_tie"]
    assert n_ties >= 1                       # the tie cases are compared too, not skipped
