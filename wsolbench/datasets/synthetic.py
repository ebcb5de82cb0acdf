"""The embedded synthetic 2-D benchmark as a dataset adapter (``synthetic:``).

The dataset is generated from its config (numpy only, :mod:`wsolbench.datasets.synthgen`) the
first time it is asked for, written atomically to a folder, and from then on read like any other
dataset. Specs::

    synthetic:                              defaults, in the cache folder
    synthetic:?classes=5&size=128&seed=3    knobs, in the cache folder
    synthetic:/some/root                    the dataset in that folder (generated there if absent)
    synthetic:/some/root?classes=5          ... with knobs (must match a dataset already there)

Knobs: ``classes``, ``size``, ``train``, ``val``, ``test`` (images per class per split), ``part``,
``clutter``, ``scale`` (``MIN-MAX``, or ``scale_min``/``scale_max``), ``seed``, ``body_cue`` (0..1:
share of bodies in their class's style, see :mod:`wsolbench.datasets.synthgen`). They may also be given
as keyword options of :func:`wsolbench.datasets.load_annotations`. The cache folder is
``$WSOLBENCH_CACHE``, else ``$XDG_CACHE_HOME/wsolbench``, else ``~/.cache/wsolbench``; each config
gets its own sub-folder ``synthetic-<hash of the config>``.

Layout of a generated folder (also readable with ``wsoleval:``, see ``docs/synthetic.md``)::

    config.json
    images/<split>/<class:02d>/<index:04d>.png          image ids are '<split>/<class>/<index>.png'
    masks/<split>/<class:02d>/<index:04d>.png           object mask (0/255)
    masks/<split>/<class:02d>/<index:04d>_ignore.png    1-2 px band outside the mask (0/255)
    masks/<split>/<class:02d>/<index:04d>_part.png      the class-defining part (0/255)
    metadata/<split>/{image_ids,class_labels,image_sizes,localization,part_boxes}.txt   (boxes)
    metadata-masks/<split>/{image_ids,class_labels,image_sizes,localization}.txt       (mask lines)

Example:
    >>> from wsolbench.datasets import load_annotations                    # doctest: +SKIP
    >>> test = load_annotations("synthetic:", split="test")                 # doctest: +SKIP
    >>> len(test), test.num_classes, test.records[0].image_id               # doctest: +SKIP
    (500, 10, 'test/00/0000.png')
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Callable

import numpy as np

from wsolbench.datasets.images import read_gray
from wsolbench.datasets.records import AnnotationSet, GTMasks, MaskSource
from wsolbench.datasets.registry import register_adapter, split_query
from wsolbench.datasets.synthgen import GENERATOR_VERSION, SPLITS, SyntheticConfig, iter_split
from wsolbench.datasets.textfiles import parse_int, read_rows
from wsolbench.errors import DatasetError

CACHE_ENV = "WSOLBENCH_CACHE"
CONFIG_FILE = "config.json"
DEFAULT_SPLIT = "test"


# --------------------------------------------------------------------------- cache and specs

def cache_dir() -> Path:
    """The wsolbench cache folder: ``$WSOLBENCH_CACHE``, else ``$XDG_CACHE_HOME/wsolbench``, else
    ``~/.cache/wsolbench`` (not created here)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "wsolbench"
    return Path.home() / ".cache" / "wsolbench"


def _convert(kind: str, key: str, value, field_type: type):
    if isinstance(value, field_type) and not isinstance(value, bool):
        return value
    try:
        if field_type is int:
            number = float(value)
            if number != int(number):
                raise ValueError
            return int(number)
        return float(value)
    except (TypeError, ValueError):
        raise DatasetError(f"{kind} dataset: knob {key}={value!r} is not a valid "
                           f"{'whole number' if field_type is int else 'number'}") from None


def _split_range(kind: str, key: str, value) -> tuple:
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return tuple(value)
    text = str(value)
    for sep in ("-", ",", ":"):
        if sep in text:
            lo, hi = text.split(sep, 1)
            return lo, hi
    raise DatasetError(f"{kind} dataset: knob {key}={value!r} must be a range MIN-MAX, e.g. {key}=0.3-0.6")


