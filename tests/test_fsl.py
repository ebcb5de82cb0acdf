"""The few-shot learning baseline: pixel-level targets (boxes, masks, ignore), their crop/flip with the
image, the foreground loss, and `wsolbench baseline run fsl` (trains on train-fullsup)."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

torch = pytest.importorskip("torch")

from PIL import Image  # noqa: E402

from wsolbench.cli.main import cli  # noqa: E402
from wsolbench.datasets import load_annotations  # noqa: E402
from wsolbench.datasets.records import AnnotationSet, GTMasks, ImageRecord, MaskSource  # noqa: E402
from wsolbench.errors import DatasetError, WsolbenchError  # noqa: E402
from wsolbench.nn.data import WSOLDataset  # noqa: E402
from wsolbench.nn.methods import create_method  # noqa: E402
from wsolbench.nn.methods.fsl import foreground_loss  # noqa: E402
from wsolbench.nn.pixel_targets import pixel_targets  # noqa: E402
from wsolbench.nn.recipe import get_recipe, resolve_recipe  # noqa: E402
from wsolbench.scoremaps import ScoreMapFile  # noqa: E402

TINY = "classes=3&train=8&val=5&test=4&seed=3"


def test_box_targets_fill_the_box_scaled_as_the_protocol_scales_boxes():
    record = ImageRecord("a.png", (0,), image_size=(20, 10), boxes=np.array([[10.0, 0.0, 19.0, 4.0]]))
    fg, valid = pixel_targets(record, size=4, image_path="a.png")
    assert fg.tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0]] and valid.all()


def test_mask_targets_keep_the_foreground_and_drop_ignore_pixels():
    inst = np.zeros((4, 4), np.uint8)
    inst[:2, :2] = 255
    ignore = np.zeros((4, 4), np.uint8)
    ignore[:, 2] = 255
    record = ImageRecord("m.png", (0,), masks=MaskSource(lambda: GTMasks([inst], [None], ignore)))
    fg, valid = pixel_targets(record, size=4, image_path="m.png")
    assert fg.tolist() == [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    assert valid[:, 2].tolist() == [0, 0, 0, 0] and valid[:, 3].all()


def test_an_image_without_boxes_or_masks_cannot_be_a_pixel_target():
    with pytest.raises(DatasetError, match="has no mask and no box.*train-fullsup"):
        pixel_targets(ImageRecord("x.png", (0,)), size=4, image_path="x.png")


def test_targets_are_cropped_and_flipped_with_their_image(tmp_path):
    rgb = np.zeros((40, 40, 3), np.uint8)
    rgb[5:20, 22:38] = 255                      # a white object, its box in inclusive pixels
    Image.fromarray(rgb).save(tmp_path / "obj.png")
    record = ImageRecord("obj.png", (0,), image_size=(40, 40), boxes=np.array([[22.0, 5.0, 37.0, 19.0]]))
    ds = WSOLDataset(AnnotationSet([record], root=str(tmp_path)), train=True, size=32, resize=40,
                     pixel_targets=True)
    for epoch in range(6):                      # several crops, with and without the flip
        ds.set_epoch(epoch)
        image, label, image_id, target = ds[0]
        white = image.mean(0) > 1.0
        assert target.shape == (2, 32, 32) and torch.equal(white, target[0] > 0.5)
    assert len(WSOLDataset(AnnotationSet([record], root=str(tmp_path)), train=True, size=32, resize=40)[0]) == 3


def test_foreground_loss_weights_cells_by_their_valid_pixels():
    logits = torch.tensor([[[[10.0, -10.0]]]])          # (1, 1, 1, 2): fg cell, bg cell
    targets = torch.zeros(1, 2, 2, 4)
    targets[0, 0, :, :2] = 1.0
    targets[0, 1] = 1.0
    assert float(foreground_loss(logits, targets)) < 1e-4
    targets[0, 1, :, :2] = 0.0                          # the fg cell is all ignore: only the bg cell counts
    logits[0, 0, 0, 0] = -10.0
    assert float(foreground_loss(logits, targets)) < 1e-4


def test_fsl_options_are_checked():
    with pytest.raises(WsolbenchError, match="seg_weight must be > 0"):
        create_method("fsl", seg_weight=0)
    with pytest.raises(WsolbenchError, match="has no option"):
        create_method("fsl", beta=1)


def test_fsl_recipes_train_on_train_fullsup():
    for name in ("fsl-smallcnn-synthetic", "fsl-resnet50-cub", "fsl-resnet50-ilsvrc", "fsl-resnet50-openimages"):
        assert (get_recipe(name).train_split, get_recipe(name).eval_split) == ("val", "test")
    derived = resolve_recipe("fsl", dataset="cub", backbone="vgg16")
    assert derived.method == "fsl" and derived.train_split == "val"


def test_baseline_run_fsl_trains_on_val_and_scores_class_agnostic_maps(tmp_path_factory):
    spec = f"synthetic:{tmp_path_factory.mktemp('syn') / 'data'}?{TINY}"
    load_annotations(spec, split="test")
    out = tmp_path_factory.mktemp("fsl") / "run"
    result = CliRunner().invoke(cli, ["baseline", "run", "fsl", "--dataset", spec, "--epochs", "2", "--batch-size", "8",
                                      "--device", "cpu", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["dataset"]["split"] == "test" and data["counts"]["n_images"] == 12
    assert data["metrics"]["pxap"] is not None and data["metrics"]["top1_cls"] is not None
    assert [json.loads(line)["images"] for line in (out / "train_log.jsonl").read_text().splitlines()] == [15, 15]
    with ScoreMapFile(out / "maps.h5") as f:
        assert f.attrs["method"] == "fsl" and f.shape_of(0) == (16, 16)
