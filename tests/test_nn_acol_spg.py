"""ACoL and SPG: smoke tests over every backbone that has them, their pieces on hand-made tensors,
and a run through the CLI. Equality with the reference: ``test_nn_reference_equality.py``."""

import json

import pytest

torch = pytest.importorskip("torch")
from click.testing import CliRunner  # noqa: E402

from wsolbench.cli.main import cli  # noqa: E402
from wsolbench.errors import WsolbenchError  # noqa: E402
from wsolbench.nn.backbones import create_backbone  # noqa: E402
from wsolbench.nn.backbones.acol import label_attention, normalize_maps  # noqa: E402
from wsolbench.nn.backbones.registry import variant_backbones  # noqa: E402
from wsolbench.nn.methods import create_method  # noqa: E402
from wsolbench.nn.methods.spg import guidance_mask  # noqa: E402

CASES = [(m, b) for m in ("acol", "spg") for b in variant_backbones(m)]


def test_acol_and_spg_exist_for_the_reference_backbones_and_the_small_cnn():
    for method in ("acol", "spg"):
        assert variant_backbones(method) == ["inception_v3", "resnet50", "smallcnn", "vgg16"]
    with pytest.raises(WsolbenchError, match="the acol model is defined for inception_v3, resnet50, smallcnn, vgg16"):
        create_backbone("alexnet", architecture="acol", num_classes=3)
    with pytest.raises(ValueError, match="pool must be 'gap'"):
        create_backbone("smallcnn", architecture="spg", num_classes=3, pool="gmp")


@pytest.mark.parametrize("method_name,backbone", CASES)
def test_train_step_and_maps_on_every_backbone(method_name, backbone):
    torch.manual_seed(0)
    method = create_method(method_name)
    model = method.prepare_model(create_backbone(backbone, architecture=method_name, num_classes=4))
    images, labels = torch.randn(2, 3, 64, 64), torch.tensor([1, 3])
    model.train()
    out = method.training_step(model, images, labels, generator=torch.Generator().manual_seed(0))
    assert out.logits.shape == (2, 4) and torch.isfinite(out.loss)
    out.loss.backward()
    trained = [p for p in model.parameters() if p.grad is not None and float(p.grad.abs().sum()) > 0]
    assert len(trained) > 0.8 * len(list(model.parameters()))  # every branch gets gradients
    model.eval()
    with torch.no_grad():
        cams, logits = method.cams_and_logits(model, images, labels)
        predicted, _ = method.cams_and_logits(model, images, None)
        torch.testing.assert_close(model(images), logits)
    side = 4 if backbone != "smallcnn" else 16
    assert cams.shape == (2, side, side) and cams.dtype == torch.float32 and torch.isfinite(cams).all()
    assert predicted.shape == cams.shape


def test_acol_erases_where_the_label_attention_reaches_the_threshold():
    maps = torch.arange(2 * 3 * 16, dtype=torch.float32).view(2, 3, 4, 4)
    attention = label_attention(maps, torch.tensor([0, 2]))
    assert attention.shape == (2, 1, 4, 4) and float(attention.min()) == 0.0 and float(attention.max()) == 1.0
    torch.testing.assert_close(normalize_maps(maps)[1, 2], attention[1, 0])
    model = create_backbone("smallcnn", architecture="acol", num_classes=3).eval()
    create_method("acol", acol_threshold=0.0).prepare_model(model)  # erase everything: B sees zeros
    with torch.no_grad():
        out = model(torch.randn(2, 3, 32, 32), torch.tensor([0, 1]), outputs=True)
        bias = model.classifier_B(torch.zeros(2, 64, 8, 8))
    torch.testing.assert_close(out["feat_map_b"], bias)


