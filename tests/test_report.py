"""Reports from a hand-built result (docs/result-json.md, T = 10 thresholds of step 0.1):
every section present, PNGs that decode at their documented sizes, curves that plot exactly the
result's arrays, per-class ranking, overlays, and the matplotlib-missing error."""

from __future__ import annotations

import json
import re
import sys

import numpy as np
import pytest
from PIL import Image

from wsolbench.errors import FormatError, WsolbenchError
from wsolbench.report import sections
from wsolbench.report.build import build_report, report_content
from wsolbench.report.files import load_result
from wsolbench.report.html import SECTION_IDS
from wsolbench.report.overlays import OverlayItem, grid_size, jet, render_overlay_grid

T = 10
THRESHOLDS = [round(0.1 * i, 1) for i in range(T)]


def _curve(peak: int, height: float) -> list[float]:
    return [round(max(0.0, height - 9.0 * abs(i - peak)), 1) for i in range(T)]


def _mode(shift: float, *, top1: bool) -> dict:
    curves = {"30": _curve(2, 90 + shift), "50": _curve(3, 70 + shift), "70": _curve(4, 40 + shift)}
    best = {d: int(np.argmax(c)) for d, c in curves.items()}
    top1_curves = {d: [round(0.8 * v, 1) for v in c] for d, c in curves.items()} if top1 else None
    return {"num_correct": {d: [round(v * 0.4) for v in c] for d, c in curves.items()},
            "curves": curves, "max": {d: max(c) for d, c in curves.items()},
            "best_threshold_index": best, "best_threshold": {d: THRESHOLDS[i] for d, i in best.items()},
            "top1_curves": top1_curves,
            "top1_at_best_threshold": {d: top1_curves[d][best[d]] for d in curves} if top1 else None}


def _mask() -> dict:
    edges = THRESHOLDS + [1.0, 2.0, 3.0]
    recall = [0.0] + [round(1 - 0.09 * k, 2) for k in range(T, -1, -1)]   # 0, .1, .19 ... 1.0
    precision = [None] + [round(0.95 - 0.05 * k, 2) for k in range(T + 1)]
    iou = [0.0] + [round(0.6 - 0.04 * abs(k - 6), 2) for k in range(1, T + 2)]
    return {"thresholds": edges, "precision": precision, "recall": recall, "iou_curve": iou,
            "pxap": 66.6, "piou": 60.0, "piou_threshold": sections.mask_thresholds(edges)[6],
            "per_class": {}}


def make_result(*, top1: bool = True, mask: bool = True, n_classes: int = 14) -> dict:
    """A version-1 result with box (largest + all), mask and per-class sections."""
    per_class = {str(c): {"n_images": 3, "gt_known_loc": float(100 - 7 * c) if c != 5 else 1.5,
                          "top1_cls": 50.0, "pxap": 40.0 + c if mask else None} for c in range(n_classes)}
    per_class["13"]["gt_known_loc"] = None
    return {
        "result_version": 1, "wsolbench_version": "0.1.0", "created": "2026-11-21T18:00:00Z",
        "maps": {"path": "/data/maps.h5", "sha256": "ab" * 32, "n_maps": 42,
                 "attrs": {"method": "CAM", "backbone": "vgg16"}},
        "dataset": {"spec": "wsoleval:meta/CUB/test", "name": "CUB", "split": "test", "n_images": 42,
                    "num_classes": n_classes},
        "protocol": {"name": "wsoleval", "resolution": [224, 224], "interpolation": "bicubic",
                     "normalization": "minmax", "cam_step": 0.1, "fixed_threshold": None,
                     "iou_thresholds": [30, 50, 70], "maxboxacc_iou": 50, "box_regions": "both", "map_class": "gt"},
        "protocol_name": "wsoleval", "protocol_hash": "0123456789ab",
        "metrics": {"maxboxacc": 70.0, "maxboxacc_v2": 68.0, "maxboxacc_iou30": 92.0, "maxboxacc_iou50": 72.0,
                    "maxboxacc_iou70": 42.0, "gt_known_loc": 70.0, "top1_loc": 56.0 if top1 else None,
                    "top1_cls": 80.0 if top1 else None, "pxap": 66.6 if mask else None,
                    "piou": 60.0 if mask else None, "mpxap": None},
        "counts": {"n_images": 42, "n_constant_maps": 1, "n_with_predicted_labels": 42 if top1 else 0},
        "box": {"thresholds": THRESHOLDS, "iou_thresholds": [30, 50, 70],
                "largest": _mode(0.0, top1=top1), "all": _mode(2.0, top1=top1)},
        "mask": _mask() if mask else None,
        "per_class": per_class,
        "per_image": {"image_ids": [f"img{i}.png" for i in range(42)], "labels": [i % n_classes for i in range(42)],
                      "predicted": [i % n_classes for i in range(42)], "iou": [i / 42 for i in range(42)],
                      "constant_map": [i == 0 for i in range(42)]},
    }


