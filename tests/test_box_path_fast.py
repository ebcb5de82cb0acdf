"""The per-map fast paths of the box path give what the general paths give, bit for bit and message
for message: the engine's own checks of GT boxes, thresholds and raw maps (its refusal codes turned
into the Python checks' errors, in the same order), the extension's entry against the ctypes call,
``BoxAccuracy``'s split state, the stacked IoU rows, and the Python-number paths of ``resize_boxes``,
the pointing game and the largest GT area."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import numpy as np
import pytest

from wsolbench.errors import BoxConventionError, FormatError, ProtocolError
from wsolbench.metrics import native
from wsolbench.metrics.box_accuracy import BoxAccuracy, _add_into, _empty_state, _top1_ok, _update
from wsolbench.metrics.boxes import (BestIoU, _as_int_boxes, _check_thresholds, best_ious, iou_rows,
                                     postprocess_best_ious)
from wsolbench.metrics.gt import resize_boxes
from wsolbench.metrics.pointing import _box_distance2, energy_share, max_point, pointing_hit
from wsolbench.metrics.resize import check_raw_map
from wsolbench.metrics.sizes import largest_gt_area
from wsolbench.protocol import get_protocol


@pytest.fixture(params=["extension", "ctypes"])
def entry(request, monkeypatch):
    """Run the test through the built extension's Python entry, then through the ctypes call."""
    if request.param == "extension":
        if native.raw_entry() is None:
            pytest.skip("the engine is a fallback build here (engine.c differs from the installed extension, or "
                        "pip install built none): only the ctypes call exists; pip install -e . builds the entry")
    else:
        native.engine()
        monkeypatch.setattr(native, "_RAW_ENTRY", None)
        monkeypatch.setattr(native, "_BEST_ENTRY", None)
    return request.param


def _message(fn, *args, **kwargs) -> str:
    with pytest.raises(Exception) as e:
        fn(*args, **kwargs)
    return f"{type(e.value).__name__}: {e.value}"


P = get_protocol(cam_step=0.01)
T = P.cam_thresholds()
RNG = np.random.default_rng(11)
RAW = RNG.normal(size=(7, 7))
GT = np.array([[10, 20, 120, 150]])
INF = RAW.copy()
INF[2, 3] = np.inf
BAD_GT = {"negative": np.array([[10, 20, 120, 150], [-1, 0, 5, 5]]), "swapped": np.array([[10, 20, 5, 150]])}
BAD_T = {"negative": np.r_[T, -0.25], "one": np.r_[T, 1.0], "nan": np.r_[np.nan, T]}


@pytest.mark.parametrize("raw", [RAW, RAW.astype(np.float32), RNG.normal(size=(224, 224))], ids=["f64", "f32", "224"])
def test_engine_refusals_raise_the_python_checks_errors(entry, raw):
    for name, gt in BAD_GT.items():
        expected = _message(_as_int_boxes, gt, "GT boxes", BoxConventionError)
        assert _message(postprocess_best_ious, raw, P, gt, T) == expected, name
        assert _message(best_ious, np.clip(raw, 0, 1), gt, T) == expected, name
    for name, t in BAD_T.items():
        expected = _message(_check_thresholds, t)
        assert _message(postprocess_best_ious, raw, P, GT, t) == expected, name
        assert _message(best_ious, np.clip(raw, 0, 1), GT, t) == expected, name
    bad = raw.copy()
    bad[0, 0] = -np.inf
    expected = _message(check_raw_map, bad, image_id="img/1.jpg")
    assert "infinite" in expected
    assert _message(postprocess_best_ious, bad, P, GT, T, image_id="img/1.jpg") == expected


