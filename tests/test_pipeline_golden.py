"""Golden parity through the whole path a user takes: an HDF5 maps file + wsolevaluation metadata
files (boxes in original pixels, mask PNGs) -> `wsolbench evaluate` -> the reference's numbers."""

import json

import pytest
from click.testing import CliRunner

from wsolbench.cli.main import cli


def _evaluate(*args):
    result = CliRunner().invoke(cli, ["evaluate", *map(str, args), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("step", ["0.01", "0.001"])
@pytest.mark.parametrize("workers", [1, 2])
def test_box_metrics_equal_reference(golden_vectors, golden_box_case, step, workers):
    _, expected = golden_vectors
    meta, maps = golden_box_case
    data = _evaluate(maps, "--gt", f"wsoleval:{meta}", "--cam-step", step, "--workers", workers)
    ref = expected["box"][f"interval_{step}"]
    v1, v2 = ref["maxboxacc"], ref["maxboxaccv2"]
    m = data["metrics"]
    assert m["maxboxacc"] == v1["max_box_acc"]["50"]
    assert m["maxboxacc_v2"] == v2["mean_max_box_acc"]
    for d in ("30", "50", "70"):
        assert m[f"maxboxacc_iou{d}"] == v2["max_box_acc"][d]
        assert data["box"]["all"]["num_correct"][d] == v2["num_correct"][d]
        assert data["box"]["largest"]["num_correct"][d] == v1["num_correct"][d]
        assert data["box"]["largest"]["best_threshold_index"][d] == v1["optimal_threshold_index"][d]
    assert m["top1_loc"] == v1["top1_loc"]["50"]["at_gt_known_optimal_threshold"]
    assert m["top1_cls"] == expected["box"]["classification_top1_acc"]
    assert data["box"]["thresholds"] == expected["cam_thresholds"][step]


@pytest.mark.parametrize("step", ["0.01", "0.001"])
def test_pxap_equals_reference(golden_vectors, golden_mask_case, step):
    _, expected = golden_vectors
    meta, root, maps = golden_mask_case
    data = _evaluate(maps, "--gt", f"wsoleval:{meta}", "--mask-root", root, "--cam-step", step, "--workers", 2)
    ref = expected["mask"][f"interval_{step}"]
    assert data["metrics"]["pxap"] == ref["pxap"]
    assert data["mask"]["recall"] == pytest.approx(ref["recall"], abs=1e-12)
    assert data["metrics"]["maxboxacc"] is None and data["metrics"]["piou"] is not None
