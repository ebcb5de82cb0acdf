"""The embedded synthetic 1-D (time-series) benchmark (``synthetic1d:``).

Signals of a fixed length ``L`` (100..1000, default 256). Class 0 (``clean``) is a clean sinusoid
with a random frequency, phase and amplitude; class 1 (``noisy``) is drawn the same way and then
gets Gaussian noise added on one interval, which is its ground truth. Localization is an interval:
each signal is a 1 x L "image" (``image_size = (L, 1)``), its GT box is ``[x0, 0, x1, 0]``
(inclusive samples) and its mask is (1, L), so the 2-D box engine (boxes of 1 x L maps are
intervals; IoU with the +1 rule is interval IoU) and PxAP apply unchanged. Evaluate with
``get_protocol("wsoleval", resolution=(L, 1))``.

Specs work like ``synthetic:`` (cache folder ``synthetic1d-<hash>`` or an explicit folder)::

    synthetic1d:                          defaults
    synthetic1d:?length=512&noise=0.3     knobs
    synthetic1d:/some/root?seed=2         in a folder
    synthetic1d:?localized_only=0         every signal of the split, clean ones included

Knobs: ``length``, ``train``, ``val``, ``test`` (signals per class per split), ``interval``
(``MIN-MAX`` fraction of L), ``noise`` (noise std relative to the amplitude), ``freq`` (``MIN-MAX``
cycles per signal), ``seed``. ``localized_only`` selects records, it does not change the data.

Which signals a split holds: as in the field's WSOL datasets, the evaluation splits (``val``,
``test``) hold the images that contain an object, i.e. the noisy (class 1) signals; ``train`` holds
both classes (a classifier needs them). ``localized_only=0`` gives every signal of an evaluation
split (to measure classification, or PxAP with clean signals as extra background): clean signals
then have no GT box and an all-background mask, and box accuracy counts them as misses, since
nothing can be localised in them. ``localized_only=1`` on ``train`` keeps only its noisy signals.

Layout::

    config.json
    signals/<split>/<class>/<index:05d>.npy    float32 (L,); image ids '<split>/<class>/<index>.npy'
    metadata/<split>/{image_ids,class_labels,image_sizes,localization}.txt   (wsoleval format)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wsolbench.datasets.records import AnnotationSet, GTMasks, ImageRecord, MaskSource
from wsolbench.datasets.registry import register_adapter
from wsolbench.datasets.synthetic import (
    check_split,
    materialize,
    parse_knobs,
    write_config_json,
    write_lines,
)
from wsolbench.datasets.synthgen import SPLITS
from wsolbench.errors import DatasetError

GENERATOR_VERSION = 1
CLASS_NAMES = ("clean", "noisy")
_SPLIT_CODE = {"train": 1, "val": 2, "test": 3}


@dataclass(frozen=True)
class Synthetic1DConfig:
    """Every knob of the 1-D benchmark (all part of the cache hash).

    Attributes:
        length: samples per signal L (100..1000); the evaluation frame is (L, 1).
        train, val, test: signals per class in each split.
        interval_min, interval_max: noisy interval length as a fraction of L.
        noise: standard deviation of the added noise relative to the sinusoid's amplitude.
        freq_min, freq_max: sinusoid frequency range, in cycles per signal.
        seed: the random seed.
    """

    length: int = 256
    train: int = 200
    val: int = 20
    test: int = 100
    interval_min: float = 0.1
    interval_max: float = 0.3
    noise: float = 0.5
    freq_min: float = 2.0
    freq_max: float = 8.0
    seed: int = 0

    def __post_init__(self) -> None:
        checks = [
            (100 <= self.length <= 1000, f"length must be in 100..1000, got {self.length}"),
            (min(self.train, self.val, self.test) >= 0,
             f"signals per class must be >= 0, got train={self.train} val={self.val} test={self.test}"),
            (0.01 <= self.interval_min <= self.interval_max <= 1.0,
             f"interval must satisfy 0.01 <= min <= max <= 1, got {self.interval_min}-{self.interval_max}"),
            (self.noise > 0, f"noise must be > 0, got {self.noise}"),
            (0 < self.freq_min <= self.freq_max <= self.length / 4,
             f"freq must satisfy 0 < min <= max <= length/4 cycles, got {self.freq_min}-{self.freq_max}"),
            (self.seed >= 0, f"seed must be >= 0, got {self.seed}"),
        ]
        for ok, message in checks:
            if not ok:
                raise DatasetError(f"synthetic1d dataset: {message}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def hash(self) -> str:
        """12 hex digits of SHA-256 over the config and the generator version."""
        blob = json.dumps({"kind": "synthetic1d", "generator_version": GENERATOR_VERSION, **self.to_dict()},
                          sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


@dataclass
class Signal:
    """One generated signal: ``values`` float32 (L,), ``label``, and for class 1 the inclusive
    noisy interval ``(x0, x1)`` (``None`` for class 0)."""

    values: np.ndarray
    label: int
    interval: tuple[int, int] | None


def render_signal(config: Synthetic1DConfig, split: str, label: int, index: int) -> Signal:
    """Generate signal ``index`` of class ``label`` (0 clean, 1 noisy) in ``split``, deterministically."""
    rng = np.random.default_rng([config.seed, 1, _SPLIT_CODE[split], label, index])
    n = config.length
    t = np.arange(n, dtype=np.float64)
    amplitude = rng.uniform(0.5, 2.0)
    freq = rng.uniform(config.freq_min, config.freq_max)
    values = amplitude * np.sin(2 * np.pi * freq * t / n + rng.uniform(0, 2 * np.pi))
    interval = None
    if label == 1:
        width = int(np.clip(round(rng.uniform(config.interval_min, config.interval_max) * n), 1, n))
        x0 = int(rng.integers(0, n - width + 1))
        values[x0:x0 + width] += rng.normal(0.0, config.noise * amplitude, width)
        interval = (x0, x0 + width - 1)
    return Signal(values.astype(np.float32), int(label), interval)


def _write_split(config: Synthetic1DConfig, folder: Path, split: str) -> int:
    ids, labels, sizes, boxes = [], [], [], []
    for label in range(len(CLASS_NAMES)):
        for index in range(int(getattr(config, split))):
            s = render_signal(config, split, label, index)
            image_id = f"{split}/{label}/{index:05d}.npy"
            path = folder / "signals" / image_id
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, s.values, allow_pickle=False)
            ids.append(image_id)
            labels.append(f"{image_id},{label}")
            sizes.append(f"{image_id},{config.length},1")
            if s.interval is not None:
                boxes.append(f"{image_id},{s.interval[0]},0,{s.interval[1]},0")
    base = folder / "metadata" / split
    write_lines(base / "image_ids.txt", ids)
    write_lines(base / "class_labels.txt", labels)
    write_lines(base / "image_sizes.txt", sizes)
    write_lines(base / "localization.txt", boxes)
    return len(ids)


def write_synthetic1d(config: Synthetic1DConfig, folder) -> None:
    """Generate every split of ``config`` into ``folder`` (``config.json`` written last)."""
    folder = Path(folder)
    counts = {split: _write_split(config, folder, split) for split in SPLITS}
    write_config_json(folder, {
        "kind": "synthetic1d", "generator_version": GENERATOR_VERSION, "hash": config.hash(),
        "config": config.to_dict(), "class_names": list(CLASS_NAMES), "counts": counts,
        "image_size": [config.length, 1],
    })


_FIELDS = {f.name: {"int": int, "float": float}[f.type] if isinstance(f.type, str) else f.type
           for f in dataclasses.fields(Synthetic1DConfig)}
_RANGES = {"interval": ("interval_min", "interval_max"), "freq": ("freq_min", "freq_max")}


def _flag(value) -> bool:
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise DatasetError(f"synthetic1d dataset: localized_only={value!r} must be 1/0 (or true/false)")


def _split_flag(path: str, options: dict) -> tuple[str, dict, bool | None]:
    """Take ``localized_only`` out of the query and the options (it selects records, it is no knob);
    ``None`` when not given."""
    location, _, query = path.partition("?")
    kept, flag = [], None
    for item in filter(None, query.split("&")):
        key, _, value = item.partition("=")
        if key.strip() == "localized_only":
            flag = _flag(value)
        else:
            kept.append(item)
    options = dict(options)
    if options.get("localized_only") is not None:
        flag = _flag(options["localized_only"])
    options.pop("localized_only", None)
    return location + ("?" + "&".join(kept) if kept else ""), options, flag


def resolve_synthetic1d(path: str = "", **options) -> tuple[Path, Synthetic1DConfig]:
    """The folder (generated if needed) and config named by a ``synthetic1d:`` spec's path part."""
    location, knobs = parse_knobs("synthetic1d", path, options, _FIELDS, _RANGES)
    return materialize("synthetic1d", location, knobs, Synthetic1DConfig, write_synthetic1d)


