"""Overlays from a real score-map file and a generated synthetic dataset: example selection,
maps post-processed like the evaluation, GT and predicted boxes in the map frame, images from the
dataset root (or grey), mask-only datasets ranked by mask IoU."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from test_report import make_result
from wsolbench.datasets import load_annotations
from wsolbench.metrics.boxes import best_boxes
from wsolbench.metrics.gt import gt_mask, resize_boxes
from wsolbench.metrics.resize import postprocess_map
from wsolbench.protocol import Protocol
from wsolbench.report.build import OVERLAY_COLUMNS, OVERLAY_TILE, build_report
from wsolbench.report.examples import example_items, mask_iou, select_examples
from wsolbench.report.overlays import grid_size
from wsolbench.scoremaps import write_scoremaps

RES = 64


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("syn") / "synthetic"
    return root, load_annotations(f"synthetic:{root}?classes=3&size={RES}&train=1&val=1&test=4", split="test")


def _blob_maps(annotations, *, shift_per_image: float = 2.0) -> np.ndarray:
    """Raw 16x16 maps: a Gaussian at each GT box centre, pushed further off for later images."""
    yy, xx = np.mgrid[0:16, 0:16] + 0.5
    maps = []
    for i, r in enumerate(annotations.records):
        x0, y0, x1, y1 = r.boxes[0] * 16 / RES
        cx, cy = (x0 + x1) / 2 + shift_per_image * (i % 4), (y0 + y1) / 2
        maps.append(np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 2.5 ** 2)) * 5.0)
    return np.asarray(maps, np.float32)


def _result_for(annotations, ious, *, box=True) -> dict:
    result = make_result()
    result["protocol"]["resolution"] = [RES, RES]
    n = len(annotations)
    result["per_image"] = {"image_ids": annotations.image_ids, "labels": [r.label for r in annotations],
                           "predicted": [r.label for r in annotations], "iou": list(ious),
                           "constant_map": [False] * n}
    result["counts"]["n_images"] = result["dataset"]["n_images"] = n    # a result's counts match its rows
    if not box:
        result["box"] = None
        result["mask"]["piou_threshold"] = 0.5
    return result


def test_select_examples_orders_and_seeds():
    per_image = {"image_ids": list("abcdefghij"), "labels": [0] * 10, "predicted": [None] * 10,
                 "iou": [0.5, 0.9, None, 0.1, 0.9, 0.3, 0.0, 0.7, 0.2, 0.6]}
    chosen = select_examples(per_image, n=3, seed=1)
    assert [e.image_id for e in chosen["best"]] == ["b", "e", "h"]      # ties: row order
    assert [e.image_id for e in chosen["worst"]] == ["g", "d", "i"]
    rand = [e.image_id for e in chosen["random"]]
    assert len(rand) == 3 and not set(rand) & {"b", "e", "h", "g", "d", "i"}
    assert rand == [e.image_id for e in select_examples(per_image, n=3, seed=1)["random"]]
    assert chosen["best"][0].score == 0.9
    no_scores = select_examples({**per_image, "iou": [None] * 10}, n=4)
    assert no_scores["best"] == [] and no_scores["worst"] == [] and len(no_scores["random"]) == 4


def test_items_match_the_evaluation_frame(tmp_path, dataset):
    root, annotations = dataset
    maps_path = write_scoremaps(tmp_path / "maps.h5", annotations.image_ids, _blob_maps(annotations))
    ious = np.linspace(0.9, 0.1, len(annotations))
    result = _result_for(annotations, ious)
    items = example_items(maps_path, annotations, result, n=3, seed=0)
    assert [it.title.split("\n")[1] for it in items["best"]] == annotations.image_ids[:3]
    assert [it.title.split("\n")[1] for it in items["worst"]] == annotations.image_ids[::-1][:3]
    protocol = Protocol.from_dict(result["protocol"])
    raw = _blob_maps(annotations)
    for k, item in enumerate(items["worst"]):
        record = annotations.records[len(annotations) - 1 - k]
        expected_map, _ = postprocess_map(raw[len(annotations) - 1 - k], protocol, normalized=False)
        np.testing.assert_array_equal(item.scoremap, expected_map)
        gt = resize_boxes(record.boxes, record.image_size, (RES, RES))
        np.testing.assert_array_equal(item.gt_boxes, gt)
        box, iou = best_boxes(expected_map, 0.3, gt, regions="largest")   # best τ of IoU 50 in make_result
        np.testing.assert_array_equal(item.pred_boxes, [box])
        assert f"IoU {iou:.2f}" in item.title
        expected_mask = gt_mask(record.masks.load(), (RES, RES)) == 1
        np.testing.assert_array_equal(item.gt_mask.astype(bool), expected_mask)
        assert item.image is not None and item.image.shape == (RES, RES, 3)     # read from annotations.root
    grey = example_items(maps_path, annotations, result, n=1, image_root=str(tmp_path / "no-images"))
    assert grey["best"][0].image is None


def test_report_with_maps_draws_three_overlay_grids(tmp_path, dataset):
    pytest.importorskip("matplotlib")
    _, annotations = dataset
    maps_path = write_scoremaps(tmp_path / "maps.h5", annotations.image_ids, _blob_maps(annotations))
    result = _result_for(annotations, np.linspace(0.9, 0.1, len(annotations)))
    page = build_report(result, tmp_path / "rep", maps_path=maps_path, annotations=annotations, n_examples=4)
    html = page.read_text(encoding="utf-8")
    for group in ("best", "worst", "random"):
        name = f"overlays_{group}.png"
        assert f'src="{name}"' in html
        with Image.open(page.parent / name) as im:
            assert im.size == grid_size(4, ncols=OVERLAY_COLUMNS, tile=OVERLAY_TILE) == (830, 264)
    assert "Best localized" in html and "Worst localized" in html and "Random sample" in html
    # class names of the annotations label the per-class table
    assert re.search(r"<td class=\"l\">red-disc</td>", html)


def test_mask_only_dataset_ranks_by_mask_iou(tmp_path, dataset):
    root, _ = dataset
    annotations = load_annotations(f"wsoleval:{root}/metadata-masks/test", mask_root=str(root / "masks"))
    assert not annotations.has_boxes and annotations.has_masks
    maps = []
    for i, r in enumerate(annotations.records):   # the GT mask with k of every 4 rows dimmed (k = i % 4)
        m = (gt_mask(r.masks.load(), (RES, RES)) == 1).astype(np.float32)
        m[(np.arange(RES) % 4) < i % 4] *= 0.2
        maps.append(m)
    maps_path = write_scoremaps(tmp_path / "masks.h5", annotations.image_ids, np.asarray(maps), normalized=True)
    result = _result_for(annotations, [None] * len(annotations), box=False)
    items = example_items(maps_path, annotations, result, n=3)
    best_ids = [it.title.split("\n")[1] for it in items["best"]]
    assert best_ids == [i for i in annotations.image_ids if int(i[-5]) % 4 == 0][:3]
    for it in items["best"]:
        assert it.pred_mask is not None and len(it.pred_boxes) == 0
        assert "IoU 1.00" in it.title
    worst = items["worst"][0]
    score = mask_iou(worst.scoremap, worst.gt_mask, 0.5)
    assert f"IoU {score:.2f}" in worst.title and score < 1.0


def test_maps_without_annotations_is_an_error(tmp_path):
    from wsolbench.errors import DatasetError

    with pytest.raises(DatasetError, match="--gt"):
        build_report(make_result(), tmp_path, maps_path=tmp_path / "m.h5", curves=False)


def test_maps_with_an_empty_per_image_table(tmp_path, dataset):
    _, annotations = dataset
    maps_path = write_scoremaps(tmp_path / "maps.h5", annotations.image_ids, _blob_maps(annotations))
    result = make_result()
    result["per_image"] = {}
    page = build_report(result, tmp_path / "rep", maps_path=maps_path, annotations=annotations, curves=False)
    html = page.read_text(encoding="utf-8")
    assert "per-image table lists no images" in html and not (tmp_path / "rep" / "overlays_best.png").exists()
