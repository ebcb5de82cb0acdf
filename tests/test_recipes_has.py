"""The Hide-and-Seek reproduction's recipes (Tiny ImageNet) and the HaS paper's (ILSVRC): their values,
the recipe options they use (schedules, normalisation, composed methods), and how runs pick them.
No torch needed."""

import pytest

from wsolbench.errors import WsolbenchError
from wsolbench.nn.recipe import get_recipe, list_recipes, parse_recipe, resolve_recipe

TINY = {r.name: r for r in list_recipes() if r.dataset == "tinyimagenet"}
HAS2017 = {r.name: r for r in list_recipes() if r.name.endswith("-ilsvrc-has2017")}
NETWORKS = ("alexnet", "googlenet", "alexnet-small", "squeezenet-gap")


def test_tinyimagenet_grid_is_complete():
    variants = ["cam", "has-16", "has-36", "has-64", "has-mix", "input-dropout-train", "input-dropout-train-test",
                "input-dropout-train-nonorm", "input-dropout-train-test-nonorm", "cam-gmp", "augment-aug1",
                "augment-aug2", "augment+has-aug1", "augment+has-aug2"]
    expected = {f"{v}-{n}-tinyimagenet" for v in variants for n in NETWORKS}
    expected |= {"cam-noresize-alexnet-tinyimagenet", "cam-noresize-googlenet-tinyimagenet"}
    assert set(TINY) == expected and len(TINY) == 58
    assert {r.name for r in TINY.values() if not r.variant} == {f"cam-{n}-tinyimagenet" for n in NETWORKS}


@pytest.mark.parametrize("name", sorted(TINY))
def test_tinyimagenet_recipes_carry_the_reproductions_settings(name):
    r = TINY[name]
    assert (r.momentum, r.weight_decay, r.lr, r.lr_schedule, r.lr_final) == (0.9, 5e-4, 0.01, "linear", 1e-4)
    assert r.epochs == (100 if r.backbone == "googlenet" else 200)
    assert (r.pretrained, r.train_split, r.eval_split, r.lr_classifier_ratio) == ("none", "train", "val", 1.0)
    assert r.normalize == ("none" if "nonorm" in name else "mean")
    assert r.resize_size == r.image_size  # the 64x64 image is resized, never cropped
    size = {"alexnet": 227, "googlenet": 224}.get(r.backbone, 64)
    assert r.image_size == (64 if "noresize" in name else size)
    assert r.backbone_options.get("fc_bias") is False  # a linear classifier without bias
    if r.backbone == "alexnet":
        assert r.backbone_options == {"channels": 512, "conv1_padding": 0, "pool5_stride1": True, "fc_bias": False}
    if r.backbone == "googlenet":
        assert r.backbone_options["channels"] == 1024
    assert r.pool == ("gmp" if "-gmp-" in name else "gap")
    assert r.train_flip == 0.0  # flips belong to AUG-1/AUG-2 (the augment method's hflip)
    # every value's origin is stated: the reproduction's, the HaS paper's, or wsolbench's choice
    assert "reproduction" in r.source and "wsolbench's choices" in r.source


def test_tinyimagenet_method_options():
    has = {g: TINY[f"has-{g}-alexnet-tinyimagenet"].method_options for g in ("16", "36", "64", "mix")}
    assert [has[g]["grids"] for g in ("16", "36", "64", "mix")] == [[16], [36], [64], [0, 16, 36, 64]]
    assert all(o["hide_prob"] == 0.5 and o["fill"] == "mean" for o in has.values())
    drop = TINY["input-dropout-train-test-nonorm-googlenet-tinyimagenet"].method_options
    assert (drop["at_test"], drop["fill"], drop["rate"]) == (True, "zero", 0.5)
    assert TINY["input-dropout-train-alexnet-tinyimagenet"].method_options["at_test"] is False
    aug2 = TINY["augment-aug2-squeezenet-gap-tinyimagenet"].method_options
    assert aug2["hflip"] == 0.5 and aug2["erasing"] > 0
    assert TINY["augment-aug1-squeezenet-gap-tinyimagenet"].method_options["erasing"] == 0
    both = TINY["augment+has-aug2-alexnet-small-tinyimagenet"]
    assert both.method == "augment+has" and both.method_options["augment"] == aug2
    assert both.method_options["has"]["grids"] == [0, 16, 36, 64]