def _page_data(page) -> dict:
    html = page.read_text(encoding="utf-8")
    m = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S)
    return json.loads(m.group(1).replace("<\\/", "</"))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    pytest.importorskip("matplotlib")
    out = tmp_path_factory.mktemp("report")
    result = make_result()
    return result, build_report(result, out)


def test_report_has_every_section(built):
    result, page = built
    html = page.read_text(encoding="utf-8")
    for sid in SECTION_IDS:
        assert f'<section id="{sid}">' in html, sid
    assert page.name == "index.html"
    # protocol and provenance
    for text in ("ab" * 32, "0123456789ab", "wsoleval:meta/CUB/test", "0.1.0", "CUB", "test", "/data/maps.h5"):
        assert text in html, text
    assert "wsolbench report: CAM (vgg16) on CUB test" in html
    # every PNG the page references exists beside it (relative paths)
    refs = re.findall(r'<img class="fig" src="([^"]+)"', html)
    assert sorted(refs) == sorted(["box_accuracy.png", "top1_loc.png", "mask_curves.png", "worst_classes.png"])
    assert all((page.parent / r).is_file() for r in refs)


def test_pngs_decode_with_expected_sizes(built):
    _, page = built
    expected = {"box_accuracy.png": (1100, 420), "top1_loc.png": (640, 420), "mask_curves.png": (1100, 420),
                "worst_classes.png": (640, 420)}
    for name, size in expected.items():
        with Image.open(page.parent / name) as im:
            im.load()
            assert im.format == "PNG" and im.size == size, name
            assert np.asarray(im.convert("L")).std() > 5  # something is drawn


def test_embedded_curve_data_equals_result_arrays(built):
    result, page = built
    data = _page_data(page)
    largest, every = data["box"]
    assert largest["mode"] == "largest" and every["mode"] == "all"
    assert largest["thresholds"] == result["box"]["thresholds"]
    assert largest["curves"] == result["box"]["largest"]["curves"]
    assert every["curves"] == result["box"]["all"]["curves"]
    assert largest["best"]["50"] == {"threshold": 0.3, "index": 3, "value": 70.0}
    curves = result["box"]["largest"]["curves"]
    assert largest["old_protocol"] == {"0.2": {d: c[2] for d, c in curves.items()},
                                       "0.3": {d: c[3] for d, c in curves.items()}}
    assert data["top1"]["top1"] == result["box"]["largest"]["top1_curves"]["50"]
    assert data["top1"]["gt_known"] == result["box"]["largest"]["curves"]["50"]
    assert data["pr"]["recall"] == result["mask"]["recall"][1:]
    assert data["pr"]["precision"] == result["mask"]["precision"][1:]
    assert data["piou"]["iou"] == result["mask"]["iou_curve"][1:]
    assert data["piou"]["thresholds"] == [1.0] + THRESHOLDS[::-1]
    assert [m["key"] for m in data["metrics"]] == ["maxboxacc", "maxboxacc_v2", "maxboxacc_iou30", "maxboxacc_iou50",
                                                    "maxboxacc_iou70", "gt_known_loc", "top1_loc", "top1_cls",
                                                    "pxap", "piou"]


def test_plotted_lines_are_the_result_arrays(tmp_path):
    pytest.importorskip("matplotlib")
    from wsolbench.report import curves

    result = make_result()
    content = report_content(result)
    box = curves.plot_box_accuracy(content.box, tmp_path / "b.png")
    assert box["size"] == (1100, 420)
    assert [p["title"] for p in box["panels"]] == ["Box accuracy, largest region (MaxBoxAcc)",
                                                   "Box accuracy, all regions (MaxBoxAccV2)"]
    for panel, mode in zip(box["panels"], ("largest", "all")):
        lines = {label.split(":")[0]: xy for label, xy in panel["lines"].items() if label.startswith("IoU")}
        for d in ("30", "50", "70"):
            assert lines[f"IoU {d}"]["x"] == pytest.approx(THRESHOLDS)
            assert lines[f"IoU {d}"]["y"] == pytest.approx(result["box"][mode]["curves"][d])
        assert "IoU 50: max 70.0% at τ=0.30" in panel["lines"] or mode == "all"
    top1 = curves.plot_top1(content.top1, tmp_path / "t.png")
    (panel,) = top1["panels"]
    ys = {label.split(" (")[0]: xy["y"] for label, xy in panel["lines"].items()}
    assert ys["top-1 loc"] == pytest.approx(result["box"]["largest"]["top1_curves"]["50"])
    assert ys["GT-known loc"] == pytest.approx(result["box"]["largest"]["curves"]["50"])
    mask = curves.plot_mask_curves(content.pr, content.piou, tmp_path / "m.png")
    pr_panel, iou_panel = mask["panels"]
    (pr_line,) = pr_panel["lines"].values()
    assert list(pr_panel["lines"]) == ["PxAP = 66.60%"]
    assert pr_line["x"] == pytest.approx(result["mask"]["recall"][1:])
    assert pr_line["y"] == pytest.approx(result["mask"]["precision"][1:])
    assert iou_panel["lines"]["mask IoU"]["y"] == pytest.approx(result["mask"]["iou_curve"][1:])
    star = [v for k, v in iou_panel["lines"].items() if k.startswith("PIoU")][0]
    assert star["x"] == [result["mask"]["piou_threshold"]] and star["y"] == [0.6]
    worst = curves.plot_worst_classes(content.worst_metric, content.worst, tmp_path / "w.png", label="GT-known loc")
    assert worst["panels"][0]["bars"]["GT-known loc"] == [r["gt_known_loc"] for r in content.worst]


