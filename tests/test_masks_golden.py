"""PxAP against the reference numbers of the golden set (clovaai/wsolevaluation MaskEvaluator)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from wsolbench.metrics.masks import PixelAP, bin_edges, bin_index, pixel_ap

GOLDEN = Path(__file__).parent / "data" / "golden"
INTERVALS = {"interval_0.01": 0.01, "interval_0.001": 0.001}


@pytest.fixture(scope="module")
def golden():
    with np.load(GOLDEN / "golden.npz") as z:
        data = {k: z[k] for k in ("mask_scoremaps", "mask_gt", "mask_map_type")}
    data["expected"] = json.loads((GOLDEN / "expected.json").read_text())["mask"]
    return data


@pytest.fixture(scope="module", params=sorted(INTERVALS))
def case(request, golden):
    key = request.param
    result = pixel_ap(golden["mask_scoremaps"], golden["mask_gt"], step=INTERVALS[key])
    return result, golden["expected"][key]


def test_golden_histograms_identical(case):
    result, expected = case
    assert result.fg_hist.tolist() == expected["gt_true_score_hist"]
    assert result.bg_hist.tolist() == expected["gt_false_score_hist"]


def test_golden_edges_tp_fp_identical(case):
    result, expected = case
    assert result.thresholds.tolist() == expected["bin_right_edges"]
    assert result.fg_hist[::-1].cumsum().tolist() == expected["tp"]
    assert result.bg_hist[::-1].cumsum().tolist() == expected["fp"]


def test_golden_precision_recall_equal(case):
    result, expected = case
    assert result.recall.tolist() == expected["recall"]
    ours = [None if np.isnan(p) else p for p in result.precision.tolist()]
    assert ours == expected["precision"]
    assert result.to_dict()["precision"] == expected["precision"]


def test_golden_pxap_is_identical(case):
    result, expected = case
    assert result.pxap == expected["pxap"]  # to the last bit


def test_golden_headline_numbers():
    readme = {"interval_0.01": 55.80032352131007, "interval_0.001": 56.29102506195649}
    expected = json.loads((GOLDEN / "expected.json").read_text())["mask"]
    for key, value in readme.items():
        assert expected[key]["pxap"] == value


def test_golden_grid_maps_on_the_edges_bin_like_np_histogram(golden):
    """The ``grid001`` maps hold k/100 in float32: exactly on / next to the bin edges."""
    grid = golden["mask_scoremaps"][golden["mask_map_type"] == "grid001"]
    assert len(grid) > 0
    for step in INTERVALS.values():
        edges = bin_edges(step)
        for m in grid:
            idx = bin_index(m, edges)
            ours = np.bincount(idx.ravel(), minlength=len(edges) - 1)
            assert np.array_equal(ours, np.histogram(m.astype(np.float64), bins=edges)[0])


def test_golden_sharded_equals_unsharded(golden):
    maps, masks = golden["mask_scoremaps"], golden["mask_gt"]
    for step in INTERVALS.values():
        whole = pixel_ap(maps, masks, step=step)
        shards = [PixelAP(step) for _ in range(3)]
        for i, (m, g) in enumerate(zip(maps, masks)):
            shards[(i * 7) % 3].update(m, g)
        merged = shards[2].merge(shards[0]).merge(shards[1]).compute()
        assert np.array_equal(merged.fg_hist, whole.fg_hist) and np.array_equal(merged.bg_hist, whole.bg_hist)
        assert merged.pxap == whole.pxap and merged.piou == whole.piou
        assert merged.to_dict() == whole.to_dict()
