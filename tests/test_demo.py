"""``wsolbench demo``: a tiny configuration end to end (fast) and the real demo (slow)."""

import json

import pytest
from click.testing import CliRunner

pytest.importorskip("torch")

from wsolbench.cli.main import cli  # noqa: E402
from wsolbench.nn.demo import story  # noqa: E402


def _demo(tmp_path, monkeypatch, *args):
    monkeypatch.setenv("WSOLBENCH_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--out", str(out), "--device", "cpu", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out, result


TINY = ("--classes", "3", "--per-class", "8", "--epochs", "1", "--bootstrap", "100")


def test_demo_tiny_config_trains_both_methods_and_tells_the_story(tmp_path, monkeypatch):
    from PIL import Image

    out, result = _demo(tmp_path, monkeypatch, *TINY)      # two training processes at once
    assert "demo: CAM vs HaS-mixed vs center-gaussian (95% intervals over images)" in result.stdout
    assert "paired bootstrap: HaS-mixed - CAM on the same 12 images" in result.stdout
    assert "Against the center-gaussian floor" in result.stdout and "chance top-1 = 33.3%" in result.stdout
    cam = json.loads((out / "cam" / "result.json").read_text())
    has = json.loads((out / "has" / "result.json").read_text())
    floor = json.loads((out / "center-gaussian.result.json").read_text())
    assert cam["counts"]["n_images"] == has["counts"]["n_images"] == 12
    assert cam["protocol_hash"] == has["protocol_hash"] == floor["protocol_hash"]
    assert cam["maps"]["attrs"]["method"] == "cam" and has["maps"]["attrs"]["method"] == "has"
    assert floor["maps"]["attrs"]["method"] == "sanity/center-gaussian"
    for r in (cam, has, floor):
        assert r["bootstrap"]["n_resamples"] == 100 and r["state"]["file"].endswith(".state.npz")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"]["CAM"] == cam["metrics"] and summary["metrics"]["HaS-mixed"] == has["metrics"]
    assert summary["recipes"]["cam"]["epochs"] == 1 and summary["recipes"]["has"]["method"] == "has"
    assert summary["paired"]["label"] == "HaS-mixed" and summary["paired"]["against"] == "CAM"
    assert summary["story"] and summary["jobs"] == 2 and summary["cpu_seconds"] > 0
    assert set(summary["floor"]) == {"CAM", "HaS-mixed"}
    page = (out / "report" / "index.html").read_text()
    assert "What the numbers say" in page and summary["story"][0].split(":")[0] in page
    assert (out / "report" / "cam" / "index.html").exists() and (out / "report" / "has" / "index.html").exists()
    with Image.open(out / "report" / "side_by_side.png") as im:
        assert im.size[0] > im.size[1] > 0
    # a second run in the same folder reuses the finished runs (resume), in this process, and agrees
    _, again = _demo(tmp_path, monkeypatch, *TINY, "--jobs", "1", "--json")
    data = json.loads(again.stdout)
    assert data["metrics"] == summary["metrics"] and data["paired"] == summary["paired"]


def _test(metrics: dict) -> dict:
    return {"confidence": 0.95, "metrics": {k: {"first": a, "second": b, "difference": b - a, "low": lo, "high": hi,
                                                "p_value": 0.01, "distinguishable": not lo <= 0 <= hi}
                                            for k, (a, b, lo, hi) in metrics.items()}}


def test_story_says_what_the_intervals_support():
    paired = _test({"pxap": (38.0, 49.4, 8.1, 14.2), "maxboxacc_v2": (30.5, 33.6, 1.0, 5.1),
                    "maxboxacc": (9.7, 11.3, -1.2, 4.0), "top1_cls": (89.7, 75.9, -17.0, -10.2)})
    floor = {"CAM": _test({"maxboxacc": (9.2, 9.7, -2.0, 3.0), "maxboxacc_v2": (15.6, 30.5, 12.0, 18.0)})}
    sizes = {"CAM": {"n": 500, "too_small": 61.2, "too_large": 2.0, "median_ratio": 0.41},
             "HaS-mixed": {"n": 500, "too_small": 38.0, "too_large": 5.4, "median_ratio": 0.62}}
    lines = story("CAM", "HaS-mixed", paired, floor, sizes)
    assert lines[0] == ("HaS-mixed spreads the map over more of the object: PxAP 49.4 vs 38.0 for CAM "
                        "(+11.4, 95% interval [+8.1, +14.2]).")
    assert "MaxBoxAccV2 33.6 vs 30.5 (+3.1, 95% interval [+1.0, +5.1]: higher)" in lines[1]
    assert "MaxBoxAcc 11.3 vs 9.7 (+1.6, 95% interval [-1.2, +4.0]: not distinguishable)" in lines[1]
    assert lines[2] == ("At the best threshold the predicted / GT box area has median 0.41 and 0.62 for CAM and "
                        "HaS-mixed; too small to reach IoU 0.5: 61% and 38% of the images, too large: 2% and 5%: "
                        "boxes too small, the signature of maps on the most discriminative part.")
    assert lines[3].startswith("It costs classification: top-1 75.9 vs 89.7")
    assert "CAM's MaxBoxAcc 9.7 is not distinguishable from the floor's 9.2" in lines[4]
    assert "MaxBoxAccV2 30.5 is above the floor's 15.6" in lines[4]
    right_size = {"CAM": {"n": 500, "too_small": 1.2, "too_large": 9.2, "median_ratio": 0.95},
                  "HaS-mixed": {"n": 500, "too_small": 0.6, "too_large": 2.6, "median_ratio": 1.10}}
    assert story("CAM", "HaS-mixed", _test({}), {}, right_size) == [
        "At the best threshold the predicted / GT box area has median 0.95 and 1.10 for CAM and HaS-mixed; too "
        "small to reach IoU 0.5: 1% and 1% of the images, too large: 9% and 3%, so boxes that miss IoU 0.5 miss "
        "by position or shape, not by size."]
    flat = story("CAM", "HaS-mixed", _test({"pxap": (38.0, 39.0, -2.0, 4.0)}), {})
    assert flat == ["On this run the PxAP of HaS-mixed (39.0) and CAM (38.0) are not distinguishable "
                    "(+1.0, 95% interval [-2.0, +4.0])."]


@pytest.mark.slow
def test_full_demo_shows_the_method_difference(tmp_path, monkeypatch):
    out, result = _demo(tmp_path, monkeypatch, "--json")
    data = json.loads(result.stdout)
    cam, has = data["metrics"]["CAM"], data["metrics"]["HaS-mixed"]
    floor = data["metrics"]["center-gaussian"]
    assert cam["top1_cls"] > 60.0  # 10 classes: chance is 10%
    assert cam["maxboxacc_v2"] > floor["maxboxacc_v2"] + 5.0
    pxap = data["paired"]["metrics"]["pxap"]
    assert pxap["difference"] > 0 and pxap["distinguishable"]     # HaS-mixed spreads the map (studies: +11)
    assert has["pxap"] > cam["pxap"]
