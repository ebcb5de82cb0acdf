"""``wsolbench report`` and ``wsolbench compare`` through the CLI, on hand-built results."""

from __future__ import annotations

import copy
import json

import pytest
from click.testing import CliRunner
from PIL import Image

from test_report import make_result  # the hand-built result of tests/test_report.py
from wsolbench.cli.main import cli
from wsolbench.report.compare import compare_metrics, plot_comparison


def _write(path, result) -> str:
    path.write_text(json.dumps(result))
    return str(path)


@pytest.fixture()
def two_results(tmp_path):
    a = make_result()
    b = copy.deepcopy(a)
    b["maps"]["attrs"] = {"method": "HaS"}
    b["metrics"].update(maxboxacc=72.5, pxap=60.1, top1_loc=None)
    b["box"]["largest"]["curves"]["50"] = [v + 3.0 for v in a["box"]["largest"]["curves"]["50"]]
    b["box"]["largest"]["max"]["50"] += 3.0          # a result's max is its curve's value at the best index
    return a, b, _write(tmp_path / "a.json", a), _write(tmp_path / "b.json", b)


def test_compare_json_differences(two_results):
    a, b, pa, pb = two_results
    res = CliRunner().invoke(cli, ["compare", pa, pb, "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    rows = {r["key"]: r for r in data["metrics"]}
    assert data["reference"] == "CAM (vgg16)" and [r["label"] for r in data["results"]] == ["CAM (vgg16)", "HaS"]
    assert rows["maxboxacc"]["values"] == [70.0, 72.5]
    assert rows["maxboxacc"]["differences"] == [None, pytest.approx(2.5)]
    assert rows["pxap"]["differences"] == [None, pytest.approx(60.1 - 66.6)]
    assert rows["top1_loc"]["values"] == [56.0, None] and rows["top1_loc"]["differences"] == [None, None]
    assert rows["maxboxacc_v2"]["differences"] == [None, 0.0]
    assert "mpxap" not in rows            # null in every result
    assert data["same_protocol"] is True


def test_compare_table_shows_signed_differences(two_results):
    _, _, pa, pb = two_results
    res = CliRunner().invoke(cli, ["compare", pa, pb, "--label", "base", "--label", "new"])
    assert res.exit_code == 0, res.output
    out = res.stdout
    header = next(ln for ln in out.splitlines() if ln.startswith("┃"))
    assert [c.strip() for c in header.split("┃")[1:-1]] == ["metric", "base", "new", "Δ"]
    line = next(ln for ln in out.splitlines() if "MaxBoxAcc " in ln)   # not the MaxBoxAccV2 row
    assert "70.00" in line and "72.50" in line and "+2.50" in line
    pxap = next(ln for ln in out.splitlines() if "PxAP" in ln)
    assert "-6.50" in pxap
    assert "all under protocol wsoleval (0123456789ab)" in out


def test_compare_warns_on_different_protocols(tmp_path, two_results):
    a, b, pa, _ = two_results
    b["protocol_hash"] = "ffffffffffff"
    pb = _write(tmp_path / "b2.json", b)
    res = CliRunner().invoke(cli, ["compare", pa, pb, "--json"])
    assert res.exit_code == 0
    assert json.loads(res.stdout)["same_protocol"] is False
    assert "different protocols" in " ".join(res.stderr.split())


def test_compare_out_writes_overlaid_curves(tmp_path, two_results):
    pytest.importorskip("matplotlib")
    a, b, pa, pb = two_results
    out = tmp_path / "cmp"
    res = CliRunner().invoke(cli, ["compare", pa, pb, "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    figures = json.loads(res.stdout)["figures"]
    assert sorted(figures) == ["maxboxacc", "maxboxacc_v2", "piou", "pxap", "top1_loc"]
    for path in figures.values():
        with Image.open(path) as im:
            assert im.format == "PNG"
    drawn = plot_comparison([a, b], ["A", "B"], tmp_path / "again")
    lines = drawn["maxboxacc"]["panels"][0]["lines"]
    assert lines["A: 70.0% at τ=0.30"]["y"] == a["box"]["largest"]["curves"]["50"]
    (b_line,) = [v for k, v in lines.items() if k.startswith("B:")]
    assert b_line["y"] == b["box"]["largest"]["curves"]["50"]
    assert [p["title"] for p in drawn["maxboxacc_v2"]["panels"]] == ["all regions, IoU 30", "all regions, IoU 50",
                                                                      "all regions, IoU 70"]
    with Image.open(tmp_path / "again" / "compare_maxboxacc_v2.png") as im:
        assert im.size == (1200, 420)


def test_compare_needs_two_results(tmp_path, two_results):
    _, _, pa, pb = two_results
    res = CliRunner().invoke(cli, ["compare", pa])
    assert res.exit_code == 2 and "at least two" in res.output
    res = CliRunner().invoke(cli, ["compare", pa, pb, "--label", "x"])
    assert res.exit_code == 2 and "one per result" in res.output
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    res = CliRunner().invoke(cli, ["compare", pa, str(bad)])
    assert res.exit_code == 2 and "bad.json" in res.stderr and "expected a JSON object" in res.stderr


def test_compare_labels_are_unique():
    r = make_result()
    assert [x["label"] for x in compare_metrics([r, r, r])["results"]] == ["CAM (vgg16)", "CAM (vgg16) #2",
                                                                           "CAM (vgg16) #3"]


def test_report_command_writes_page(tmp_path):
    pytest.importorskip("matplotlib")
    path = _write(tmp_path / "res.json", make_result())
    res = CliRunner().invoke(cli, ["report", path])
    assert res.exit_code == 0, res.output
    page = tmp_path / "res_report" / "index.html"
    assert res.stdout.strip() == str(page)
    assert page.is_file() and (tmp_path / "res_report" / "box_accuracy.png").is_file()


def test_report_command_errors(tmp_path):
    res = CliRunner().invoke(cli, ["report", str(tmp_path / "nope.json")])
    assert res.exit_code == 2 and "result file not found" in res.stderr
    result = make_result()
    result["dataset"]["spec"] = None
    path = _write(tmp_path / "r.json", result)
    res = CliRunner().invoke(cli, ["report", path, "--maps", str(tmp_path / "m.h5")])
    assert res.exit_code == 2 and "--maps needs --gt" in res.output


def test_report_command_without_matplotlib(tmp_path, monkeypatch):
    import sys

    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    path = _write(tmp_path / "res.json", make_result())
    res = CliRunner().invoke(cli, ["report", path, "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "pip install 'wsolbench[viz]'" in res.stderr and "--no-curves" in res.stderr
    res = CliRunner().invoke(cli, ["report", path, "--out", str(tmp_path / "o"), "--no-curves"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "o" / "index.html").is_file()


def test_compare_without_matplotlib(tmp_path, two_results, monkeypatch):
    import sys

    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    _, _, pa, pb = two_results
    res = CliRunner().invoke(cli, ["compare", pa, pb, "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["metrics"]      # the table needs no matplotlib
    res = CliRunner().invoke(cli, ["compare", pa, pb, "--out", str(tmp_path / "c")])
    assert res.exit_code == 2 and "pip install 'wsolbench[viz]'" in res.stderr
    assert not (tmp_path / "c").exists()
    assert "leave out --out" in res.stderr
