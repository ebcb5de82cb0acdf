"""Adapter registry and ``NAME:PATH`` spec parsing.

An adapter is a function ``load(path: str, *, split: str | None, **options) -> AnnotationSet``
registered with :func:`register_adapter`. Adapter modules are imported lazily by name so that
listing adapters costs nothing.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Callable

from wsolbench.datasets.records import AnnotationSet
from wsolbench.errors import DatasetError


@dataclass(frozen=True)
class AdapterInfo:
    name: str
    module: str
    summary: str
    spec: str = ""           # how a spec of this adapter looks, when not NAME:DIR
    card: str = ""           # its human card, for adapters of a format rather than of one dataset


# name -> module that registers it (imported on first use).
ADAPTERS: dict[str, AdapterInfo] = {
    a.name: a for a in [
        AdapterInfo("wsoleval", "wsolbench.datasets.wsoleval",
                    "wsolevaluation metadata folder (image_ids/class_labels/image_sizes/localization.txt)"),
        AdapterInfo("cub", "wsolbench.datasets.cub", "native CUB_200_2011 release"),
        AdapterInfo("tinyimagenet", "wsolbench.datasets.tinyimagenet", "native tiny-imagenet-200 layout"),
        AdapterInfo("openimages", "wsolbench.datasets.openimages", "OpenImages30k as distributed by wsolevaluation"),
        AdapterInfo("ilsvrc", "wsolbench.datasets.ilsvrc", "ILSVRC 2012 validation (XML boxes) or wsolevaluation metadata"),
        AdapterInfo("voc", "wsolbench.datasets.voc", "PASCAL VOC 2012 segmentation (multi-label masks, mPxAP)"),
        AdapterInfo("coco", "wsolbench.datasets.coco", "COCO-format JSON (any dataset): boxes, polygon and RLE masks",
                    spec="coco:FILE.json", card="datasets/coco.md"),
        AdapterInfo("synthetic", "wsolbench.datasets.synthetic", "the embedded synthetic 2-D benchmark"),
        AdapterInfo("synthetic1d", "wsolbench.datasets.synthetic1d", "the embedded synthetic 1-D (time-series) benchmark"),
    ]
}

_LOADERS: dict[str, Callable[..., AnnotationSet]] = {}


def register_adapter(name: str):
    """Decorator registering ``fn(path, *, split, **options) -> AnnotationSet`` under ``name``."""

    def deco(fn):
        _LOADERS[name] = fn
        return fn

    return deco


def parse_spec(spec: str) -> tuple[str, str]:
    """Split ``NAME:PATH`` (PATH may be empty for embedded datasets, e.g. ``synthetic:``)."""
    if ":" not in spec:
        raise DatasetError(f"dataset spec {spec!r} has no adapter name; write NAME:PATH, e.g. "
                           f"wsoleval:{spec} (adapters: {', '.join(ADAPTERS)})")
    name, path = spec.split(":", 1)
    if name not in ADAPTERS:
        raise DatasetError(f"unknown dataset adapter {name!r} in {spec!r}; choose one of {', '.join(ADAPTERS)}")
    return name, path


def split_query(kind: str, path: str, *, example: str) -> tuple[str, dict[str, str]]:
    """Split a spec's path part ``LOCATION?key=value&key=value`` into the location and its options.

    Raises:
        DatasetError: an item without ``=value`` (the message shows ``example``).
    """
    location, _, query = path.partition("?")
    options: dict[str, str] = {}
    for item in filter(None, query.split("&")):
        key, sep, value = item.partition("=")
        if not sep or not value:
            raise DatasetError(f"{kind} dataset: option {item!r} in {path!r} has no value; write KEY=VALUE, "
                               f"e.g. {example}")
        options[key.strip()] = value.strip()
    return location, options


def get_loader(name: str) -> Callable[..., AnnotationSet]:
    if name not in _LOADERS:
        info = ADAPTERS[name]
        try:
            importlib.import_module(info.module)
        except ModuleNotFoundError as e:  # pragma: no cover - adapter not built in this version
            raise DatasetError(f"dataset adapter {name!r} is not available in this version ({e})") from e
    return _LOADERS[name]


def check_options(name: str, loader: Callable[..., AnnotationSet], options: dict) -> None:
    """Raise a DatasetError naming any option the adapter does not take."""
    params = inspect.signature(loader).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    unknown = [k for k in options if k not in params or k in ("path", "split")]
    if unknown:
        accepted = [k for k, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY and k != "problems"]
        raise DatasetError(f"adapter {name!r} has no option {unknown[0]!r}; it accepts: "
                           f"{', '.join(accepted) or 'no options'} (see `wsolbench datasets list`)")


def load_annotations(spec: str, *, split: str | None = None, **options) -> AnnotationSet:
    """Load the annotations named by a ``NAME:PATH`` spec.

    Args:
        spec: e.g. ``wsoleval:metadata/CUB/test`` or ``cub:/data/CUB_200_2011``.
        split: split name for adapters that hold several splits.
        **options: adapter options (e.g. ``mask_root`` for ``wsoleval``).
    """
    name, path = parse_spec(spec)
    loader = get_loader(name)
    check_options(name, loader, options)
    return loader(path, split=split, **options)
