"""Issue 16 item 10 (report and compare check a result file against docs/result-json.md before using
it) and issue 15 item 4 (compare refuses results on different data unless --force, shows protocol
differences per column, and reads every result file the project writes)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from failfixtures import error_line, run, snapshot
from test_report import make_result

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "baselines" / "results"


def _write(path, data) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def _edit(edit):
    result = make_result()
    edit(result)
    return result


BROKEN = {
    "truncated": (lambda: json.dumps(make_result())[:700], "not a JSON result file"),
    "curve_cut_short": (lambda: _edit(lambda r: r["box"]["largest"]["curves"]["50"].pop()),
                        "box.largest.curves.50: 9 values for 10 thresholds"),
    "index_out_of_range": (lambda: _edit(lambda r: r["box"]["all"]["best_threshold_index"].update({"30": 10})),
                           "box.all.best_threshold_index.30: index 10 is outside the 10 thresholds"),
    "metric_as_string": (lambda: _edit(lambda r: r["metrics"].update(maxboxacc="70.0")),
                         "metrics.maxboxacc: a string \"70.0\" where number or null is expected"),
    "empty_thresholds": (lambda: _edit(lambda r: r["box"].update(thresholds=[])), "box.thresholds: an empty list"),
    "nan_metric": (lambda: json.dumps(make_result()).replace('"maxboxacc": 70.0', '"maxboxacc": NaN'),
                   "NaN is not a JSON number"),
    "metric_out_of_range": (lambda: _edit(lambda r: r["metrics"].update(pxap=6660.0)),
                            "metrics.pxap: 6660.0 is out of range (must be <= 100)"),
    "per_image_lengths": (lambda: _edit(lambda r: r["per_image"]["iou"].pop()), "per_image: lists of different lengths"),
    "missing_protocol": (lambda: _edit(lambda r: r.pop("protocol")), "'protocol' is a required property"),
    "mask_curve_short": (lambda: _edit(lambda r: r["mask"]["recall"].pop()), "mask.recall: 11 values, expected 12"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_report_refuses_a_broken_result_in_one_line(tmp_path, name):
    make, expected = BROKEN[name]
    path = _write(tmp_path / "r.json", make())
    before = snapshot(tmp_path)
    line = error_line(run("report", path, "--no-curves", "--out", tmp_path / "rep"))
    assert str(path) in line and expected in line, line
    assert "docs/result-json.md" in line or "JSON" in line
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_compare_refuses_a_broken_result_in_one_line(tmp_path, name):
    make, expected = BROKEN[name]
    good = _write(tmp_path / "good.json", make_result())
    path = _write(tmp_path / "r.json", make())
    before = snapshot(tmp_path)
    line = error_line(run("compare", good, path, "--out", tmp_path / "plots"))
    assert str(path) in line and expected in line, line
    assert snapshot(tmp_path) == before


def test_a_real_result_passes_the_schema(tmp_path):
    from wsolbench.report.files import load_result, result_schema

    ex = REPO / "wsolbench" / "data" / "example"
    out = tmp_path / "r.json"
    assert run("evaluate", ex / "maps.h5", "--gt", f"wsoleval:{ex / 'metadata'}", "--out", out).exit_code == 0
    assert load_result(out)["result_version"] == 1
    assert result_schema()["properties"]["result_version"] == {"const": 1}


# ----------------------------------------------------------------------------- issue 15 item 4: guarded compare

def _variant(**dataset):
    r = make_result()
    r["dataset"].update(dataset)
    return r


@pytest.mark.parametrize("change, said", [
    ({"name": "ILSVRC"}, "dataset: cub (a); ilsvrc (b)"),
    ({"split": "val"}, "split: test (a); val (b)"),
    ({"n_images": 24}, "image count: 42 (a); 24 (b)"),
    ({"fingerprint": "f" * 64}, "ground-truth fingerprint: " + "e" * 12 + " (a); " + "f" * 12 + " (b)"),
])
def test_compare_refuses_different_data_and_says_which(tmp_path, change, said):
    a = _write(tmp_path / "a.json", _variant(fingerprint="e" * 64))
    b = _write(tmp_path / "b.json", _variant(**{"fingerprint": "e" * 64, **change}))
    before = snapshot(tmp_path)
    line = error_line(run("compare", a, b, "--label", "a", "--label", "b"))
    assert said in line and "not on the same data" in line and "--force" in line
    assert snapshot(tmp_path) == before
    forced = run("compare", a, b, "--label", "a", "--label", "b", "--force", "--json")
    assert forced.exit_code == 0, forced.output
    data = json.loads(forced.stdout)
    assert data["forced"] and said in data["data_differences"][0] and "different data" in forced.stderr


def test_compare_treats_a_missing_fingerprint_as_unknown_and_says_so(tmp_path):
    a = _write(tmp_path / "a.json", _variant(fingerprint="e" * 64))
    b = _write(tmp_path / "b.json", make_result())
    res = run("compare", a, b, "--label", "A", "--label", "B", "--json")
    assert res.exit_code == 0, res.output
    notes = json.loads(res.stdout)["notes"]
    assert any("ground truth not verified for B: no fingerprint recorded" in n for n in notes)
    table = run("compare", a, b, "--label", "A", "--label", "B")
    assert "ground truth not verified for B" in " ".join(table.stdout.split())


def test_compare_shows_protocol_differences_per_column(tmp_path):
    a = make_result()
    b = copy.deepcopy(a)
    b["protocol"]["cam_step"] = 0.001
    b["protocol_hash"] = "fedcba987654"
    res = run("compare", _write(tmp_path / "a.json", a), _write(tmp_path / "b.json", b), "--json")
    data = json.loads(res.stdout)
    assert [r["protocol_differences"] for r in data["results"]] == [{}, {"cam_step": 0.001}]
    assert not data["same_protocol"]
    table = run("compare", tmp_path / "a.json", tmp_path / "b.json")
    assert "cam_step=0.001" in table.stdout and "fedcba987654" in table.stdout


def test_compare_refuses_the_example_beside_the_synthetic_benchmark(tmp_path):
    ex = REPO / "wsolbench" / "data" / "example"
    out = tmp_path / "ex.json"
    assert run("evaluate", ex / "maps.h5", "--gt", f"wsoleval:{ex / 'metadata'}", "--out", out).exit_code == 0
    line = error_line(run("compare", out, f"{RESULTS / 'demo-seed0.json'}#cam"))
    assert "dataset: example" in line and "synthetic" in line and "image count: 24" in line and "500" in line


# ----------------------------------------------------------------------------- reading baselines/results

def test_every_json_in_baselines_results_is_read():
    from wsolbench.report.files import file_kind, load_entries, read_json

    files = sorted(RESULTS.glob("*.json"))
    assert files
    for path in files:
        kind = file_kind(read_json(path))
        assert kind in ("run-summary", "study"), path
        entries = load_entries(str(path))
        assert entries and all(e.result["metrics"] for e in entries), path


def test_compare_a_run_summary_and_a_study_section(tmp_path):
    demo = RESULTS / "demo-seed0.json"
    res = run("compare", demo, "--json")                                   # its cam, has and center_gaussian
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert [r["label"] for r in data["results"]] == ["demo-seed0#cam", "demo-seed0#has", "demo-seed0#center_gaussian"]
    assert data["same_protocol"] and data["results"][0]["n_images"] == 500
    study = run("compare", f"{RESULTS / 'study-methods.json'}#demo", "--json")
    assert study.exit_code == 0, study.output
    rows = json.loads(study.stdout)
    assert rows["results"][0]["label"] == "CAM" and len(rows["results"]) == 9   # CAM, HaS-16/32/mixed, CutMix, ADL, ACoL, SPG, ER
    assert {m["name"] for m in rows["metrics"]} >= {"MaxBoxAccV2", "PxAP", "body PxAP"}
    assert any("mean of 3 seed(s)" in n for n in rows["notes"])


def test_a_study_with_two_datasets_needs_a_section(tmp_path):
    line = error_line(run("compare", RESULTS / "study-methods.json"))
    assert "synthetic dataset configuration: body_cue=None" in line and "body_cue=0.5" in line
    line = error_line(run("compare", f"{RESULTS / 'study-methods.json'}#nosuch"))
    assert "no section 'nosuch'" in line and "'demo'" in line and "FILE.json#KEY" in line


def test_compare_runs_on_different_synthetic_configurations_is_refused():
    line = error_line(run("compare", f"{RESULTS / 'cam-smallcnn-synthetic-default.json'}#cam",
                          f"{RESULTS / 'demo-seed0.json'}#cam"))
    assert "synthetic dataset configuration" in line and "part=0.12" in line and "part=0.25" in line
