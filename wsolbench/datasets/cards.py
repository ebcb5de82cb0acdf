"""Dataset cards: the machine-readable facts of each real dataset (package data
``wsolbench/datasets/cards/<name>.toml``): where it comes from, its licence, layout, classes,
which metrics apply, and the exact counts per split that ``wsolbench datasets check`` verifies a
local copy against. The human-readable cards are ``datasets/<name>.md`` at the repository root.

A split's ``fingerprint`` (where the card gives one) is the
:meth:`~wsolbench.datasets.records.AnnotationSet.fingerprint` of its official ground truth; with
the image count it tells the leaderboard whether a verified row was measured on that split
(:func:`official_split`). The embedded benchmarks (``synthetic``, ``synthetic1d``) have cards too
(:data:`BENCHMARK_CARD_NAMES`), with their default knobs' counts and fingerprints; they are not
listed among the real datasets.

Example:
    >>> card = load_card("cub")
    >>> card.counts("test").images, card.num_classes
    (5794, 200)
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from importlib import resources

from wsolbench.errors import DatasetError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CARD_NAMES = ("cub", "tinyimagenet", "openimages", "ilsvrc", "voc")
#: Cards of the generated benchmarks (default knobs): read by the leaderboard, not by ``datasets check``.
BENCHMARK_CARD_NAMES = ("synthetic", "synthetic1d")
METRIC_KEYS = ("maxboxacc", "maxboxacc_v2", "maxboxacc_iou30", "maxboxacc_iou50", "maxboxacc_iou70",
               "gt_known_loc", "top1_loc", "top1_cls", "pxap", "piou", "mpxap")
# wsolevaluation's metadata folder names (AnnotationSet.name of wsoleval:DIR) -> card.
WSOLEVAL_NAMES = {"cub": "cub", "ilsvrc": "ilsvrc", "openimages": "openimages"}


@dataclass(frozen=True)
class SplitCounts:
    """Expected counts of one split (``None`` = not stated by the card)."""

    images: int
    boxes: int | None = None
    instance_masks: int | None = None
    classes: int | None = None
    note: str = ""
    fingerprint: str | None = None


@dataclass(frozen=True)
class DatasetCard:
    """One dataset's card (see the TOML files for the meaning of each field)."""

    name: str
    title: str
    adapters: tuple[str, ...]
    annotation: str
    num_classes: int
    default_split: str
    metrics: tuple[str, ...]
    source: str
    download: str
    licence: str
    citation: str
    card: str
    layout: tuple[str, ...]
    box_convention: str
    pitfalls: tuple[str, ...]
    splits: dict[str, SplitCounts] = field(default_factory=dict)
    wsoleval_splits: dict[str, SplitCounts] = field(default_factory=dict)

    def counts(self, split: str, *, layout: str = "native") -> SplitCounts | None:
        """Expected counts of ``split``; ``layout="wsoleval"`` reads the wsolevaluation-metadata
        table where the card has one (ILSVRC), else the native one."""
        if layout == "wsoleval" and self.wsoleval_splits:
            return self.wsoleval_splits.get(split)
        return self.splits.get(split)

    def board_splits(self) -> dict[str, SplitCounts]:
        """The splits as the leaderboard names them: wsolevaluation's names where the card has a
        wsolevaluation table (ILSVRC: ``test`` = the 50,000 validation images), else the native ones."""
        return dict(self.wsoleval_splits or self.splits)

    def to_dict(self) -> dict:
        out = {k: getattr(self, k) for k in ("name", "title", "annotation", "num_classes", "default_split",
                                             "source", "download", "licence", "citation", "card", "box_convention")}
        out.update(adapters=list(self.adapters), metrics=list(self.metrics), layout=list(self.layout),
                   pitfalls=list(self.pitfalls),
                   splits={k: vars(v) for k, v in self.splits.items()},
                   wsoleval_splits={k: vars(v) for k, v in self.wsoleval_splits.items()})
        return out


def _split_counts(where: str, table: dict) -> dict[str, SplitCounts]:
    out = {}
    for split, values in table.items():
        try:
            out[split] = SplitCounts(**values)
        except TypeError as e:
            raise DatasetError(f"{where}: split {split!r} has an unknown or missing field ({e})") from None
    return out


def parse_card(text: str, *, where: str = "card") -> DatasetCard:
    """Build a :class:`DatasetCard` from TOML text.

    Raises:
        DatasetError: malformed TOML, a missing field or a metric that does not exist.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise DatasetError(f"{where}: not valid TOML ({e})") from None
    splits = _split_counts(where, data.pop("splits", {}))
    wsoleval = _split_counts(where, data.pop("wsoleval", {}).get("splits", {}))
    unknown = [m for m in data.get("metrics", []) if m not in METRIC_KEYS]
    if unknown:
        raise DatasetError(f"{where}: unknown metric {unknown[0]!r}; metrics are {', '.join(METRIC_KEYS)}")
    for key in ("adapters", "metrics", "layout", "pitfalls"):
        data[key] = tuple(data.get(key, ()))
    try:
        return DatasetCard(**data, splits=splits, wsoleval_splits=wsoleval)
    except TypeError as e:
        raise DatasetError(f"{where}: unknown or missing card field ({e})") from None


def load_card(name: str) -> DatasetCard:
    """The card of dataset ``name`` (one of :data:`CARD_NAMES` or :data:`BENCHMARK_CARD_NAMES`).

    Raises:
        DatasetError: no such card.
    """
    if name not in CARD_NAMES + BENCHMARK_CARD_NAMES:
        raise DatasetError(f"no dataset card {name!r}; cards: {', '.join(CARD_NAMES + BENCHMARK_CARD_NAMES)}")
    path = resources.files("wsolbench.datasets").joinpath("cards", f"{name}.toml")
    return parse_card(path.read_text(encoding="utf-8"), where=f"wsolbench/datasets/cards/{name}.toml")


def list_cards() -> list[DatasetCard]:
    """Every dataset card, in :data:`CARD_NAMES` order."""
    return [load_card(n) for n in CARD_NAMES]


def official_split(dataset: str, split: str) -> tuple[DatasetCard | None, SplitCounts | None]:
    """The card of a leaderboard dataset name (``cub``, ``synthetic``...) and its official ``split``
    (:meth:`DatasetCard.board_splits`); ``(None, None)`` for a dataset without a card and
    ``(card, None)`` for a split the card does not list."""
    if dataset not in CARD_NAMES + BENCHMARK_CARD_NAMES:
        return None, None
    card = load_card(dataset)
    return card, card.board_splits().get(split)


def card_for(adapter: str, dataset_name: str | None = None) -> DatasetCard | None:
    """The card that describes data loaded by ``adapter`` (``wsoleval`` needs the dataset name its
    metadata folder gave, e.g. ``CUB``); ``None`` for datasets without a card (synthetic)."""
    if adapter in CARD_NAMES:
        return load_card(adapter)
    if adapter == "wsoleval" and dataset_name:
        name = WSOLEVAL_NAMES.get(dataset_name.lower())
        return load_card(name) if name else None
    return None