def test_the_first_problem_is_reported_as_the_checks_order_them(entry):
    inf_error = _message(check_raw_map, INF)
    gt_error = _message(_as_int_boxes, BAD_GT["negative"], "GT boxes", BoxConventionError)
    # the map first, then the GT boxes, then the thresholds, then the map's values
    assert _message(postprocess_best_ious, INF, P, BAD_GT["negative"], BAD_T["nan"]) == inf_error
    assert _message(postprocess_best_ious, INF, P, [[1, 2, 3]], T) == inf_error         # GT checked in Python
    assert _message(postprocess_best_ious, INF, P, GT, T[None]) == inf_error            # thresholds in Python
    assert _message(postprocess_best_ious, RAW, P, BAD_GT["negative"], BAD_T["one"]) == gt_error
    assert _message(postprocess_best_ious, RAW, P, BAD_GT["negative"], T[None]) == gt_error
    assert _message(postprocess_best_ious, RAW, P, BAD_GT["negative"], np.array([])) == gt_error
    assert _message(best_ious, np.full((5, 5), np.nan), BAD_GT["swapped"], BAD_T["one"]).startswith(
        "BoxConventionError")
    assert _message(best_ious, np.full((5, 5), np.nan), GT, BAD_T["one"]).startswith("ProtocolError")
    with pytest.raises(FormatError, match="NaN or infinite"):
        best_ious(np.full((5, 5), np.nan), GT, T)


def test_extension_entry_and_ctypes_call_agree(monkeypatch):
    if native.raw_entry() is None:
        pytest.skip("the engine is a fallback build here: no extension entry to compare with the ctypes call")
    rng = np.random.default_rng(3)
    protocol = get_protocol(cam_step=0.001)
    t = protocol.cam_thresholds()
    cases = [(rng.normal(size=(s, s)).astype(dtype), gt, all_regions)
             for s in (7, 14, 28, 224) for dtype in (np.float64, np.float32)
             for gt in (np.array([[30, 40, 150, 200]]), np.zeros((0, 4), np.int64),
                        np.array([[0, 0, 223, 223], [5, 5, 9, 9]]))
             for all_regions in (True, False)]
    cases += [(np.ones((7, 7)), GT, True), (np.full((7, 7), np.nan), GT, True), (rng.normal(size=(9, 30)), GT, True)]

    def run():
        out = []
        for raw, gt, all_regions in cases:
            m, constant, best = postprocess_best_ious(raw, protocol, gt, t, all_regions=all_regions)
            every = None if best.all is None else best.all.tobytes()
            out.append((m.tobytes(), constant, best.largest.tobytes(), every))
            if np.isfinite(raw).all():                                                # float32 and float64 maps
                final = best_ious(np.clip(raw, 0, 1), gt, t, all_regions=all_regions)
                out.append((final.largest.tobytes(), None if final.all is None else final.all.tobytes()))
        return out

    with_entry = run()
    monkeypatch.setattr(native, "_RAW_ENTRY", None)
    monkeypatch.setattr(native, "_BEST_ENTRY", None)
    assert run() == with_entry


def test_thresholds_are_kept_by_identity_and_results_are_rows_of_one_array(entry):
    _, _, best = postprocess_best_ious(RAW, P, GT, T)
    assert best.thresholds is T
    rows = iou_rows(best, 2)
    assert rows.shape == (2, 1, len(T)) and np.shares_memory(rows, best.largest) and np.shares_memory(rows, best.all)
    assert np.array_equal(rows[0, 0], best.largest) and np.array_equal(rows[1, 0], best.all)
    assert np.array_equal(iou_rows(best, 1)[0, 0], best.largest)
    # copies have arrays of their own: their rows are built from them, never the original's
    for other in (copy.deepcopy(best), pickle.loads(pickle.dumps(best)),
                  dataclasses.replace(best, largest=best.all.copy(), all=best.largest.copy())):
        other.largest[:] = 0.25
        assert np.array_equal(iou_rows(other, 2)[0, 0], other.largest)
        assert np.array_equal(iou_rows(other, 2)[1, 0], other.all)
    swapped = dataclasses.replace(best, largest=best.all, all=best.largest)      # views of the same rows, swapped
    assert np.array_equal(iou_rows(swapped, 2)[0, 0], best.all)