def test_spg_guidance_mask_follows_the_reference_rules():
    attention = torch.zeros(2, 1, 10, 10)
    attention[0, 0, :6, :6] = 0.9   # 36 pixels above the high threshold 0.7: they are the foreground
    attention[0, 0, 8:, 8:] = 0.3   # neither: ignored
    attention[1, 0, 0, :5] = 0.5    # only 5 pixels, none above 0.7: foreground = above 0.7 x max (0.35)
    attention[1, 0, 1, :5] = 0.3    # below 0.35: not foreground
    mask = guidance_mask(attention, 0.7, 0.01)
    assert float(mask[0, 0, 0, 0]) == 1 and float(mask[0, 0, 9, 9]) == 255 and float(mask[0, 0, 7, 0]) == 0
    assert mask[1, 0, 0, :5].tolist() == [1.0] * 5 and mask[1, 0, 1, :5].tolist() == [255.0] * 5
    assert float(mask[1, 0, 5, 5]) == 0  # background below the low threshold
    with pytest.raises(WsolbenchError, match="spg_threshold_2l must be in"):
        create_method("spg", spg_threshold_2l=1.5)
    assert create_method("spg").thresholds() == ((0.7, 0.01), (0.5, 0.05), (0.7, 0.1))


def test_acol_and_spg_need_single_label_targets():
    model = create_backbone("smallcnn", architecture="acol", num_classes=3)
    with pytest.raises(ValueError, match="one class per image"):
        create_method("acol").training_step(model, torch.randn(2, 3, 32, 32), torch.ones(2, 3),
                                            generator=torch.Generator())


def test_acol_threshold_out_of_range_is_rejected():
    with pytest.raises(WsolbenchError, match=r"acol: acol_threshold must be in \[0, 1\], got 1.5"):
        create_method("acol", acol_threshold=1.5)


def test_a_wsolevaluation_checkpoint_that_does_not_fit_names_its_format_and_keys():
    from wsolbench.nn.checkpoint import CheckpointError, load_pretrained

    model = create_backbone("smallcnn", architecture="acol", num_classes=3)
    state = model.state_dict()
    dropped = next(k for k in state if k.startswith("classifier_B."))
    del state[dropped]
    saved = {"architecture": "smallcnn", "epoch": 1, "state_dict": state}  # the reference's main.py layout
    with pytest.raises(CheckpointError, match=r"the wsolevaluation checkpoint does not match the SmallCNNACoL model "
                                              r"\(the names of a wsolevaluation model are expected\); "
                                              rf"missing keys \(1\): {dropped}"):
        load_pretrained(model, saved)


@pytest.mark.parametrize("method_name", ["acol", "spg"])
def test_cli_runs_acol_and_spg_on_the_synthetic_benchmark(method_name, tmp_path):
    spec = f"synthetic:{tmp_path / 'syn'}?classes=3&train=8&val=2&test=4&seed=3"
    result = CliRunner().invoke(cli, ["baseline", "run", method_name, "--dataset", spec, "--epochs", "1",
                                      "--batch-size", "4", "--device", "cpu", "--out", str(tmp_path / "run"),
                                      "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["maps"]["attrs"]["method"] == method_name and data["metrics"]["top1_cls"] is not None
    assert f'name = "{method_name}-smallcnn-synthetic"' in (tmp_path / "run" / "recipe.toml").read_text()
    bad = CliRunner().invoke(cli, ["baseline", "run", method_name, "--dataset", spec, "--backbone", "alexnet",
                                   "--out", str(tmp_path / "bad")])
    assert bad.exit_code == 2 and f"the {method_name} model is defined for" in bad.output


def test_search_spaces_of_acol_and_spg_vary_the_reference_knobs():
    from wsolbench.nn.recipe import get_recipe
    from wsolbench.nn.search_space import get_space

    acol, spg = get_space("acol"), get_space("spg")
    assert [p.name for p in acol.params][-1] == "method.acol_threshold"
    assert {p.name for p in spg.params} >= {f"method.spg_threshold_{k}" for k in ("1h", "1l", "2h", "2l", "3h", "3l")}
    sampled = acol.apply(get_recipe("acol-vgg16-cub"), {"method.acol_threshold": 0.55, "train.lr": 1e-4})
    assert (sampled.method_options, sampled.lr) == ({"acol_threshold": 0.55}, 1e-4)
    create_method("spg", **spg.apply(get_recipe("spg-resnet50-ilsvrc"), {"method.spg_threshold_2l": 0.2}).method_options)
