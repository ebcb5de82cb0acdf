"""Training with the Hide-and-Seek reproductions' recipes: the recipe's values reach the optimizer and
the scheduler (lr at the first and last step, weight decay, momentum), input normalisation and the
fills that depend on it, grayscale images, composed methods, and `baseline run` on Tiny ImageNet."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

torch = pytest.importorskip("torch")

from fixtures_datasets import make_tinyimagenet  # noqa: E402
from wsolbench.cli.main import cli  # noqa: E402
from wsolbench.datasets import load_annotations  # noqa: E402
from wsolbench.errors import WsolbenchError  # noqa: E402
from wsolbench.nn.data import IMAGENET_MEAN, InputNorm, WSOLDataset, load_rgb, to_tensor  # noqa: E402
from wsolbench.nn.methods import create_method  # noqa: E402
from wsolbench.nn.methods.has import fill_values  # noqa: E402
from wsolbench.nn.recipe import get_recipe, load_recipe  # noqa: E402
from wsolbench.nn.runner import choose_recipe  # noqa: E402
from wsolbench.nn.train import train  # noqa: E402

SMALL = {"batch_size": 3, "workers": 0, "eval_batch_size": 4, "image_size": 64, "resize_size": 64}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    fx = make_tinyimagenet(tmp_path_factory.mktemp("tiny"), n_classes=3, train_per_class=3, n_val=6)
    return fx, load_annotations(f"tinyimagenet:{fx.root}", split="train")


class StepSpy:
    """Records every SGD step's parameter groups (what the optimizer really used)."""

    def __init__(self, monkeypatch):
        self.steps = []
        original = torch.optim.SGD.step
        spy = self

        def step(optimizer, *args, **kwargs):
            spy.steps.append([{k: g[k] for k in ("lr", "weight_decay", "momentum", "nesterov", "dampening")}
                              for g in optimizer.param_groups])
            return original(optimizer, *args, **kwargs)

        monkeypatch.setattr(torch.optim.SGD, "step", step)


def test_linear_decay_recipe_reaches_the_optimizer_end_to_end(tiny, tmp_path, monkeypatch):
    _, train_set = tiny
    recipe = get_recipe("cam-alexnet-tinyimagenet").replace(epochs=3, **SMALL)  # 9 images: 3 steps per epoch
    spy = StepSpy(monkeypatch)
    result = train(recipe, train_set, out_dir=tmp_path)
    assert len(spy.steps) == 9
    for groups in spy.steps:
        for g in groups:
            assert (g["weight_decay"], g["momentum"], g["nesterov"], g["dampening"]) == (5e-4, 0.9, False, 0)
    first, last = spy.steps[0], spy.steps[-1]
    assert [g["lr"] for g in first] == pytest.approx([0.01] * len(first))        # lr at the first step
    assert [g["lr"] for g in last] == pytest.approx([1e-4] * len(last))          # and at the last one
    assert [g["lr"] for g in spy.steps[4]] == pytest.approx([0.00505] * len(first))  # linear in between
    assert [h.lr for h in result.history] == pytest.approx([0.01, 0.00505, 1e-4])
    assert {g["lr"] for g in first} == {first[0]["lr"]}  # every layer at the same lr (lr_classifier_ratio 1)


def test_regimes_recipe_sets_lr_and_weight_decay_per_epoch(tiny, tmp_path, monkeypatch):
    _, train_set = tiny
    regimes = [[1, 0.01, 5e-4], [2, 0.005, 5e-4], [3, 0.001, 0.0]]  # the HaS code's regimes, one epoch each
    recipe = get_recipe("has-32-alexnet-ilsvrc-has2017").replace(epochs=3, lr_regimes=regimes,
                                                                **{**SMALL, "batch_size": 9})  # a step per epoch
    spy = StepSpy(monkeypatch)
    train(recipe, train_set, out_dir=tmp_path / "a")
    assert [s[0]["lr"] for s in spy.steps] == pytest.approx([0.01, 0.005, 0.001])
    assert [s[0]["weight_decay"] for s in spy.steps] == [5e-4, 5e-4, 0.0]
    assert all(s[0]["momentum"] == 0.9 and s[0]["nesterov"] is False for s in spy.steps)
    # resuming after epoch 2 restores the lr and the weight decay of the regime it resumes in
    spy.steps.clear()
    train(recipe.replace(epochs=2), train_set, out_dir=tmp_path / "b")
    resumed = train(recipe, train_set, out_dir=tmp_path / "b", resume=True)
    assert resumed.start_epoch == 2 and spy.steps[2][0]["weight_decay"] == 0.0
    assert spy.steps[2][0]["lr"] == pytest.approx(0.001)


def test_input_normalisations_and_the_fills_that_depend_on_them():
    mean_pixel = np.round(np.array(IMAGENET_MEAN) * 255).astype(np.uint8)[None, None, :].repeat(2, 0).repeat(2, 1)
    assert float(to_tensor(mean_pixel, InputNorm.named("mean")).abs().max()) < 3e-3
    assert float(to_tensor(mean_pixel, InputNorm.named("mean-std")).abs().max()) < 1e-2
    raw = to_tensor(np.full((2, 2, 3), 255, np.uint8), InputNorm.named("none"))
    assert torch.equal(raw, torch.ones(3, 2, 2))
    # HaS / input dropout: "mean" is the dataset mean, "zero" is black, whatever the normalisation
    assert torch.equal(fill_values("mean", norm=InputNorm.named("mean")), torch.zeros(1, 3, 1, 1))
    assert torch.allclose(fill_values("mean", norm=InputNorm.named("none")).flatten(), torch.tensor(IMAGENET_MEAN))
    assert torch.equal(fill_values("zero", norm=InputNorm.named("none")), torch.zeros(1, 3, 1, 1))
    method = create_method("input-dropout", rate=0.999, fill="zero")
    method.input_norm = InputNorm.named("mean")
    out, _ = method.transform_batch(torch.zeros(1, 3, 8, 8), torch.tensor([0]), generator=torch.Generator())
    assert torch.allclose(out[0, :, 0, 0], -torch.tensor(IMAGENET_MEAN))  # black under mean-only normalisation
    with pytest.raises(ValueError, match="unknown input normalisation"):
        InputNorm.named("std")