def parse_knobs(kind: str, path: str, options: dict, fields: dict[str, type],
                ranges: dict[str, tuple[str, str]]) -> tuple[str, dict]:
    """Split ``LOCATION?k=v&k=v`` and merge keyword options into typed knobs.

    Args:
        kind: adapter name (for messages).
        path: the spec's part after ``NAME:``.
        options: keyword options (``None`` values are ignored; they win over the query).
        fields: knob name -> type (``int`` or ``float``).
        ranges: a knob written ``MIN-MAX`` -> its two field names (e.g. ``scale``).

    Returns:
        ``(location, knobs)``: location may be ``""`` (the cache).
    """
    location, query = split_query(kind, path, example=f"{kind}:?classes=5")
    raw: dict[str, object] = dict(query)
    raw.update({k: v for k, v in options.items() if v is not None})
    knobs: dict[str, object] = {}
    for key, value in raw.items():
        if key in ranges:
            lo, hi = _split_range(kind, key, value)
            names = ranges[key]
            knobs[names[0]] = _convert(kind, names[0], lo, fields[names[0]])
            knobs[names[1]] = _convert(kind, names[1], hi, fields[names[1]])
        elif key in fields:
            knobs[key] = _convert(kind, key, value, fields[key])
        else:
            valid = sorted(set(fields) | set(ranges))
            raise DatasetError(f"{kind} dataset: unknown knob {key!r}; valid knobs: {', '.join(valid)}")
    return os.path.expanduser(location), knobs


def read_config_json(root: Path, kind: str) -> dict:
    """Read and check a generated folder's ``config.json``."""
    path = root / CONFIG_FILE
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise DatasetError(f"{path}: cannot read the dataset config ({e}); delete the folder to regenerate it") from e
    if not isinstance(info, dict) or info.get("kind") != kind or not isinstance(info.get("config"), dict):
        raise DatasetError(f"{path}: not a '{kind}' dataset config (kind={info.get('kind') if isinstance(info, dict) else None!r}); "
                           f"use the {info.get('kind') if isinstance(info, dict) else '?'}: adapter or another folder")
    return info


def _make_config(kind: str, config_cls, values: dict):
    try:
        return config_cls(**values)
    except TypeError as e:
        raise DatasetError(f"{kind} dataset: config does not match this version of wsolbench ({e})") from e