def test_has2017_recipes_follow_the_has_code():
    assert len(HAS2017) == 12
    for r in HAS2017.values():
        assert (r.dataset, r.eval_split, r.pretrained, r.epochs, r.batch_size) == ("ilsvrc", "test", "none", 55, 128)
        assert (r.momentum, r.nesterov, r.lr_schedule) == (0.9, False, "regimes")
        assert [list(x) for x in r.lr_regimes] == [[1, 0.01, 5e-4], [19, 0.005, 5e-4], [30, 0.001, 0.0],
                                                   [44, 0.0005, 0.0], [53, 0.0001, 0.0]]
        assert r.variant.startswith("has2017") and "kkanshul/Hide-and-Seek" in r.source
    sizes = {n: HAS2017[f"has-{n}-alexnet-ilsvrc-has2017"].method_options["patch_sizes"] for n in (16, 32, 44, 56)}
    assert sizes == {16: [16], 32: [32], 44: [44], 56: [56]}
    mixed = HAS2017["has-mix-googlenet-ilsvrc-has2017"].method_options
    assert (mixed["patch_sizes"], mixed["reference_size"]) == ([0, 16, 32, 44, 56], 0)  # pixels of the 224 input


def test_tinyimagenet_runs_pick_tinyimagenet_recipes_or_fail_listing_them():
    assert resolve_recipe("cam", dataset="tinyimagenet").name == "cam-alexnet-tinyimagenet"
    assert resolve_recipe("cam", dataset="tinyimagenet", backbone="googlenet").name == "cam-googlenet-tinyimagenet"
    with pytest.raises(WsolbenchError, match=r"no default tinyimagenet recipe for method 'has'.*has-16-alexnet-tinyimagenet"
                                             r".*--recipe"):
        resolve_recipe("has", dataset="tinyimagenet")
    with pytest.raises(WsolbenchError, match="no default tinyimagenet recipe for method 'cam' with backbone 'resnet50'; its cam recipes"):
        resolve_recipe("cam", dataset="tinyimagenet", backbone="resnet50")
    # variants are never picked implicitly, on any dataset
    assert resolve_recipe("cam", dataset="ilsvrc", backbone="alexnet").name == "cam-alexnet-ilsvrc"
    assert resolve_recipe("cam", dataset="ilsvrc", backbone="alexnet").description.startswith("derived from cam-")


@pytest.mark.parametrize("text,match", [
    ('[train]\nlr_schedule = "cosine"\n', "lr_schedule must be one of step, linear, regimes"),
    ('[train]\nlr_schedule = "regimes"\n', "lr_regimes must be a non-empty list"),
    ('[train]\nlr_schedule = "regimes"\nlr = 0.01\nweight_decay = 0.0\nlr_regimes = [[2, 0.01, 0.0]]\n',
     "must start at epoch 1"),
    ('[train]\nlr_schedule = "regimes"\nlr = 0.01\nweight_decay = 0.0\nlr_regimes = [[1, 0.02, 0.0]]\n',
     "must repeat lr"),
    ('[train]\nlr_regimes = [[1, 0.01, 0.0]]\n', "lr_regimes is set but lr_schedule is 'step'"),
    ('[train]\nlr_final = -1\n', "lr_final must be a non-negative number"),
    ('[data]\nnormalize = "std"\n', "normalize must be one of mean-std, mean, none"),
    ('[data]\ntrain_flip = 2\n', "train_flip must be a probability"),
])
def test_bad_schedule_and_data_options_say_what_is_wrong(text, match):
    with pytest.raises(WsolbenchError, match=match):
        parse_recipe(text, where="bad.toml")


def test_composed_method_options_round_trip_through_toml():
    r = get_recipe("augment+has-aug1-alexnet-tinyimagenet")
    text = r.to_toml()
    assert "[method.augment]" in text and "[method.has]" in text
    again = parse_recipe(text)
    assert again == r and again.method_options == r.method_options
    regimes = get_recipe("has-32-alexnet-ilsvrc-has2017")
    assert parse_recipe(regimes.to_toml()).lr_regimes == regimes.lr_regimes