def test_grayscale_images_are_replicated_to_rgb(tmp_path):
    path = tmp_path / "gray.JPEG"
    Image.fromarray(np.tile(np.arange(0, 256, 4, dtype=np.uint8), (64, 1)), mode="L").save(path)
    rgb = load_rgb(path, size_wh=(64, 64), image_id="gray.JPEG")
    assert rgb.shape == (64, 64, 3) and (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()


def test_dataset_uses_the_recipe_normalisation_and_flip(tiny):
    _, train_set = tiny
    plain = WSOLDataset(train_set, train=True, size=64, resize=64, norm=InputNorm.named("none"), flip=0.0)
    image, _, image_id = plain[0]
    expected = torch.from_numpy(load_rgb(f"{train_set.root}/{image_id}", size_wh=(64, 64), image_id=image_id)
                                .copy()).permute(2, 0, 1).float() / 255
    assert torch.equal(image, expected)  # no flip, no crop, pixels in [0, 1]
    flipped = WSOLDataset(train_set, train=True, size=64, resize=64, norm=InputNorm.named("none"), flip=1.0)[0][0]
    assert torch.equal(flipped, expected.flip(-1))


def test_composed_method_chains_the_transforms():
    method = create_method("augment+has", augment={"rotate": 0.0, "translate": 0.0, "hflip": 1.0},
                           has={"grids": [4], "hide_prob": 1.0})
    images = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)
    out, labels = method.transform_batch(images, torch.tensor([0, 1]), generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, torch.zeros_like(images)) and labels.tolist() == [0, 1]  # flipped, then all hidden
    with pytest.raises(WsolbenchError, match="one table per part"):
        create_method("augment+has", rotate=3.0)
    with pytest.raises(WsolbenchError, match="has no option"):
        create_method("augment+has", has={"grid": [4]})


def test_names_are_aliases_and_unknown_ones_fail_before_any_folder(tiny, tmp_path):
    fx, _ = tiny
    spec = f"tinyimagenet:{fx.root}"
    assert choose_recipe("cam", spec=spec, backbone="alexnet-gap").name == "cam-alexnet-tinyimagenet"
    assert choose_recipe("cam", spec=spec, backbone="googlenet-gap").name == "cam-googlenet-tinyimagenet"
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["baseline", "run", "cam", "--dataset", spec, "--backbone", "alexnet-gapp",
                                      "--out", str(out)])
    assert result.exit_code == 2 and "unknown backbone 'alexnet-gapp'" in result.output and not out.exists()
    bad = tmp_path / "bad.toml"
    bad.write_text(get_recipe("cam-alexnet-tinyimagenet").replace(backbone="nonet").to_toml())
    result = CliRunner().invoke(cli, ["baseline", "run", "cam", "--dataset", spec, "--recipe", str(bad),
                                      "--out", str(out)])
    assert result.exit_code == 2 and "unknown backbone 'nonet'" in result.output and not out.exists()
    result = CliRunner().invoke(cli, ["baseline", "run", "has", "--dataset", spec, "--out", str(out)])
    assert result.exit_code == 2 and "has-mix-alexnet-tinyimagenet" in result.output and not out.exists()


def test_baseline_run_on_tinyimagenet_takes_its_recipe_and_evaluates_val(tiny, tmp_path):
    fx, _ = tiny
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["baseline", "run", "cam", "--dataset", f"tinyimagenet:{fx.root}", "--backbone",
                                      "alexnet-gap", "--epochs", "1", "--batch-size", "3", "--workers", "0",
                                      "--device", "cpu", "--out", str(out), "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    recipe = load_recipe(str(out / "recipe.toml"))
    assert (recipe.name, recipe.dataset, recipe.backbone, recipe.eval_split) == (
        "cam-alexnet-tinyimagenet", "tinyimagenet", "alexnet", "val")
    data = json.loads(result.stdout)
    assert data["dataset"]["split"] == "val" and data["counts"]["n_images"] == len(fx.val)
    assert "starts from ImageNet weights" not in result.output  # trained from scratch, as the recipe says


def test_baseline_list_shows_the_aliases_and_the_reproduction_recipes():
    data = json.loads(CliRunner().invoke(cli, ["baseline", "list", "--json"]).stdout)
    aliases = {b["name"]: b["aliases"] for b in data["backbones"]}
    assert (aliases["alexnet"], aliases["googlenet"], aliases["squeezenet-gap"]) == (
        ["alexnet-gap"], ["googlenet-gap"], ["cusnet"])
    names = {r["name"] for r in data["recipes"]}
    assert {"cam-alexnet-tinyimagenet", "has-mix-squeezenet-gap-tinyimagenet", "has-56-googlenet-ilsvrc-has2017"} <= names
