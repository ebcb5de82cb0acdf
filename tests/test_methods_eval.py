"""Evaluation options of any baseline: the 10-crop test and torchcam explainers."""

import json

import pytest
from click.testing import CliRunner

torch = pytest.importorskip("torch")

from wsolbench.cli.main import cli  # noqa: E402
from wsolbench.datasets import load_annotations  # noqa: E402
from wsolbench.nn.backbones import create_backbone  # noqa: E402
from wsolbench.nn.multicrop import MultiCrop  # noqa: E402
from wsolbench.scoremaps import ScoreMapFile  # noqa: E402

TINY = "classes=3&train=8&val=2&test=4&seed=4"


def _pixel_source(images, labels):
    """A 'model' whose map of a crop is the crop's first channel and whose scores are fixed per crop."""
    logits = torch.stack([images[:, 1].mean((1, 2)), images[:, 2].mean((1, 2))], 1)
    return images[:, 0].clone(), logits


def test_multicrop_maps_are_averaged_back_in_the_image_frame():
    mc = MultiCrop(ratio=0.75)
    full = mc.full_size(12)
    assert full == 16 and mc.offsets(16, 12) == [(0, 0), (0, 4), (4, 0), (4, 4), (2, 2)]
    images = torch.randn(3, 3, full, full)
    maps, log_probs = mc.cams_and_logits(_pixel_source, images, torch.tensor([0, 1, 0]), crop=12)
    # every crop's map is its pixels: pasting back (mirrored crops un-mirrored) rebuilds the image
    torch.testing.assert_close(maps, images[:, 0], atol=1e-5, rtol=1e-5)
    crops = [images[..., y:y + 12, x:x + 12] for y, x in mc.offsets(16, 12) for _ in (0, 1)]
    probs = torch.stack([torch.softmax(_pixel_source(c, None)[1], 1) for c in crops]).mean(0)
    torch.testing.assert_close(log_probs.exp(), probs)
    assert mc.n_crops == 10 and mc.tag() == "multicrop10-0.75"
    with pytest.raises(ValueError, match="ratio"):
        MultiCrop(ratio=0.3)


def test_multicrop_of_a_cam_covers_the_image_at_the_feature_stride():
    torch.manual_seed(0)
    model = create_backbone("smallcnn", num_classes=3).eval()
    mc = MultiCrop(ratio=0.875, flips=False)
    images = torch.randn(2, 3, mc.full_size(64), mc.full_size(64))
    with torch.no_grad():
        maps, log_probs = mc.cams_and_logits(lambda x, y: model.cams_and_logits(x, y), images, None, crop=64)
    assert mc.full_size(64) == 73 and maps.shape == (2, 18, 18) and log_probs.shape == (2, 3)
    # labels=None: the maps are those of the class predicted from the averaged scores
    with torch.no_grad():
        again, _ = mc.cams_and_logits(lambda x, y: model.cams_and_logits(x, y), images, log_probs.argmax(1), crop=64)
    torch.testing.assert_close(maps, again)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    spec = f"synthetic:{root / 'data'}?{TINY}"
    out = root / "run"
    result = CliRunner().invoke(cli, ["baseline", "run", "cam", "--dataset", spec, "--epochs", "1", "--batch-size", "8",
                                      "--device", "cpu", "--out", str(out), "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return spec, out, json.loads(result.stdout)


def test_multicrop_on_a_finished_run_does_not_retrain(finished_run):
    spec, out, single = finished_run
    checkpoint = (out / "checkpoint_last.pt").read_bytes()
    result = CliRunner().invoke(cli, ["baseline", "run", "cam", "--dataset", spec, "--epochs", "1", "--batch-size", "8",
                                      "--device", "cpu", "--out", str(out), "--resume", "--multicrop", "--json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (out / "checkpoint_last.pt").read_bytes() == checkpoint  # the trained model, not a new one
    assert (out / "result.multicrop10-0.875.json").exists() and (out / "result.json").exists()
    assert data["maps"]["attrs"]["multicrop"] == "multicrop10-0.875"
    assert data["counts"]["n_images"] == single["counts"]["n_images"]
    with ScoreMapFile(out / "maps.multicrop10-0.875.h5") as f:
        assert f.shape_of(0) == (18, 18)  # 73 px image at the CAM's stride 4
    assert json.loads((out / "result.json").read_text())["metrics"] == single["metrics"]


def test_bad_multicrop_ratio_and_explainer_fail_before_training(finished_run, tmp_path):
    spec, _, _ = finished_run
    bad = CliRunner().invoke(cli, ["baseline", "run", "cam", "--dataset", spec, "--device", "cpu",
                                   "--multicrop", "0.2", "--out", str(tmp_path / "a")])
    assert bad.exit_code == 2 and "--multicrop" in bad.output and not (tmp_path / "a").exists()
    unknown = CliRunner().invoke(cli, ["baseline", "run", "cam", "--dataset", spec, "--device", "cpu",
                                       "--explainer", "torchcam:Magic", "--out", str(tmp_path / "b")])
    assert unknown.exit_code == 2 and "GradCAMpp" in unknown.output and not (tmp_path / "b").exists()


def test_gradcam_of_a_gap_head_is_the_relu_of_cam():
    pytest.importorskip("torchcam")
    from wsolbench.nn.explainers import feature_layer, make_map_source

    torch.manual_seed(0)
    model = create_backbone("smallcnn", num_classes=4).eval()
    assert feature_layer(model) == "stage3"
    source = make_map_source("torchcam:GradCAM", model)
    images, labels = torch.randn(3, 3, 64, 64), torch.tensor([0, 3, 1])
    with torch.no_grad():  # extraction runs under no_grad; the explainer enables gradients itself
        maps, logits = source(images, labels)
        cams = model.cams(images, labels)
    source.extractor.remove_hooks()
    # d score_c / d A_k(i, j) = w_ck / (h w) for GAP + linear: Grad-CAM = ReLU(CAM) / (h w)
    torch.testing.assert_close(maps, torch.relu(cams) / (16 * 16), atol=1e-6, rtol=1e-4)
    torch.testing.assert_close(logits, model(images))


@pytest.mark.parametrize("name", ["GradCAMpp", "LayerCAM", "ScoreCAM"])
def test_explainers_run_on_a_trained_baseline(finished_run, name):
    pytest.importorskip("torchcam")
    spec, out, _ = finished_run
    result = CliRunner().invoke(cli, ["baseline", "run", "cam", "--dataset", spec, "--epochs", "1", "--batch-size", "8",
                                      "--device", "cpu", "--out", str(out), "--resume", "--explainer",
                                      f"torchcam:{name}", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["maps"]["attrs"]["map_source"] == f"torchcam:{name}"
    assert (out / f"result.torchcam-{name}.json").exists()
    assert data["metrics"]["pxap"] is not None and len(load_annotations(spec, split="test")) == 12
