"""Pointing game, energy-based pointing game and size diagnostics on hand-made maps: the one-map
functions, the evaluator's per-image values and summaries, and their place in the result JSON
(outside the hash-protected headline metrics)."""

import json

import numpy as np
import pytest

import wsolbench
from wsolbench.datasets.records import AnnotationSet, GTMasks, ImageRecord, MaskSource
from wsolbench.metric_names import METRIC_KEYS
from wsolbench.metrics.pointing import energy_share, max_point, pointing_hit
from wsolbench.metrics.sizes import area_ratio_summary, largest_box_areas, largest_gt_area, log2_histogram

SIZE = 224


def peak(row: int, col: int, shape=(60, 60)) -> np.ndarray:
    m = np.zeros(shape)
    m[row, col] = 1.0
    return m


# --------------------------------------------------------------------------- pointing game

def test_pointing_game_tolerance_is_15_pixels_euclidean():
    box = np.array([[20, 20, 30, 30]])                     # x0, y0, x1, y1, inclusive
    assert pointing_hit(peak(25, 25), boxes=box)            # inside
    assert pointing_hit(peak(25, 45), boxes=box)            # 15 px right of x1 = 30
    assert not pointing_hit(peak(25, 46), boxes=box)        # 16 px
    assert pointing_hit(peak(39, 39), boxes=box)            # (9, 9) from the corner: 12.7 px
    assert not pointing_hit(peak(41, 41), boxes=box)        # (11, 11): 15.6 px
    assert not pointing_hit(peak(25, 45), boxes=box, tolerance=0)
    assert pointing_hit(peak(25, 45), boxes=np.array([[0, 0, 1, 1], [20, 20, 30, 30]]))   # any box
    assert not pointing_hit(peak(25, 25), boxes=np.zeros((0, 4)))                        # nothing to hit


def test_pointing_game_on_masks_ignores_ignored_pixels():
    mask = np.zeros((60, 60), np.uint8)
    mask[10:20, 10:20] = 1
    mask[40:50, 40:50] = 255                              # ignored: not an object
    assert pointing_hit(peak(15, 33), mask=mask)           # 14 px right of column 19
    assert not pointing_hit(peak(45, 45), mask=mask)       # on the ignored region, far from the object
    m = np.zeros((60, 60))
    m[5, 5] = m[50, 50] = 1.0                             # two maxima: the first in raster order counts
    assert max_point(m) == (5, 5) and pointing_hit(m, mask=mask)
    corner = np.zeros((60, 60), np.uint8)
    corner[0, 0] = 1                                      # near the border: (10, 10) is 14.1 px away
    assert pointing_hit(peak(10, 10), mask=corner) and not pointing_hit(peak(11, 11), mask=corner)
    assert pointing_hit(peak(0, 15), mask=corner) and not pointing_hit(peak(0, 16), mask=corner)


def test_energy_share_by_hand():
    m = np.zeros((10, 10))
    m[2, 2], m[8, 8], m[2, 8] = 3.0, 1.0, 0.0
    assert energy_share(m, boxes=np.array([[0, 0, 4, 4]])) == 0.75
    assert energy_share(m, boxes=np.array([[0, 0, 4, 4], [7, 7, 9, 9]])) == 1.0        # union of boxes
    mask = np.zeros((10, 10), np.uint8)
    mask[2, 2] = 1
    mask[8, 8] = 255                                      # ignored: out of the total too
    assert energy_share(m, mask=mask) == 1.0
    assert energy_share(np.zeros((10, 10)), boxes=np.array([[0, 0, 4, 4]])) == 0.0       # no energy


# --------------------------------------------------------------------------- sizes

def test_largest_box_area_per_threshold():
    m = np.zeros((SIZE, SIZE))
    m[50:70, 60:100] = 1.0      # 40 x 20 pixels: box x 60..100 (99 + 1), y 50..70 (69 + 1): 41 x 21
    m[150:152, 10:12] = 0.4     # a small second region, the largest only below 0.4
    areas = largest_box_areas(m, np.array([0.0, 0.3, 0.5]))
    assert areas.tolist() == [41 * 21, 41 * 21, 41 * 21]
    assert largest_box_areas(np.zeros((SIZE, SIZE)), np.array([0.5])).tolist() == [1]   # the empty box [0,0,0,0]
    assert largest_gt_area(np.array([[0, 0, 9, 9], [0, 0, 19, 4]])) == 100
    assert largest_gt_area(np.zeros((0, 4))) is None


def test_area_ratio_summary_by_hand():
    ratios = np.array([0.25, 0.4, 1.0, 1.5, 3.0, np.nan])
    labels = np.array([0, 0, 0, 1, 1, 1])
    s = area_ratio_summary(ratios, labels, delta=0.5)
    assert s["n"] == 5 and s["median_ratio"] == 1.0 and s["bounds"] == [0.5, 2.0]
    assert s["too_small"] == pytest.approx(40.0) and s["too_large"] == pytest.approx(20.0)
    assert s["per_class"]["0"]["too_small"] == pytest.approx(200 / 3) and s["per_class"]["1"]["n"] == 2
    assert s["per_class"]["1"]["too_large"] == 50.0
    assert sum(log2_histogram([0.25, 1.0, 1e-9, 1e9, None])["counts"]) == 4


# --------------------------------------------------------------------------- through the evaluator