def _check_matches(kind: str, root: Path, stored: dict, knobs: dict, config_cls) -> None:
    # a knob newer than the folder's config.json is absent there: it had its default value
    defaults = {f.name: f.default for f in dataclasses.fields(config_cls)}
    diff = {k: (stored.get(k, defaults.get(k)), v) for k, v in knobs.items() if stored.get(k, defaults.get(k)) != v}
    if diff:
        shown = ", ".join(f"{k}: folder has {a!r}, spec asks {b!r}" for k, (a, b) in diff.items())
        raise DatasetError(f"{root}: the {kind} dataset there was generated with another config ({shown}); "
                           f"drop the knobs to use it as it is, or name another folder (or use {kind}: with "
                           "the knobs to get a cached copy)")


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _generate_atomically(final: Path, write: Callable[[Path], None]) -> None:
    """Run ``write(temp_folder)`` and rename the folder to ``final``; a killed or failed run
    leaves no ``final`` (only a hidden ``.NAME.tmp-*`` folder that may be deleted)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = final.parent / f".{final.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        temp.mkdir()
        write(temp)
        if final.is_dir() and not any(final.iterdir()):
            final.rmdir()
        try:
            os.rename(temp, final)
        except OSError:
            if not (final / CONFIG_FILE).is_file():   # not a concurrent generator's finished copy
                raise
    finally:
        if temp.exists():
            _remove_tree(temp)


def materialize(kind: str, location: str, knobs: dict, config_cls,
                write: Callable[[object, Path], None]) -> tuple[Path, object]:
    """Find or generate the dataset folder named by a spec.

    Args:
        kind: ``synthetic`` or ``synthetic1d``.
        location: a folder, or ``""`` for the cache.
        knobs: config values given in the spec.
        config_cls: the config dataclass (``to_dict()``, ``hash()``).
        write: ``write(config, folder)`` writes every file of the dataset, ``config.json`` last.

    Returns:
        ``(root, config)``.
    """
    if location:
        root = Path(location)
        if root.exists() and not root.is_dir():
            raise DatasetError(f"{root}: is a file; {kind}:PATH names a folder (the dataset's root)")
        if (root / CONFIG_FILE).is_file():
            stored = read_config_json(root, kind)["config"]
            _check_matches(kind, root, stored, knobs, config_cls)
            return root, _make_config(kind, config_cls, stored)
        if root.is_dir() and any(root.iterdir()):
            raise DatasetError(f"{root}: exists and is not empty, but has no {CONFIG_FILE}, so it is not a generated "
                               f"{kind} dataset; name an empty or a new folder (nothing was overwritten)")
        config = _make_config(kind, config_cls, knobs)
    else:
        config = _make_config(kind, config_cls, knobs)
        root = cache_dir() / f"{kind}-{config.hash()}"
        if (root / CONFIG_FILE).is_file():
            return root, config
    try:
        _generate_atomically(root, lambda folder: write(config, folder))
    except OSError as e:
        raise DatasetError(f"{root}: cannot write the {kind} dataset ({e}); set ${CACHE_ENV} to a writable "
                           f"folder or give one: {kind}:/path/to/folder") from e
    return root, config


def write_config_json(folder: Path, info: dict) -> None:
    """Write ``config.json`` (sorted keys, no timestamps: identical configs give identical bytes)."""
    (folder / CONFIG_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def write_lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def check_split(kind: str, split: str | None) -> str:
    split = split or DEFAULT_SPLIT
    if split not in SPLITS:
        raise DatasetError(f"{kind} dataset: unknown split {split!r}; use one of {', '.join(SPLITS)}")
    return split


# --------------------------------------------------------------------------- writing the 2-D dataset

_FIELDS = {f.name: f.type if isinstance(f.type, type) else {"int": int, "float": float}[f.type]
           for f in dataclasses.fields(SyntheticConfig)}
_RANGES = {"scale": ("scale_min", "scale_max")}


def _save_png(path: Path, array: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format="PNG", compress_level=6)


def _stem(split: str, label: int, index: int) -> str:
    return f"{split}/{label:02d}/{index:04d}"


def _write_split(config: SyntheticConfig, folder: Path, split: str) -> int:
    """Write one split's images, masks and both metadata folders; returns its image count."""
    ids, labels, sizes, boxes, parts, mask_lines = [], [], [], [], [], []
    for label, index, s in iter_split(config, split):
        stem = _stem(split, label, index)
        image_id = f"{stem}.png"
        _save_png(folder / "images" / image_id, s.image)
        _save_png(folder / "masks" / f"{stem}.png", s.mask.astype(np.uint8) * 255)
        _save_png(folder / "masks" / f"{stem}_ignore.png", s.ignore.astype(np.uint8) * 255)
        _save_png(folder / "masks" / f"{stem}_part.png", s.part.astype(np.uint8) * 255)
        ids.append(image_id)
        labels.append(f"{image_id},{label}")
        sizes.append(f"{image_id},{config.size},{config.size}")
        boxes.append(f"{image_id}," + ",".join(str(int(v)) for v in s.box))
        parts.append(f"{image_id}," + ",".join(str(int(v)) for v in s.part_box))
        mask_lines.append(f"{image_id},{stem}.png,{stem}_ignore.png")
    for meta, localization in (("metadata", boxes), ("metadata-masks", mask_lines)):
        base = folder / meta / split
        write_lines(base / "image_ids.txt", ids)
        write_lines(base / "class_labels.txt", labels)
        write_lines(base / "image_sizes.txt", sizes)
        write_lines(base / "localization.txt", localization)
    write_lines(folder / "metadata" / split / "part_boxes.txt", parts)
    return len(ids)


