"""Search spaces (TOML) and split parts for `wsolbench tune`: no torch, no Optuna needed."""

import json

import pytest
from click.testing import CliRunner

from wsolbench.cli.main import cli
from wsolbench.datasets.holdout import parse_split, split_part
from wsolbench.datasets.records import AnnotationSet, ImageRecord
from wsolbench.errors import DatasetError
from wsolbench.nn.recipe import get_recipe
from wsolbench.nn.search_space import SpaceError, get_space, list_spaces, parse_space

GOOD = """
[space]
method = "has"
[params."train.lr"]
distribution = "log-uniform"
low = 1e-4
high = 0.1
[params."train.lr".backbone.smallcnn]
low = 0.01
[params."method.hide_prob"]
distribution = "uniform"
low = 0.2
high = 0.8
[params."model.backbone_options.large_feature_map"]
distribution = "categorical"
choices = [false, true]
[params."train.epochs"]
distribution = "int"
low = 2
high = 10
step = 2
"""


def test_packaged_spaces_cover_the_methods_and_say_where_ranges_come_from():
    spaces = {s.name: s for s in list_spaces()}
    assert {"cam", "has", "cutmix", "adl", "acol", "spg", "er", "fsl"} <= set(spaces)
    for name, s in spaces.items():
        assert s.method == name and s.source and "wsolbench" in s.source
        lr = s.params[0]
        assert lr.name == "train.lr" and lr.distribution == "log-uniform" and lr.low == 1e-5 and lr.high == 1.0
        assert "model.backbone_options.large_feature_map" in [p.name for p in s.params]
    assert [p.name for p in spaces["has"].params][2:] == ["method.patch_sizes", "method.hide_prob"]
    assert [p.name for p in spaces["cutmix"].params][2:] == ["method.beta", "method.prob"]
    assert [p.name for p in spaces["adl"].params][2:] == ["method.drop_rate", "method.threshold"]
    assert [p.name for p in spaces["er"].params][2:] == ["method.lambda"]
    fsl = spaces["fsl"].splits
    assert (fsl.train, fsl.select, fsl.refit) == ("val[fit]", "val[holdout]", "val")
    assert (spaces["cam"].splits.train, spaces["cam"].splits.select, spaces["cam"].splits.refit) == ("train", "val", None)


def test_a_space_for_a_backbone_applies_its_bounds_and_drops_options_it_lacks():
    space = parse_space(GOOD, where="good.toml")
    small = space.for_backbone("smallcnn", lambda key: False)
    assert [p.name for p in small.params] == ["train.lr", "method.hide_prob", "train.epochs"]
    assert (small.params[0].low, small.params[0].high) == (0.01, 0.1)
    big = space.for_backbone("vgg16", lambda key: key == "large_feature_map")
    assert [p.name for p in big.params][2] == "model.backbone_options.large_feature_map"
    assert big.params[0].low == 1e-4
    assert big.params[3].describe() == "int [2, 10] step 2"


def test_sampled_values_land_in_the_recipe_fields_the_space_targets():
    space = parse_space(GOOD, where="good.toml")
    recipe = space.apply(get_recipe("has-smallcnn-synthetic"), {
        "train.lr": 0.02, "method.hide_prob": 0.3, "model.backbone_options.large_feature_map": True,
        "train.epochs": 4})
    assert (recipe.lr, recipe.epochs) == (0.02, 4)
    assert recipe.method_options["hide_prob"] == 0.3 and recipe.method_options["fill"] == "mean"
    assert recipe.backbone_options == {"width": 16, "stem_stride": 2, "large_feature_map": True}


@pytest.mark.parametrize("text,match", [
    ('[space]\nmethod = "cam"\n[params."train.lr_x"]\ndistribution = "uniform"\nlow = 0\nhigh = 1\n',
     "unknown search key 'train.lr_x'"),
    ('[space]\nmethod = "cam"\n[params."data.train_split"]\ndistribution = "categorical"\nchoices = ["a"]\n',
     "unknown search key 'data.train_split'"),
    ('[space]\nmethod = "cam"\n[params."train.lr"]\ndistribution = "normal"\nlow = 0\nhigh = 1\n',
     "distribution must be one of"),
    ('[space]\nmethod = "cam"\n[params."train.lr"]\ndistribution = "uniform"\nlow = 2\nhigh = 1\n',
     "low <= high"),
    ('[space]\nmethod = "cam"\n[params."train.lr"]\ndistribution = "log-uniform"\nlow = 0\nhigh = 1\n',
     "low > 0"),
    ('[space]\nmethod = "cam"\n[params."train.lr"]\ndistribution = "uniform"\nlow = 0\nhigh = 1\nhigh_x = 2\n',
     "unknown key"),
    ('[space]\nmethod = "cam"\n[params."train.lr"]\ndistribution = "categorical"\nchoices = [[1, 2]]\n',
     "choices must be"),
    ('[space]\nmethod = "cam"\n[grid]\n', "unknown section"),
    ('[space]\n[params."train.lr"]\ndistribution = "uniform"\nlow = 0\nhigh = 1\n', "must name the method"),
    ('[space]\nmethod = "cam"\n', "no \\[params"),
    ('[space\n', "not valid TOML"),
])
def test_bad_spaces_say_what_is_wrong(text, match):
    with pytest.raises(SpaceError, match=match):
        parse_space(text, where="bad.toml")


def test_unknown_space_lists_the_packaged_ones():
    with pytest.raises(SpaceError, match="packaged spaces: acol, adl, cam"):
        get_space("nosuch")


def test_tune_list_shows_every_space_without_torch():
    result = CliRunner().invoke(cli, ["tune", "--list", "--json"])
    assert result.exit_code == 0, result.output
    data = {s["name"]: s for s in json.loads(result.stdout)}
    assert data["fsl"]["splits"]["refit"] == "val"
    assert data["cam"]["overrides"]["train.lr"]["smallcnn"]["low"] == 0.01
    table = CliRunner().invoke(cli, ["tune", "--list"], env={"COLUMNS": "240"})
    assert table.exit_code == 0 and "method.lambda" in table.output and "val[holdout]" in table.output


def test_tune_without_a_method_is_a_usage_error():
    result = CliRunner().invoke(cli, ["tune"])
    assert result.exit_code == 2 and "--list" in result.output


# --------------------------------------------------------------------------- split parts

def _split(per_class: dict[int, int]) -> AnnotationSet:
    records = [ImageRecord(f"{c}/{i}.png", (c,)) for c, n in per_class.items() for i in range(n)]
    return AnnotationSet(records, name="toy", split="val", num_classes=len(per_class))


def test_every_fifth_image_of_a_class_is_held_out():
    full = _split({0: 10, 1: 5, 2: 3})
    fit, held = split_part(full, "fit"), split_part(full, "holdout")
    assert held.image_ids == ["0/4.png", "0/9.png", "1/4.png"]
    assert len(fit) == 15 and not set(fit.image_ids) & set(held.image_ids)
    assert (fit.split, held.split, fit.num_classes) == ("val[fit]", "val[holdout]", 3)
    assert split_part(full, "holdout").image_ids == held.image_ids   # deterministic


def test_split_names_with_parts_parse_and_bad_ones_are_refused():
    assert parse_split("val") == ("val", None) and parse_split("val[fit]") == ("val", "fit")
    with pytest.raises(DatasetError, match="fit, holdout"):
        parse_split("val[half]")
    with pytest.raises(DatasetError, match="no image for its holdout part"):
        split_part(_split({0: 3}), "holdout")
