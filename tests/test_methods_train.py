"""Every recipe's method trains one step on every backbone; multi-label BCE training; CLI method options."""

import json

import pytest
from click.testing import CliRunner

torch = pytest.importorskip("torch")

from wsolbench.cli.main import cli  # noqa: E402
from wsolbench.datasets import load_annotations  # noqa: E402
from wsolbench.datasets.records import AnnotationSet, ImageRecord  # noqa: E402
from wsolbench.errors import WsolbenchError  # noqa: E402
from wsolbench.nn.backbones import create_backbone, list_backbones  # noqa: E402
from wsolbench.nn.data import WSOLDataset  # noqa: E402
from wsolbench.nn.methods import create_method  # noqa: E402
from wsolbench.nn.recipe import get_recipe, list_recipes  # noqa: E402
from wsolbench.nn.train import step_generator, train, uses_bce  # noqa: E402

SYNTHETIC_RECIPES = {r.method: r for r in list_recipes() if r.dataset == "synthetic"}
TINY = "classes=3&train=8&val=2&test=4&seed=2"


#: Backbones of ImageNet size (about 0.5 s a step on a free CPU, 10x that on a loaded one).
HEAVY = {"vgg16", "resnet50", "se_resnet50", "inception_v3", "googlenet", "squeezenet-gap"}
#: Methods that change the model (its layers or its maps) run on every backbone in the fast suite; the
#: others change only the input or the loss, so on heavy backbones they are in the slow suite.
MODEL_METHODS = {"cam", "adl", "fsl"}
#: Methods with their own architecture (the reference's ACoL and SPG models).
OWN_MODEL_METHODS = {"acol", "spg"}


def _grid():
    for method in sorted(SYNTHETIC_RECIPES):
        if method in OWN_MODEL_METHODS:
            continue  # their own models, on the backbones that have them: test_nn_acol_spg.py
        for backbone in (b.name for b in list_backbones()):
            slow = backbone in HEAVY and method not in MODEL_METHODS
            yield pytest.param(method, backbone, marks=[pytest.mark.slow] if slow else [])


def test_every_method_has_a_recipe():
    assert set(SYNTHETIC_RECIPES) == {"cam", "has", "cutmix", "adl", "acol", "spg", "er", "input-dropout", "augment",
                                      "fsl"}


@pytest.mark.parametrize("method,backbone", list(_grid()))
def test_recipe_method_trains_one_step_on_every_backbone(method, backbone):
    recipe = SYNTHETIC_RECIPES[method]
    torch.manual_seed(0)
    meth = create_method(recipe.method, **recipe.method_options)
    model = meth.prepare_model(create_backbone(backbone, num_classes=3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    model.train()
    side = 32 if backbone in HEAVY else 64  # ImageNet backbones still give 2x2 maps at 32 px
    images, labels = torch.randn(2, 3, side, side), torch.tensor([0, 2])
    # pixel-level targets (foreground, valid) for methods trained on them (fsl)
    extra = {"pixel_targets": torch.ones(2, 2, side, side)} if getattr(meth, "pixel_supervision", False) else {}
    out = meth.training_step(model, images, labels, generator=step_generator(0, 0, 0), **extra)
    assert out.logits.shape == (2, 3) and torch.isfinite(out.loss)
    before = [p.detach().clone() for p in model.parameters()]
    out.loss.backward()
    optimizer.step()
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))
    model.eval()
    with torch.no_grad():
        cams, logits = meth.cams_and_logits(model, images, labels)
    assert cams.ndim == 3 and cams.shape[0] == 2 and torch.isfinite(cams).all() and logits.shape == (2, 3)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    spec = f"synthetic:{tmp_path_factory.mktemp('syn') / 'data'}?{TINY}"
    return spec, load_annotations(spec, split="train"), load_annotations(spec, split="test")


def _multilabel(annotations: AnnotationSet) -> AnnotationSet:
    records = [ImageRecord(r.image_id, (r.label, (r.label + 1) % 3) if i % 2 else (r.label,), r.image_size, r.boxes)
               for i, r in enumerate(annotations.records)]
    return AnnotationSet(records=records, name="multi", num_classes=3, root=annotations.root)


def test_multi_label_training_uses_bce_over_the_label_set(tiny, tmp_path):
    _, train_set, _ = tiny
    multi = _multilabel(train_set)
    recipe = get_recipe("cam-smallcnn-synthetic").replace(epochs=1, batch_size=4, workers=0)
    assert uses_bce(recipe, multi) and not uses_bce(recipe, train_set)
    assert not uses_bce(recipe.replace(loss="ce"), multi) and uses_bce(recipe.replace(loss="bce"), train_set)
    _, target, _ = WSOLDataset(multi, train=True, size=64, resize=72, num_classes=3)[1]
    assert target.tolist() == [1.0 if c in multi.records[1].labels else 0.0 for c in range(3)]
    result = train(recipe, multi, out_dir=tmp_path / "bce")
    assert len(result.history) == 1 and result.history[0].loss > 0
    # BCE losses start near log(2) per class; cross-entropy near log(3): the recipe chose BCE
    ce = train(recipe.replace(loss="ce"), multi, out_dir=tmp_path / "ce")
    assert result.history[0].loss < ce.history[0].loss
    with pytest.raises(WsolbenchError, match="loss must be one of"):
        recipe.replace(loss="focal")


def _run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_cli_runs_a_method_with_method_options(tiny, tmp_path):
    spec, _, _ = tiny
    out = tmp_path / "has"
    result = _run("baseline", "run", "has", "--dataset", spec, "--epochs", "1", "--batch-size", "8", "--device", "cpu",
                  "-m", "patch_sizes=[0, 16]", "-m", "hide_prob=0.25", "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["maps"]["attrs"]["method"] == "has" and data["metrics"]["top1_cls"] is not None
    written = (out / "recipe.toml").read_text()
    assert "patch_sizes = [0, 16]" in written and "hide_prob = 0.25" in written and 'fill = "mean"' in written


def test_cli_rejects_bad_method_options(tiny, tmp_path):
    spec, _, _ = tiny
    bad = CliRunner().invoke(cli, ["baseline", "run", "er", "--dataset", spec, "--epochs", "1", "--device", "cpu",
                                   "-m", "reduction=none", "--out", str(tmp_path / "er")])
    assert bad.exit_code == 2 and "reduction must be one of" in bad.output
    unknown = CliRunner().invoke(cli, ["baseline", "run", "cutmix", "--dataset", spec, "--device", "cpu",
                                       "-m", "alpha=1", "--out", str(tmp_path / "c")])
    assert unknown.exit_code == 2 and "no option(s) alpha" in unknown.output
    syntax = CliRunner().invoke(cli, ["baseline", "run", "cutmix", "--dataset", spec, "-m", "beta"])
    assert syntax.exit_code == 2 and "KEY=VALUE" in syntax.output