def write_synthetic(config: SyntheticConfig, folder) -> None:
    """Generate every split of ``config`` into ``folder`` (``config.json`` written last).

    Not atomic by itself; :func:`load_synthetic` calls it on a temporary folder and renames it.
    """
    folder = Path(folder)
    counts = {split: _write_split(config, folder, split) for split in SPLITS}
    write_config_json(folder, {
        "kind": "synthetic", "generator_version": GENERATOR_VERSION, "hash": config.hash(),
        "config": config.to_dict(), "class_names": config.class_names(), "counts": counts,
        "image_size": [config.size, config.size],
    })


def resolve_synthetic(path: str = "", **options) -> tuple[Path, SyntheticConfig]:
    """The folder (generated if needed) and config named by a ``synthetic:`` spec's path part."""
    location, knobs = parse_knobs("synthetic", path, options, _FIELDS, _RANGES)
    return materialize("synthetic", location, knobs, SyntheticConfig, write_synthetic)


# --------------------------------------------------------------------------- reading

def _mask_source(root: Path, image_id: str) -> MaskSource:
    stem = image_id[:-len(".png")]
    mask_path, ignore_path = root / "masks" / f"{stem}.png", root / "masks" / f"{stem}_ignore.png"

    def load() -> GTMasks:
        return GTMasks(instances=[read_gray(mask_path, image_id=image_id)], instance_labels=[None],
                       ignore=read_gray(ignore_path, image_id=image_id))

    return MaskSource(load, f"object mask of {image_id}", instance_files=(f"{stem}.png",),
                      ignore_file=f"{stem}_ignore.png")


@register_adapter("synthetic")
def load_synthetic(path: str = "", *, split: str | None = None, **options) -> AnnotationSet:
    """Load (generating it on first use) a split of the synthetic 2-D benchmark.

    Args:
        path: the spec's path part: ``""`` (cache), a folder, and/or ``?knob=value&...``.
        split: ``train``, ``val`` or ``test`` (default ``test``).
        **options: knobs (``classes=5``...), as in the spec's query; ``None`` values are ignored.

    Returns:
        Records with boxes (inclusive pixel extent of the object mask) and a :class:`MaskSource`
        (object mask + ignore band); ``root`` is the ``images`` folder.
    """
    from wsolbench.datasets.wsoleval import load_wsoleval

    split = check_split("synthetic", split)
    root, config = resolve_synthetic(path, **options)
    meta = root / "metadata" / split
    if not meta.is_dir():
        raise DatasetError(f"{meta}: missing; the folder {root} is incomplete; delete it to regenerate")
    base = load_wsoleval(str(meta), name="synthetic")
    records = [dataclasses.replace(r, masks=_mask_source(root, r.image_id)) for r in base.records]
    return AnnotationSet(records=records, name="synthetic", split=split, num_classes=config.classes,
                         class_names=config.class_names(), root=str(root / "images"), source=str(meta))


def dataset_root(annotations: AnnotationSet) -> Path:
    """The generated folder of a ``synthetic`` annotation set (the parent of its ``images`` folder)."""
    if annotations.name != "synthetic" or not annotations.root:
        raise DatasetError(f"{annotations.source or annotations.name}: not a synthetic dataset; part annotations "
                           "exist only for synthetic: specs")
    return Path(annotations.root).parent


def load_part_mask(annotations: AnnotationSet, image_id: str) -> np.ndarray:
    """The class-defining part's mask of one image: bool (H, W) at the image's size."""
    path = dataset_root(annotations) / "masks" / f"{image_id[:-len('.png')]}_part.png"
    return read_gray(path, image_id=image_id) > 127


def load_part_boxes(annotations: AnnotationSet) -> dict[str, np.ndarray]:
    """Inclusive pixel boxes ``x0, y0, x1, y1`` (int64 (4,)) of each image's part, by image id."""
    path = dataset_root(annotations) / "metadata" / annotations.split / "part_boxes.txt"
    out = {}
    for line, parts in read_rows(path, fields=(5,), what="'image_id,x0,y0,x1,y1'"):
        out[parts[0]] = np.array([parse_int(p, path=path, line=line, name="coordinate", image_id=parts[0])
                                  for p in parts[1:]], np.int64)
    return out
