"""End to end: a real evaluation (``wsolbench evaluate``) of maps on a generated dataset, then
``wsolbench report`` and ``wsolbench compare`` on its result JSON."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from wsolbench.cli.main import cli
from wsolbench.datasets import load_annotations
from wsolbench.report.examples import example_items
from wsolbench.report.html import SECTION_IDS
from wsolbench.scoremaps import write_scoremaps

SIZE = 64


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """A synthetic dataset, two map files (blobs near / farther from the object) and their results."""
    tmp = tmp_path_factory.mktemp("e2e")
    root = tmp / "synthetic"
    load_annotations(f"synthetic:{root}?classes=3&size={SIZE}&train=1&val=1&test=4", split="test")
    spec = f"wsoleval:{root}/metadata/test"
    annotations = load_annotations(spec)
    yy, xx = np.mgrid[0:16, 0:16] + 0.5
    out = {}
    for name, shift in (("near", 0.5), ("far", 2.5)):
        maps, preds = [], []
        for i, r in enumerate(annotations.records):
            x0, y0, x1, y1 = r.boxes[0] * 16 / SIZE
            cx, cy = (x0 + x1) / 2 + shift * (i % 4), (y0 + y1) / 2
            maps.append(np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 2.5 ** 2)))
            preds.append(r.label if i % 3 else (r.label + 1) % 3)
        maps_path = write_scoremaps(tmp / f"{name}.h5", annotations.image_ids, np.asarray(maps, np.float32),
                                    predicted_labels=preds, attrs={"method": name})
        result_path = tmp / f"{name}.json"
        res = CliRunner().invoke(cli, ["evaluate", str(maps_path), "--gt", spec, "--out", str(result_path),
                                       "--json"])
        assert res.exit_code == 0, res.output
        out[name] = (maps_path, result_path, json.loads(result_path.read_text()))
    return root, annotations, out


def test_report_of_a_real_evaluation(tmp_path, evaluated):
    pytest.importorskip("matplotlib")
    root, _, runs = evaluated
    maps_path, result_path, result = runs["near"]
    out = tmp_path / "report"
    res = CliRunner().invoke(cli, ["report", str(result_path), "--maps", str(maps_path), "--out", str(out),
                                   "--image-root", str(root / "images"), "--examples", "4"])
    assert res.exit_code == 0, res.output
    html = (out / "index.html").read_text(encoding="utf-8")
    for sid in SECTION_IDS:
        assert f'<section id="{sid}">' in html
    assert result["maps"]["sha256"] in html and result["protocol_hash"] in html
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', html, re.S).group(1).replace("<\\/", "</"))
    assert data["box"][0]["curves"] == result["box"]["largest"]["curves"]
    assert data["box"][1]["curves"] == result["box"]["all"]["curves"]
    assert data["top1"]["top1"] == result["box"]["largest"]["top1_curves"]["50"]
    assert [r["gt_known_loc"] for r in data["per_class"]] == [result["per_class"][str(c)]["gt_known_loc"]
                                                              for c in range(3)]
    for name in ("box_accuracy.png", "top1_loc.png", "worst_classes.png", "overlays_best.png",
                 "overlays_worst.png", "overlays_random.png"):
        with Image.open(out / name) as im:
            im.load()
    assert "mask_curves.png" not in html   # box-only ground truth


def test_overlay_ious_match_the_evaluation(evaluated):
    root, annotations, runs = evaluated
    maps_path, _, result = runs["far"]
    items = example_items(maps_path, annotations, result, n=12, image_root=str(root / "images"))
    per_image = dict(zip(result["per_image"]["image_ids"], result["per_image"]["iou"]))
    assert len(items["best"]) == 12
    for item in items["best"]:
        image_id = item.title.split("\n")[1]
        shown = float(re.search(r"IoU ([0-9.]+)", item.title).group(1))
        assert shown == pytest.approx(per_image[image_id], abs=0.006)
        assert item.image is not None
    ranked = [float(re.search(r"IoU ([0-9.]+)", it.title).group(1)) for it in items["best"]]
    assert ranked == sorted(ranked, reverse=True)


def test_compare_two_real_results(evaluated):
    _, _, runs = evaluated
    (_, near_path, near), (_, far_path, far) = runs["near"], runs["far"]
    res = CliRunner().invoke(cli, ["compare", str(near_path), str(far_path), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    rows = {r["key"]: r for r in data["metrics"]}
    for key in ("maxboxacc", "maxboxacc_v2", "top1_loc"):
        assert rows[key]["values"] == [near["metrics"][key], far["metrics"][key]]
        assert rows[key]["differences"][1] == pytest.approx(far["metrics"][key] - near["metrics"][key])
    assert [r["label"] for r in data["results"]] == ["near", "far"] and data["same_protocol"]


def test_report_of_a_mask_evaluation(tmp_path, evaluated):
    """Boxes and masks (the synthetic spec); the report finds the ground truth from the result's spec."""
    pytest.importorskip("matplotlib")
    root, _, runs = evaluated
    maps_path = runs["near"][0]
    spec = f"synthetic:{root}"
    result_path = tmp_path / "masks.json"
    res = CliRunner().invoke(cli, ["evaluate", str(maps_path), "--gt", spec, "--split", "test",
                                   "--out", str(result_path), "--json"])
    assert res.exit_code == 0, res.output
    result = json.loads(result_path.read_text())
    assert result["mask"] is not None and result["metrics"]["pxap"] is not None
    out = tmp_path / "report"
    res = CliRunner().invoke(cli, ["report", str(result_path), "--maps", str(maps_path), "--out", str(out),
                                   "--examples", "2"])
    assert res.exit_code == 0, res.output
    html = (out / "index.html").read_text(encoding="utf-8")
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', html, re.S).group(1).replace("<\\/", "</"))
    mask = result["mask"]
    assert data["pr"]["recall"] == [r for r, p in zip(mask["recall"][1:], mask["precision"][1:]) if p is not None]
    assert data["pr"]["pxap"] == mask["pxap"] and data["piou"]["piou"] == mask["piou"]
    assert max(data["piou"]["iou"]) == pytest.approx(mask["piou"] / 100)
    with Image.open(out / "mask_curves.png") as im:
        assert im.size == (1100, 420)
    assert 'src="overlays_best.png"' in html
    assert "were not found" not in html          # the synthetic spec knows its image folder


def test_report_warns_when_maps_differ_from_the_result(tmp_path, evaluated):
    root, _, runs = evaluated
    other_maps = runs["far"][0]
    result_path = runs["near"][1]
    res = CliRunner().invoke(cli, ["report", str(result_path), "--maps", str(other_maps), "--out", str(tmp_path),
                                   "--no-curves", "--examples", "1"])
    assert res.exit_code == 0, res.output
    assert "differs from the maps file of the result" in " ".join(res.stderr.split())
    assert (tmp_path / "overlays_best.png").is_file()