def _box_set(boxes) -> AnnotationSet:
    records = [ImageRecord(f"b/{i}.jpg", (i % 2,), (SIZE, SIZE), np.array([b], np.float64))
               for i, b in enumerate(boxes)]
    return AnnotationSet(records, name="handmade", split="test", num_classes=2)


def test_evaluator_diagnostics_on_hand_made_maps():
    # GT box 100x100 at (50, 50); maps: a small block on the object (too small), the right block,
    # a large block (too large), and a peak 30 px outside the box (a pointing-game miss)
    gt = [50, 50, 149, 149]
    annotations = _box_set([gt] * 4)
    maps = np.zeros((4, SIZE, SIZE))
    maps[0, 90:110, 90:110] = 1.0              # box 21 x 21: ratio 441 / 10000
    maps[1, 50:149, 50:149] = 1.0              # 99 px block -> box 50..149: 100 x 100: ratio 1
    maps[2, 10:210, 10:210] = 1.0              # box 10..210: 201 x 201
    maps[3, 100, 180] = 1.0                    # maximum 31 px right of x1 = 149
    maps[3, 60:140, 60:140] += 0.5             # most of the energy still on the object
    ev = wsolbench.Evaluator(annotations, cam_step=0.5, normalized=True, box_sizes=True)
    ev.update(annotations.image_ids, maps)
    result = ev.compute()
    per_image = result.per_image
    # map 2 is flat on its block: its first maximum in raster order is the block's corner (10, 10), 40 px
    # diagonally from the box: a miss
    assert per_image["pointing_hit"] == [True, True, False, False]
    energy = per_image["energy"]
    assert energy[0] == energy[1] == 1.0 and energy[2] == pytest.approx(100 * 100 / 200 ** 2)
    assert energy[3] == pytest.approx(0.5 * 80 * 80 / (0.5 * 80 * 80 + 1.0))
    d = result.diagnostics
    assert d["pointing_game"] == {"value": 50.0, "hits": 2, "n": 4, "tolerance_px": 15, "against": "boxes"}
    assert d["energy_pointing_game"]["value"] == pytest.approx(100 * np.mean(energy))
    # best threshold: tau = 0 (maps 1 and 3 correct) beats tau = 0.5 (where map 3 keeps only its peak);
    # at tau = 0 map 3's largest region is its 80 x 80 block: box 81 x 81
    box = d["box_size"]
    assert box["threshold_index"] == result.box["largest"]["best_threshold_index"]["50"] == 0
    assert per_image["box_area_ratio"] == pytest.approx([441 / 10000, 1.0, 201 * 201 / 10000, 81 * 81 / 10000])
    assert box["too_small"] == 25.0
    assert box["too_large"] == 25.0 and box["n"] == 4 and box["n_multi_box"] == 0
    assert set(box["per_class"]) == {"0", "1"}
    assert d["mask_size"] is None and "mask_area_ratio" not in per_image


def test_box_sizes_are_off_by_default():
    annotations = _box_set([[10, 10, 60, 60]] * 2)
    ev = wsolbench.Evaluator(annotations, cam_step=0.1)
    ev.update(annotations.image_ids, np.random.default_rng(0).random((2, 7, 7)))
    result = ev.compute()
    assert result.diagnostics["box_size"] is None and "box_area_ratio" not in result.per_image
    assert result.diagnostics["pointing_game"]["n"] == 2


def test_mask_area_ratio_from_histograms():
    # GT masks of 40 x 40 pixels; map 0 scores 1 on a 20 x 40 half of the object (too small at a high
    # threshold), map 1 covers the object exactly
    records, maps = [], np.zeros((2, SIZE, SIZE))
    for i in range(2):
        m = np.zeros((SIZE, SIZE), np.uint8)
        m[100:140, 100:140] = 1
        records.append(ImageRecord(f"m/{i}.png", (0,), (SIZE, SIZE), masks=MaskSource(lambda m=m: GTMasks([m]))))
    maps[0, 100:120, 100:140] = 1.0
    maps[1, 100:140, 100:140] = 1.0
    annotations = AnnotationSet(records, name="masks", split="test", num_classes=1)
    ev = wsolbench.Evaluator(annotations, cam_step=0.1, normalized=True)
    ev.update(annotations.image_ids, maps)
    result = ev.compute()
    # the PIoU threshold keeps the pixels scoring 1: predicted 800 and 1600 pixels of 1600
    assert result.mask["piou_threshold"] == 1.0
    assert result.per_image["mask_area_ratio"] == [0.5, 1.0]
    s = result.diagnostics["mask_size"]
    assert s["too_small"] == 0.0 and s["too_large"] == 0.0 and s["median_ratio"] == 0.75
    assert result.diagnostics["pointing_game"]["against"] == "masks"
    assert result.per_image["energy"] == [1.0, 1.0]


def test_diagnostics_are_outside_the_headline_metrics(tmp_path):
    annotations = _box_set([[10, 10, 60, 60]] * 2)
    ev = wsolbench.Evaluator(annotations, cam_step=0.1, box_sizes=True)
    ev.update(annotations.image_ids, np.random.default_rng(0).random((2, 7, 7)))
    result = ev.compute()
    data = json.loads(result.to_json())
    assert tuple(data["metrics"]) == METRIC_KEYS
    assert "pointing_game" not in data["metrics"] and data["diagnostics"]["pointing_game"]["n"] == 2
    # the protocol (and its hash) is the same with or without the size diagnostics
    assert data["protocol_hash"] == wsolbench.Evaluator(annotations, cam_step=0.1).protocol.hash()