@pytest.mark.parametrize("all_regions", [True, False])
def test_box_accuracy_state_is_the_sum_of_the_per_image_increments(all_regions):
    rng = np.random.default_rng(7)
    t = get_protocol(cam_step=0.001).cam_thresholds()
    acc = BoxAccuracy(t, all_regions=all_regions)
    expected = _empty_state(len(t), 3, all_regions)
    labels = [(None, None), (1, 1), (1, 2), ((1, 3), 3), (2, None), (4, 4)]
    for i in range(30):
        raw = rng.normal(size=(7, 7))
        if i % 3:
            best = postprocess_best_ious(raw, P.with_(cam_step=0.001), GT, t, all_regions=all_regions)[2]
        else:          # a user's own arrays, float32 and float64
            best = BestIoU(largest=rng.random(len(t)).astype(np.float32),
                           all=rng.random(len(t)) if all_regions else None)
        gt_label, pred = labels[i % len(labels)]
        acc.update(best, gt_label=gt_label, pred_label=pred)
        mine = best if all_regions else dataclasses.replace(best, all=None)
        _add_into(expected, _update(mine, iou_thresholds=(30, 50, 70), top1_ok=_top1_ok(gt_label, pred)))
    state = acc.state
    assert list(state) == list(expected)
    for key in expected:
        assert state[key].dtype == np.int64 and state[key].shape == expected[key].shape
        assert np.array_equal(state[key], expected[key]), key
    # merging: a state and an accumulator add exactly; the copy handed out is not the accumulator's
    twice = BoxAccuracy(t, all_regions=all_regions).merge_state(state).merge(acc)
    for key in expected:
        assert np.array_equal(twice.state[key], 2 * expected[key]), key
    state["count"] += 5
    assert int(acc.state["count"]) == 30
    with pytest.raises(ValueError, match="different keys"):
        acc.merge_state({k: v for k, v in state.items() if k != "count"})
    assert int(acc.state["count"]) == 30


def test_box_accuracy_counts_past_the_byte_counters_range():
    """Images add into uint8 counters that move into the int64 state every 255 images: 700 images
    that are all correct, read in the middle and merged, count exactly."""
    t = np.array([0.0, 0.25, 0.5])
    acc = BoxAccuracy(t, iou_thresholds=(50,), all_regions=True)
    every = BestIoU(largest=np.ones(3), all=np.array([1.0, 0.5, 0.0]), thresholds=t)
    for i in range(700):
        acc.update(every, gt_label=1, pred_label=1 if i % 3 else 2)
        if i == 300:
            assert int(acc.state["correct_largest"][0, 0]) == 301
    state = acc.state
    assert state["correct_largest"].tolist() == [[700, 700, 700]]
    assert state["correct_all"].tolist() == [[700, 700, 0]]
    assert state["top1_largest"].tolist() == [[466, 466, 466]]
    assert (int(state["count"]), int(state["count_with_pred"]), int(state["cls_correct"])) == (700, 700, 466)
    acc.merge_state(state)
    for _ in range(300):
        acc.update(every, gt_label=1, pred_label=1)
    assert acc.state["top1_all"].tolist() == [[1232, 1232, 0]]


def test_box_accuracy_copies_and_pickles_keep_counting():
    t = np.array([0.0, 0.5])
    acc = BoxAccuracy(t, iou_thresholds=(50,))
    hit = BestIoU(largest=np.ones(2), all=np.ones(2), thresholds=t)
    for _ in range(3):
        acc.update(hit, gt_label=1, pred_label=1)
    for other in (copy.deepcopy(acc), pickle.loads(pickle.dumps(acc))):    # counters and their views rebuilt
        for _ in range(300):                                                 # past a move of the byte counters
            other.update(hit, gt_label=1, pred_label=1)
        assert other.state["top1_largest"].tolist() == [[303, 303]]
        assert other.state["correct_all"].tolist() == [[303, 303]]
    assert acc.state["top1_largest"].tolist() == [[3, 3]]                    # the original is its own


