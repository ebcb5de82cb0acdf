"""EvaluationResult as pandas tables (the [pandas] extra): the tables hold the result JSON's own
numbers, several results concatenate into a comparison, and nothing imports pandas before a table
is asked for."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from evalfixtures import blob_map, make_box_case, write_maps
from wsolbench.cli.main import cli
from wsolbench.datasets import load_annotations
from wsolbench.errors import MissingDependencyError, WsolbenchError
from wsolbench.metric_names import METRIC_KEYS
from wsolbench.metrics.result import EvaluationResult

pd = pytest.importorskip("pandas", reason="result tables need pandas (pip install 'wsolbench[pandas]')")


def evaluate(maps, gt, tmp_path, name, *extra):
    out = tmp_path / f"{name}.json"
    result = CliRunner().invoke(cli, ["evaluate", str(maps), "--gt", gt, "--out", str(out), "--json", *extra])
    assert result.exit_code == 0, result.output
    return EvaluationResult.load(out)


@pytest.fixture(scope="module")
def box_result(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("box")
    meta, ids, maps, preds = make_box_case(tmp)
    return evaluate(write_maps(tmp / "maps.h5", ids, maps, predicted=preds), f"wsoleval:{meta}", tmp, "box")


@pytest.fixture(scope="module")
def mask_result(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mask")
    root = tmp / "synthetic"
    ids = load_annotations(f"synthetic:{root}?classes=2&train=1&val=1&test=3&size=48", split="test").image_ids
    rng = np.random.default_rng(1)
    maps = np.stack([blob_map((14, 14), tuple(rng.uniform(3, 11, 2)), 3.0, rng) for _ in ids])
    return evaluate(write_maps(tmp / "maps.h5", ids, maps), f"synthetic:{root}", tmp, "mask", "--split", "test")


def same(a, b) -> bool:
    return (a is None and (b is None or (isinstance(b, float) and math.isnan(b)))) or a == b or (
        isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


def test_summary_row_and_comparison(box_result, mask_result):
    row = box_result.to_frame()
    assert list(row.columns[:8]) == ["dataset", "split", "maps", "method", "backbone", "protocol", "protocol_hash",
                                     "n_images"]
    assert len(row) == 1 and all(same(box_result.metrics[k], row.loc[0, k]) for k in METRIC_KEYS)
    assert row.loc[0, "protocol_hash"] == box_result.protocol_hash and row.loc[0, "n_images"] == 12
    both = pd.concat([box_result.to_frame(), mask_result.to_frame()], ignore_index=True)
    assert both["pxap"].isna().tolist() == [True, False] and both["maxboxacc"].notna().all()
    assert all(both[k].dtype == "float64" for k in METRIC_KEYS)


def test_per_class_table(box_result):
    table = box_result.per_class_frame()
    assert table.index.name == "class" and table.index.tolist() == [0, 1, 2]
    for c, entry in box_result.per_class.items():
        for column in ("n_images", "gt_known_loc", "top1_cls", "pxap"):
            assert same(entry[column], table.loc[int(c), column])
    assert table["n_images"].sum() == 12


def test_per_image_table(box_result):
    table = box_result.per_image_frame()
    p = box_result.per_image
    assert table["image_id"].tolist() == p["image_ids"] and table["label"].tolist() == p["labels"]
    assert table["predicted"].tolist() == p["predicted"] and table["iou"].tolist() == p["iou"]
    assert str(table["predicted"].dtype) == "Int64" and table["constant_map"].dtype == bool
    assert table["pointing_hit"].tolist() == p["pointing_hit"] and table["energy"].tolist() == p["energy"]


def test_per_image_table_has_the_mask_area_ratios(mask_result):
    table = mask_result.per_image_frame()
    ratios = [float("nan") if v is None else v for v in mask_result.per_image["mask_area_ratio"]]
    assert table["mask_area_ratio"].tolist() == pytest.approx(ratios, nan_ok=True)


def test_curve_tables(box_result, mask_result):
    box = box_result.curve_frame()
    assert box.index.name == "cam_threshold" and box.index.tolist() == box_result.box["thresholds"]
    assert box["largest@50"].tolist() == box_result.box["largest"]["curves"]["50"]
    assert box["all@70"].max() == box_result.metrics["maxboxacc_iou70"]
    assert box["top1 largest@50"].tolist() == box_result.box["largest"]["top1_curves"]["50"]
    mask = mask_result.curve_frame("mask")
    assert mask.index.name == "score_threshold" and mask.index[0] == 2.0 and mask.index[-1] == 0.0
    assert mask.index[1] == 1.0 and mask["recall"].iloc[-1] == 1.0
    assert 100 * mask["iou"].max() == pytest.approx(mask_result.mask["piou"])        # fractions, like the JSON
    assert same(mask_result.mask["precision"][3], mask["precision"].iloc[3])
    with pytest.raises(WsolbenchError, match="no pixel curves"):
        box_result.curve_frame("mask")
    with pytest.raises(WsolbenchError, match="neither 'box' nor 'mask'"):
        box_result.curve_frame("roc")


def test_without_pandas_the_message_says_what_to_install(box_result, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(MissingDependencyError, match=r"needs pandas.*wsolbench\[pandas\]"):
        box_result.to_frame()


def test_nothing_imports_pandas_until_a_table_is_asked_for():
    # (scipy is left out: numba imports it by itself wherever it is installed)
    code = ("import sys, wsolbench, wsolbench.cli.main, wsolbench.metrics.result, wsolbench.pipeline; "
            "print(json.dumps(sorted(m for m in ('pandas', 'skimage', 'pycocotools', 'playwright') "
            "if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
