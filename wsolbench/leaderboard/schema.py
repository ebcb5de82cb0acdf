"""The leaderboard submission schema (version 2): columns, datasets, protocols, categories and hashes.

A submission is a CSV file with one row per (method, backbone, dataset, split, protocol). The
full specification, for humans, is ``leaderboard/SCHEMA.md``; this module is the machine-readable
half of it and the two are kept in step by the tests. Version 1 files are upgraded by
``wsolbench leaderboard migrate`` (:mod:`~wsolbench.leaderboard.migrate`).

Protocols come in two kinds:

* **presets** (``wsoleval``, ``cam2016``): defined by :mod:`wsolbench.protocol`; a row's
  ``protocol_hash`` is ``get_protocol(preset, **options).hash()``, so wsolbench can recompute a
  verified row exactly.
* **reported-only** protocols (``paper-own-threshold``, ``fixed-threshold-best-of-0.2-0.5``): the
  ways published numbers were measured that no preset reproduces. Their ``protocol_hash`` is a
  documented pseudo-hash, :func:`pseudo_hash`, which starts with ``p`` (never a hex digit), so it
  can never equal the hash of a real protocol.

Rows also have a **category**: ``method`` (a weakly supervised method: ranked), ``sanity`` (a map
that ignores the image: center-gaussian, random, full-image) or ``fully-supervised`` (trained
with localization labels, e.g. the few-shot (FSL) baseline). The last two are reference lines:
shown with the table, never ranked among methods.

Example:
    >>> from wsolbench.protocol import get_protocol
    >>> from wsolbench.leaderboard.schema import expected_hash, parse_options, pseudo_hash
    >>> expected_hash("wsoleval", {}) == get_protocol("wsoleval").hash()
    True
    >>> expected_hash("cam2016", parse_options("threshold=0.3")) == get_protocol("cam2016", threshold=0.3).hash()
    True
    >>> pseudo_hash("paper-own-threshold")
    'pf7b193a9d52'
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from wsolbench.metric_names import METRIC_NAMES

SCHEMA_VERSION = 2

#: The metric columns, in file order (percentages 0-100; empty where not applicable).
METRIC_COLUMNS = ("top1_cls", "gt_known_loc", "top1_loc", "maxboxacc", "maxboxacc_v2", "maxboxacc_iou30",
                  "maxboxacc_iou50", "maxboxacc_iou70", "pxap", "mpxap", "piou")

#: Every column of a submission, in the order ``write_submission`` writes them.
COLUMNS = ("method", "backbone", "category", "dataset", "split", "protocol", "protocol_hash", "protocol_options",
           *METRIC_COLUMNS, "n_images", "gt_fingerprint", "maps_content_sha256", "maps_url", "wsolbench_version",
           "source", "reference", "date", "notes", "schema_version")

#: Columns that version 2 added (``migrate`` fills them) and the one it renamed.
ADDED_IN_V2 = ("category", "n_images", "gt_fingerprint", "maps_content_sha256", "maps_url")
REMOVED_IN_V2 = ("maps_sha256",)

#: Two rows with equal values in these columns are duplicates.
KEY_COLUMNS = ("method", "backbone", "dataset", "split", "protocol", "protocol_hash", "source")

#: Row categories: ``method`` rows are ranked; the others are reference lines (floors and ceilings).
CATEGORIES = {
    "method": "a weakly supervised localization method (ranked)",
    "sanity": "a sanity baseline whose maps ignore the image (center-gaussian, random, full-image): a floor, not ranked",
    "fully-supervised": "trained with localization labels (e.g. the few-shot learning baseline, FSL): a reference, "
                        "not ranked",
}
REFERENCE_CATEGORIES = ("sanity", "fully-supervised")

#: Method names that are sanity baselines whatever the submitter writes (compared after lower-casing and
#: dropping a trailing " baseline"), and words that mark a fully supervised row.
SANITY_METHODS = ("center-gaussian", "center gaussian", "random", "full-image", "full image", "constant")
FULLY_SUPERVISED_WORDS = ("fsl", "few-shot", "few shot", "fully supervised", "fully-supervised", "full supervision")

#: At most this many rows in one submission file (``reported.csv``, the board's curated list, may hold
#: :data:`MAX_REPORTED_ROWS`); bigger files are refused before their rows are checked.
MAX_SUBMISSION_ROWS = 100
MAX_REPORTED_ROWS = 5000
#: Files larger than this are refused unread.
MAX_FILE_BYTES = 4 * 1024 * 1024

#: A cell starting with one of these is run as a formula by spreadsheets (CSV injection): refused.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

#: Datasets whose maps anyone can regenerate with a documented command (their verified rows need no
#: ``maps_url``); every other verified row says where its maps file can be downloaded.
REGENERABLE_DATASETS = ("synthetic", "synthetic1d")

SOURCES = ("verified", "reported")

#: Human-readable metric names (README, page, CLI): the project's one short-name table.
METRIC_LABELS = METRIC_NAMES

#: Known datasets: leaderboard name -> display name.
DATASETS = {
    "cub": "CUB-200-2011",
    "ilsvrc": "ImageNet-1k (ILSVRC 2012)",
    "openimages": "OpenImages30k",
    "tinyimagenet": "Tiny ImageNet",
    "voc": "PASCAL VOC 2012",
    "synthetic": "wsolbench synthetic (2-D)",
    "synthetic1d": "wsolbench synthetic (1-D)",
}

#: Other spellings of dataset names found in result files and papers.
DATASET_ALIASES = {
    "cub200": "cub", "cub_200_2011": "cub", "cub-200-2011": "cub", "cub200-2011": "cub",
    "imagenet": "ilsvrc", "ilsvrc2012": "ilsvrc", "imagenet-1k": "ilsvrc", "imagenet1k": "ilsvrc",
    "openimages30k": "openimages", "oi": "openimages",
    "tiny-imagenet": "tinyimagenet", "tiny-imagenet-200": "tinyimagenet", "tiny_imagenet": "tinyimagenet",
    "voc2012": "voc", "pascal-voc": "voc", "pascal_voc": "voc",
}


@dataclass(frozen=True)
class ProtocolInfo:
    """A protocol the leaderboard knows.

    Attributes:
        name: the value of the ``protocol`` column.
        preset: True for :mod:`wsolbench.protocol` presets (verifiable), False for reported-only ones.
        rankable: whether rows of one group may be ranked (False where each source chose its own
            threshold, so that even equal names do not mean equal measurement).
        summary: one line on how the numbers were measured.
        ranking: metrics a table may be ranked by, in order of preference; ties on the first are
            ordered by the next ones.
        columns: every metric the protocol produces, in the order tables show them (a table shows
            those its dataset has, see :func:`table_columns`).
    """

    name: str
    preset: bool
    rankable: bool
    summary: str
    ranking: tuple[str, ...]
    columns: tuple[str, ...]


_WSOLEVAL_TABLE = ("maxboxacc_v2", "maxboxacc_iou30", "maxboxacc_iou50", "maxboxacc_iou70", "maxboxacc",
                   "gt_known_loc", "top1_loc", "mpxap", "pxap", "piou", "top1_cls")

PROTOCOLS = {p.name: p for p in (
    ProtocolInfo("wsoleval", True, True,
                 "Choe et al. CVPR 2020 (clovaai/wsolevaluation): maps resized to 224x224 and min-max normalised; "
                 "box accuracy at the best CAM threshold of np.arange(0, 1, step), step 0.001 as in the "
                 "reference's code unless the options say cam_step=0.01; MaxBoxAccV2 = mean over IoU 30/50/70 "
                 "of box accuracy with all regions; PxAP for masks",
                 ("maxboxacc_v2", "mpxap", "pxap", "maxboxacc", "gt_known_loc", "top1_loc", "piou", "top1_cls"),
                 _WSOLEVAL_TABLE),
    ProtocolInfo("cam2016", True, True,
                 "Zhou et al. CVPR 2016 / Singh & Lee ICCV 2017: one fixed threshold (20% of the map's "
                 "maximum), box of the largest connected region, IoU 50",
                 ("gt_known_loc", "top1_loc", "top1_cls"), ("gt_known_loc", "top1_loc", "top1_cls")),
    ProtocolInfo("paper-own-threshold", False, False,
                 "each paper's own threshold and box heuristics, often tuned on the test split; the numbers "
                 "of different papers are not comparable, so these tables are not ranked",
                 ("top1_loc", "gt_known_loc", "top1_cls"), ("top1_loc", "gt_known_loc", "top1_cls")),
    ProtocolInfo("fixed-threshold-best-of-0.2-0.5", False, True,
                 "fixed thresholds 0.2, 0.3, 0.4, 0.5 of the map's maximum, the best one reported (chosen on "
                 "the evaluation split itself), largest region, IoU 50",
                 ("gt_known_loc", "top1_loc", "top1_cls"), ("gt_known_loc", "top1_loc", "top1_cls")),
)}


def dataset_metrics(dataset: str) -> tuple[str, ...] | None:
    """The metrics a leaderboard dataset has (its card's ``metrics``), or None for a dataset without a card."""
    from wsolbench.datasets.cards import official_split

    card, _ = official_split(dataset, "")
    return None if card is None else card.metrics


def table_columns(protocol: str, dataset: str, headline: str | None = None) -> list[str]:
    """The metric columns of a (dataset, protocol) table: every metric the protocol produces that the
    dataset has (boxes, masks), the headline first."""
    info = PROTOCOLS.get(protocol)
    columns = list(info.columns if info else METRIC_COLUMNS)
    available = dataset_metrics(dataset)
    if available is not None:
        columns = [c for c in columns if c in available]
    if headline in columns:
        columns.remove(headline)
        columns.insert(0, headline)
    return columns


PRESET_OPTION_KEYS = ("cam_step", "threshold", "resolution")

_HEX12 = re.compile(r"^[0-9a-f]{12}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_RESOLUTION = re.compile(r"^([1-9][0-9]{0,4})x([1-9][0-9]{0,4})$")


def pseudo_hash(protocol: str) -> str:
    """The documented pseudo-hash of a reported-only protocol.

    ``"p" + sha256("wsolbench-reported-protocol:" + name)[:11]``: 12 characters like a real
    protocol hash, but starting with ``p``, which no real (hexadecimal) hash does.
    """
    digest = hashlib.sha256(f"wsolbench-reported-protocol:{protocol}".encode()).hexdigest()
    return "p" + digest[:11]


def normalize_dataset(name: str) -> str:
    """Map a dataset name as adapters or papers spell it (``CUB``, ``ILSVRC``) to the board's name."""
    key = (name or "").strip().lower()
    return DATASET_ALIASES.get(key, key)


def parse_options(text: str) -> dict:
    """Parse ``protocol_options`` (``cam_step=0.001;threshold=0.3;resolution=64x64``) into keyword
    arguments of :func:`wsolbench.protocol.get_protocol`.

    Raises:
        ValueError: with a message naming the bad part.
    """
    options: dict = {}
    for part in filter(None, (p.strip() for p in (text or "").split(";"))):
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or key not in PRESET_OPTION_KEYS:
            raise ValueError(f"{part!r} is not KEY=VALUE with KEY one of {', '.join(PRESET_OPTION_KEYS)}")
        if key in options:
            raise ValueError(f"option {key!r} is given twice")
        options[key] = _parse_option_value(key, value)
    return options


def _parse_option_value(key: str, value: str):
    if key == "resolution":
        m = _RESOLUTION.match(value)
        if not m:
            raise ValueError(f"resolution {value!r} is not WIDTHxHEIGHT, e.g. 224x224")
        return (int(m.group(1)), int(m.group(2)))
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{key} {value!r} is not a number") from None
    if not (0 <= number < 1):
        raise ValueError(f"{key} {value!r} must lie in [0, 1)")
    return number


def format_options(options: dict) -> str:
    """The inverse of :func:`parse_options` (keys in a fixed order, empty for no options)."""
    parts = []
    for key in PRESET_OPTION_KEYS:
        if key not in options:
            continue
        value = options[key]
        text = f"{int(value[0])}x{int(value[1])}" if key == "resolution" else repr(float(value))
        parts.append(f"{key}={text}")
    return ";".join(parts)


def expected_hash(protocol: str, options: dict) -> str:
    """The ``protocol_hash`` a row of ``protocol`` with these options must carry.

    Raises:
        KeyError: unknown protocol.
        wsolbench.errors.ProtocolError: options the preset rejects.
    """
    info = PROTOCOLS[protocol]
    if not info.preset:
        return pseudo_hash(protocol)
    return build_protocol(protocol, options).hash()


def build_protocol(protocol: str, options: dict):
    """Rebuild the :class:`~wsolbench.protocol.Protocol` of a preset row."""
    from wsolbench.protocol import get_protocol

    return get_protocol(protocol, cam_step=options.get("cam_step"), threshold=options.get("threshold"),
                        resolution=options.get("resolution"))


def is_hex12(text: str) -> bool:
    return bool(_HEX12.match(text))


def is_sha256(text: str) -> bool:
    return bool(_SHA256.match(text))