def _interval_mask(length: int, box: np.ndarray | None) -> MaskSource:
    def load() -> GTMasks:
        mask = np.zeros((1, length), np.uint8)
        if box is not None:
            mask[0, int(box[0]):int(box[2]) + 1] = 1
        return GTMasks(instances=[mask], instance_labels=[None], ignore=None)

    return MaskSource(load, "noisy interval" if box is not None else "no interval (clean signal)")


@register_adapter("synthetic1d")
def load_synthetic1d(path: str = "", *, split: str | None = None, **options) -> AnnotationSet:
    """Load (generating it on first use) a split of the synthetic 1-D benchmark.

    Args:
        path: the spec's path part: ``""`` (cache), a folder, and/or ``?knob=value&...``.
        split: ``train``, ``val`` or ``test`` (default ``test``).
        **options: knobs as in the query, and ``localized_only`` (keep only class-1 signals; default:
            yes for ``val``/``test``, no for ``train``).

    Returns:
        Records with ``image_size (L, 1)``; class-1 records have the box ``[[x0, 0, x1, 0]]`` and
        a (1, L) interval mask; class-0 records (if selected) have no box and an all-background mask.
        ``root`` is the ``signals`` folder; ``ndim`` is 1; ``resolution`` is the frame ``(L, 1)``.
    """
    from wsolbench.datasets.wsoleval import load_wsoleval

    split = check_split("synthetic1d", split)
    path, options, localized_only = _split_flag(path, options)
    if localized_only is None:
        localized_only = split != "train"
    root, config = resolve_synthetic1d(path, **options)
    meta = root / "metadata" / split
    if not meta.is_dir():
        raise DatasetError(f"{meta}: missing; the folder {root} is incomplete; delete it to regenerate")
    base = load_wsoleval(str(meta), name="synthetic1d")
    records: list[ImageRecord] = []
    for r in base.records:
        box = r.boxes[0] if len(r.boxes) else None
        if localized_only and box is None:
            continue
        records.append(dataclasses.replace(r, masks=_interval_mask(config.length, box)))
    return AnnotationSet(records=records, name="synthetic1d", split=split, num_classes=len(CLASS_NAMES),
                         class_names=list(CLASS_NAMES), root=str(root / "signals"), source=str(meta), ndim=1,
                         resolution=(config.length, 1))


def load_signal(annotations: AnnotationSet, image_id: str) -> np.ndarray:
    """Read one signal of a ``synthetic1d`` annotation set: float32 (L,)."""
    path = Path(annotations.root or "") / image_id
    if not path.is_file():
        raise DatasetError(f"{path}: signal file not found for image '{image_id}'; delete the dataset folder "
                           "to regenerate it")
    return np.load(path, allow_pickle=False)