def test_per_class_table_and_worst_classes(built):
    result, page = built
    data = _page_data(page)
    assert [r["class"] for r in data["per_class"]] == list(range(14))
    worst = data["worst_classes"]
    assert worst["metric"] == "gt_known_loc"
    # class 5 has 1.5; then the lowest 100 - 7c (class 13 has no value and is skipped); 13 scored classes:
    # the worst half, 6, not 10
    assert [r["class"] for r in worst["rows"]] == [5, 12, 11, 10, 9, 8]
    html = page.read_text(encoding="utf-8")
    assert '<table class="sortable">' in html and "addEventListener('click'" in html
    assert 'data-v="1.5"' in html  # numeric sort key of class 5's GT-known loc


def test_worst_classes_fall_back_to_pxap():
    rows = [{"class": c, "gt_known_loc": None, "pxap": 50.0 - c} for c in range(4)]
    assert sections.worst_classes(rows, n=2) == ("pxap", [rows[3], rows[2]])
    assert sections.worst_classes([{"class": 0, "gt_known_loc": None, "pxap": None}]) == (None, [])


def test_worst_classes_single_out_at_most_half_of_a_small_dataset():
    rows = [{"class": c, "gt_known_loc": 90.0 - c, "pxap": None} for c in range(10)]
    key, worst = sections.worst_classes(rows)
    assert key == "gt_known_loc" and [r["class"] for r in worst] == [9, 8, 7, 6, 5]
    many = [{"class": c, "gt_known_loc": float(c), "pxap": None} for c in range(200)]
    assert [r["class"] for r in sections.worst_classes(many)[1]] == list(range(10))
    assert sections.worst_classes(rows[:1]) == (None, [])


def test_mask_thresholds_follow_reference_indexing():
    edges = [0.0, 0.25, 0.5, 0.75, 1.0, 2.0, 3.0]   # T = 4
    assert sections.mask_thresholds(edges) == [2.0, 1.0, 0.75, 0.5, 0.25, 0.0]


def test_sections_without_masks_or_predictions(tmp_path):
    pytest.importorskip("matplotlib")
    result = make_result(top1=False, mask=False)
    page = build_report(result, tmp_path)
    html = page.read_text(encoding="utf-8")
    for sid in SECTION_IDS:
        assert f'<section id="{sid}">' in html
    assert "the dataset has no masks" in html
    assert "no predicted labels" in html
    assert not (tmp_path / "mask_curves.png").exists()
    data = _page_data(page)
    assert data["top1"]["top1"] is None and data["pr"] is None


def test_fixed_threshold_result_plots_single_points(tmp_path):
    pytest.importorskip("matplotlib")
    from wsolbench.report import curves

    result = make_result(mask=False)
    result["box"] = {"thresholds": [0.2], "iou_thresholds": [50], "all": None, "largest": {
        "num_correct": {"50": [20]}, "curves": {"50": [47.6]}, "max": {"50": 47.6},
        "best_threshold_index": {"50": 0}, "best_threshold": {"50": 0.2},
        "top1_curves": {"50": [40.0]}, "top1_at_best_threshold": {"50": 40.0}}}
    content = report_content(result)
    assert len(content.box) == 1 and content.box[0]["old_protocol"] == {"0.2": {"50": 47.6}}
    drawn = curves.plot_box_accuracy(content.box, tmp_path / "b.png")
    assert drawn["size"] == (640, 420)
    (line,) = [v for k, v in drawn["panels"][0]["lines"].items() if k.startswith("IoU 50")]
    assert line == {"x": [0.2], "y": [47.6]}


