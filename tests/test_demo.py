"""``wsolbench demo``: a tiny configuration end to end (fast) and the real demo (slow)."""

import json

import pytest
from click.testing import CliRunner

pytest.importorskip("torch")

from wsolbench.cli.main import cli  # noqa: E402


def _demo(tmp_path, monkeypatch, *args):
    monkeypatch.setenv("WSOLBENCH_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--out", str(out), "--device", "cpu", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out, result


def test_demo_tiny_config_writes_results_and_report(tmp_path, monkeypatch):
    from PIL import Image

    out, result = _demo(tmp_path, monkeypatch, "--classes", "3", "--per-class", "8", "--epochs", "1")
    assert "CAM (small CNN) vs the center-gaussian baseline" in result.stdout
    assert "MaxBoxAccV2" in result.stdout and "chance top-1 = 33.3%" in result.stdout
    cam = json.loads((out / "cam" / "result.json").read_text())
    gauss = json.loads((out / "center-gaussian.result.json").read_text())
    assert cam["dataset"]["name"] == "synthetic" and cam["counts"]["n_images"] == 12
    assert cam["protocol_hash"] == gauss["protocol_hash"]
    assert cam["maps"]["attrs"]["backbone"] == "smallcnn"
    assert gauss["maps"]["attrs"]["method"] == "sanity/center-gaussian"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cam"] == cam["metrics"] and summary["recipe"]["epochs"] == 1
    assert (out / "report" / "index.html").exists()
    with Image.open(out / "report" / "cam_vs_center_gaussian.png") as im:
        assert im.size[0] > 0 and im.size[1] > 0
    # a second run in the same folder reuses the finished training run (resume) and agrees
    _, again = _demo(tmp_path, monkeypatch, "--classes", "3", "--per-class", "8", "--epochs", "1", "--json")
    assert json.loads(again.stdout)["cam"]["metrics"] == cam["metrics"]


@pytest.mark.slow
def test_full_demo_shows_learning(tmp_path, monkeypatch):
    out, result = _demo(tmp_path, monkeypatch, "--json")
    data = json.loads(result.stdout)
    cam, gauss = data["cam"]["metrics"], data["center_gaussian"]["metrics"]
    assert cam["top1_cls"] > 60.0  # 10 classes: chance is 10%
    assert cam["maxboxacc_v2"] > gauss["maxboxacc_v2"] + 5.0
    assert cam["pxap"] > gauss["pxap"]
