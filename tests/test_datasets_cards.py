"""Dataset cards: the counts the code checks a download against, the human cards, ``datasets list``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from wsolbench.cli.main import cli
from wsolbench.datasets.cards import CARD_NAMES, METRIC_KEYS, card_for, list_cards, load_card, parse_card
from wsolbench.datasets.registry import ADAPTERS
from wsolbench.errors import DatasetError

REPO = Path(__file__).resolve().parents[1]

# The counts of the releases (issue 3): split -> images, and the number of classes.
EXPECTED = {
    "cub": ({"train": 5994, "test": 5794}, 200),
    "tinyimagenet": ({"train": 100000, "val": 10000}, 200),
    "openimages": ({"train": 29819, "val": 2500, "test": 5000}, 100),
    "ilsvrc": ({"val": 50000}, 1000),
    "voc": ({"train": 1464, "val": 1449}, 20),
}


@pytest.mark.parametrize("name", CARD_NAMES)
def test_card_counts_match_the_releases(name):
    card = load_card(name)
    splits, classes = EXPECTED[name]
    assert card.num_classes == classes and card.name == name and name in card.adapters
    for split, images in splits.items():
        assert card.counts(split).images == images
    assert card.default_split in card.splits or card.default_split in card.wsoleval_splits
    assert set(card.metrics) <= set(METRIC_KEYS) and card.metrics
    assert card.source.startswith("http") and card.licence and card.pitfalls and card.box_convention


@pytest.mark.parametrize("name", CARD_NAMES)
def test_every_card_has_its_human_card_and_adapter(name):
    card = load_card(name)
    md = REPO / card.card
    assert md.is_file(), f"{card.card} is missing"
    text = md.read_text()
    for split, images in EXPECTED[name][0].items():
        assert f"{images:,}" in text, f"{card.card} does not state the {split} count {images:,}"
    assert name in ADAPTERS


def test_box_metrics_for_box_datasets_and_pixel_metrics_for_mask_datasets():
    for card in list_cards():
        if card.annotation == "boxes":
            assert "maxboxacc_v2" in card.metrics and "pxap" not in card.metrics
        else:
            assert "pxap" in card.metrics and "maxboxacc" not in card.metrics
    assert "mpxap" in load_card("voc").metrics


def test_wsoleval_counts_and_card_lookup():
    ilsvrc = load_card("ilsvrc")
    assert ilsvrc.counts("test", layout="wsoleval").images == 50000
    assert ilsvrc.counts("val", layout="wsoleval").images == 10000
    assert ilsvrc.counts("val").images == 50000
    assert load_card("cub").counts("val", layout="wsoleval").images == 1000   # no separate table: native
    assert card_for("wsoleval", "CUB").name == "cub" and card_for("wsoleval", "OpenImages").name == "openimages"
    assert card_for("synthetic") is None and card_for("wsoleval", "mine") is None


def test_bad_cards_are_refused():
    with pytest.raises(DatasetError, match="no dataset card"):
        load_card("mnist")
    with pytest.raises(DatasetError, match="unknown metric 'accuracy'"):
        parse_card('name = "x"\nmetrics = ["accuracy"]\n')
    with pytest.raises(DatasetError, match="not valid TOML"):
        parse_card("name = ")


def test_datasets_list_cli():
    runner = CliRunner()
    res = runner.invoke(cli, ["datasets", "list", "--json"])
    assert res.exit_code == 0
    data = json.loads(res.stdout)
    assert [a["adapter"] for a in data["adapters"]] == list(ADAPTERS)
    cub = next(a for a in data["adapters"] if a["adapter"] == "cub")
    assert cub["splits"]["test"] == 5794 and cub["card"] == "datasets/cub.md"
    assert {c["name"] for c in data["cards"]} == set(CARD_NAMES)
    table = runner.invoke(cli, ["datasets", "list"], terminal_width=200)
    assert table.exit_code == 0 and "cub:DIR" in table.stdout and "test 5,794" in table.stdout