def test_missing_matplotlib_is_a_clear_error_but_overlays_work(tmp_path, monkeypatch):
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(WsolbenchError, match=r"pip install 'wsolbench\[viz\]'"):
        build_report(make_result(), tmp_path / "r")
    assert not (tmp_path / "r" / "index.html").exists()
    page = build_report(make_result(), tmp_path / "r", curves=False)
    html = page.read_text(encoding="utf-8")
    assert "curves not drawn; install matplotlib" in html and "<img" not in html
    item = OverlayItem(image=None, scoremap=np.ones((8, 8)), gt_boxes=np.zeros((0, 4)), pred_boxes=np.zeros((0, 4)))
    out = render_overlay_grid([item], tmp_path / "o.png", tile=32)
    with Image.open(out) as im:
        assert im.size == grid_size(1, tile=32)


def test_overlay_grid_draws_boxes_masks_and_titles(tmp_path):
    m = np.zeros((20, 40))
    m[5:15, 10:30] = 1.0
    gt_mask = np.zeros((20, 40), np.uint8)
    gt_mask[4:16, 8:32] = 1
    img = np.full((60, 120, 3), 200, np.uint8)
    items = [OverlayItem(image=img, scoremap=m, gt_boxes=np.array([[10, 5, 29, 14]]),
                         pred_boxes=np.array([[0, 0, 39, 19]]), gt_mask=gt_mask, title="a\nb"),
             OverlayItem(image=None, scoremap=m, gt_boxes=np.zeros((0, 4)), pred_boxes=np.zeros((0, 4)), title="c")] * 3
    out = render_overlay_grid(items, tmp_path / "sub" / "g.png", ncols=4, tile=80)
    with Image.open(out) as im:
        arr = np.asarray(im.convert("RGB"))
    assert arr.shape[:2][::-1] == grid_size(6, ncols=4, tile=80)
    colors = {tuple(c) for c in arr.reshape(-1, 3)}
    from wsolbench.report.overlays import GT_COLOR, MASK_COLOR, PRED_COLOR
    assert {GT_COLOR, PRED_COLOR, MASK_COLOR} <= colors
    assert grid_size(6, ncols=4, tile=80) == (4 * 86 + 6, 24 + 2 * (80 + 28 + 6) + 6)
    assert grid_size(2, ncols=4, tile=80)[0] == 2 * 86 + 6


def test_overlay_rejects_bad_shapes(tmp_path):
    with pytest.raises(ValueError, match="scoremap must be a non-empty 2-D"):
        render_overlay_grid([OverlayItem(None, np.zeros(5), np.zeros((0, 4)), np.zeros((0, 4)))], tmp_path / "x.png")
    with pytest.raises(ValueError, match="gt_mask shape"):
        render_overlay_grid([OverlayItem(None, np.zeros((4, 4)), np.zeros((0, 4)), np.zeros((0, 4)),
                                         gt_mask=np.zeros((5, 5)))], tmp_path / "x.png")
    with pytest.raises(ValueError, match="at least one"):
        render_overlay_grid([], tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_jet_endpoints():
    assert jet(np.array([[0.0, 1.0, np.nan]])).tolist() == [[[0, 0, 128], [128, 0, 0], [0, 0, 128]]]


def test_load_result_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(FormatError, match="not a JSON result"):
        load_result(bad)
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"result_version": 0}))
    with pytest.raises(FormatError, match="expected result_version 1"):
        load_result(old)
    with pytest.raises(FormatError, match="not found"):
        load_result(tmp_path / "missing.json")
    good = tmp_path / "good.json"
    good.write_text(json.dumps(make_result()))
    assert load_result(good)["metrics"]["maxboxacc"] == 70.0


def test_overlay_of_one_dimensional_maps_and_thin_boxes(tmp_path):
    signal = OverlayItem(image=None, scoremap=np.linspace(0, 1, 100)[None, :], gt_boxes=np.array([[40, 0, 60, 0]]),
                         pred_boxes=np.array([[45, 0, 45, 0]]), gt_mask=(np.arange(100) > 50)[None, :].astype(np.uint8),
                         title="1-D")
    out = render_overlay_grid([signal], tmp_path / "s.png", tile=100)
    with Image.open(out) as im:
        arr = np.asarray(im.convert("RGB"))
    assert arr.shape[:2][::-1] == grid_size(1, tile=100)
    from wsolbench.report.overlays import LEGEND_H, PAD, render_tile

    tile = np.asarray(render_tile(signal, tile=100))
    assert tile.shape == (25, 100, 3)     # a 1 x 100 signal is stretched to a band a quarter of the tile high
    band = arr[LEGEND_H:LEGEND_H + 100, PAD:PAD + 100]
    assert (band == (235, 235, 235)).all(axis=-1).any()   # tile background above and below the band