def test_resize_boxes_python_path_equals_the_array_path():
    rng = np.random.default_rng(1)
    sizes = [(500, 375), (500.0, 333.3), [640, 481], (np.int32(300), np.float32(200.5)), (3, 7)]
    for _ in range(300):
        k = int(rng.integers(1, 5))
        xy = np.sort(rng.uniform(0, 700, (k, 2, 2)), axis=2)
        boxes = np.round(np.stack([xy[:, 0, 0], xy[:, 1, 0], xy[:, 0, 1], xy[:, 1, 1]], 1), int(rng.integers(0, 3)))
        size = sizes[int(rng.integers(len(sizes)))]
        res = [(224, 224), (7, 300), (224.0, 224)][int(rng.integers(3))]
        for b in (boxes, boxes.astype(np.float32), np.trunc(boxes).astype(np.int64)):
            fast = resize_boxes(b, size, res)
            general = resize_boxes(b.tolist(), np.asarray(size, np.float64), np.asarray(res))    # the array path
            assert fast.dtype == general.dtype == np.int64 and np.array_equal(fast, general)
    for bad in ([[np.nan, 1, 2, 3]], [[-1, 0, 2, 3]], [[5, 0, 2, 3]], [[0, 0, np.inf, 3]]):
        expected = _message(resize_boxes, bad, (500, 375), (224, 224), image_id="a")
        assert _message(resize_boxes, np.array(bad, np.float64), (500, 375), (224, 224), image_id="a") == expected
    for size in ((0, 5), (np.nan, 5), (5,)):
        expected = _message(resize_boxes, [[1, 2, 3, 4]], size, (224, 224))              # boxes as a list
        assert _message(resize_boxes, np.array([[1.0, 2, 3, 4]]), size, (224, 224)) == expected


def test_pointing_and_gt_area_python_paths_equal_numpy():
    rng = np.random.default_rng(2)
    for _ in range(300):
        h, w = (int(v) for v in rng.integers(1, 50, 2))
        m = rng.random((h, w))
        if rng.random() < 0.3:
            m = np.round(m * 2) / 2                                   # ties: the first maximum
        k = int(rng.integers(0, 5))
        x, y = np.sort(rng.integers(-3, w + 3, (k, 2)), 1), np.sort(rng.integers(-3, h + 3, (k, 2)), 1)
        boxes = np.stack([x[:, 0], y[:, 0], x[:, 1], y[:, 1]], 1) if k else np.zeros((0, 4), np.int64)
        row, col = max_point(m)
        assert (row, col) == tuple(int(v) for v in np.unravel_index(np.argmax(m), m.shape))
        if k:
            dx = np.maximum(np.maximum(boxes[:, 0] - col, 0), col - boxes[:, 2])
            dy = np.maximum(np.maximum(boxes[:, 1] - row, 0), row - boxes[:, 3])
            assert _box_distance2(row, col, boxes) == float((dx * dx + dy * dy).min())
            assert pointing_hit(m, boxes=boxes) == bool((dx * dx + dy * dy).min() <= 225)
            area = int(((boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)).max())
            assert largest_gt_area(boxes) == area
        if k == 1:
            x0, y0, x1, y1 = boxes[0]
            total = float(m.sum())
            assert energy_share(m, boxes=boxes) == float(m[y0:y1 + 1, x0:x1 + 1].sum()) / total
    many = np.tile(np.array([[1, 2, 3, 4]]), (20, 1))                 # more than 16 boxes: the array path
    assert _box_distance2(0, 0, many) == 5.0 and largest_gt_area(many) == 9
    assert largest_gt_area(np.zeros((0, 4))) is None and _box_distance2(0, 0, np.zeros((0, 4))) == float("inf")
