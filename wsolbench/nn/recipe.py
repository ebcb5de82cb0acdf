"""Recipes: the hyper-parameters of a baseline as data (one TOML file per baseline).

This module does not import torch, so ``wsolbench baseline list`` can show recipes anywhere.
Recipes ship in the package (``wsolbench/nn/recipes/*.toml``; mirrored in the repository's
``baselines/`` with the results they produced). A TOML file has the sections ``[recipe]``,
``[model]`` (with an optional ``[model.backbone_options]`` table), ``[method]`` (method options),
``[data]``, ``[train]`` and ``[eval]``; see :class:`Recipe` for every key. ``[recipe.sources]``
says where each value comes from (``lr = "third-party: ..."``; ``wsolbench baseline list`` shows
the lr's).

Example:
    >>> r = get_recipe("cam-resnet50-cub")
    >>> r.epochs, r.lr_decay_every, r.batch_size
    (50, 15, 32)
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass, field
from importlib import resources

from wsolbench.errors import WsolbenchError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DATASET_FAMILIES = ("cub", "ilsvrc", "openimages", "synthetic", "tinyimagenet")
# Adapter / metadata-folder names -> the dataset family whose published protocol applies.
_FAMILY_ALIASES = {"cub": "cub", "cub_200_2011": "cub", "cub200": "cub", "ilsvrc": "ilsvrc", "imagenet": "ilsvrc",
                   "openimages": "openimages", "openimages30k": "openimages", "synthetic": "synthetic",
                   "tinyimagenet": "tinyimagenet", "tiny_imagenet": "tinyimagenet",
                   "tiny_imagenet_200": "tinyimagenet"}
DEFAULT_BACKBONE = {"synthetic": "smallcnn", "tinyimagenet": "alexnet"}
#: Families whose recipes are a published grid (the Hide-and-Seek reproduction on Tiny ImageNet): a
#: (method, backbone) without a recipe there is an error listing them, never a recipe derived from
#: another method's, backbone's or dataset's.
STRICT_FAMILIES = ("tinyimagenet",)
LOSSES = ("auto", "ce", "bce")
#: How pixels in [0, 1] become network inputs (:class:`wsolbench.nn.data.InputNorm`).
NORMALIZATIONS = ("mean-std", "mean", "none")
LR_SCHEDULES = ("step", "linear", "regimes")
AMP_MODES = ("none", "bf16", "fp16")


def _f(section: str, default, **kw):
    return field(default=default, metadata={"section": section}, **kw)


@dataclass(frozen=True)
class Recipe:
    """Every hyper-parameter of a trained baseline.

    Attributes:
        name: recipe name (``cam-resnet50-cub``).
        method: WSOL method (``cam``).
        backbone: backbone registry name.
        dataset: the dataset family the defaults come from (cub, ilsvrc, openimages, synthetic,
            tinyimagenet).
        variant: ``""`` for the default recipe of its (method, backbone, dataset), which runs
            without ``--recipe`` pick; else a short name of the variant (``16``, ``gmp``,
            ``has2017``...), chosen by name (``--recipe``) or by a study.
        description: one line.
        source: where the hyper-parameters come from (a summary).
        sources: value name (``lr``, ``weight_decay``, ``large_feature_map``, ``schedule``, a
            method option, ...) -> where that value comes from; ``"not published: ..."`` when the
            authors never published it.
        pool: ``gap`` or ``gmp``.
        pretrained: ``imagenet`` (the published protocol starts from ImageNet weights: pass
            ``--pretrained PATH``) or ``none``.
        backbone_options: extra keyword arguments of the backbone builder.
        method_options: the method's options.
        train_split / eval_split: splits to train on and to extract/evaluate maps of.
        image_size: network input (crop) size; resize_size: training resize before the crop
            (equal sizes: no crop, the image is only resized, e.g. 64 -> 227 on Tiny ImageNet).
        normalize: ``mean-std`` (ImageNet mean and std), ``mean`` (the ImageNet mean subtracted, no
            std scaling) or ``none`` (pixels in [0, 1]); see :class:`wsolbench.nn.data.InputNorm`.
            Grayscale images are always replicated to RGB.
        train_flip: probability of the random horizontal flip of training images (0.5).
        epochs, batch_size, lr, lr_classifier_ratio, momentum, nesterov, weight_decay: SGD.
        lr_schedule: ``step`` (``lr_decay_every``, ``lr_decay_gamma``: the lr of 0-based epoch e
            is ``lr * gamma ** ((e + 1) // lr_decay_every)``, wsolevaluation's schedule),
            ``linear`` (from ``lr`` in the first epoch to ``lr_final`` in the last, linearly per
            epoch) or ``regimes`` (``lr_regimes``: ``[first_epoch, lr, weight_decay]`` rows,
            1-based epochs, the first row ``[1, lr, weight_decay]``: piecewise-constant lr and
            weight decay, as the Hide-and-Seek code's ``paramsForEpoch``).
        seed: seed of initialisation, data order and augmentation.
        loss: ``auto`` (binary cross-entropy over the label set when the training split is
            multi-label, e.g. VOC; cross-entropy otherwise), ``ce`` (cross-entropy on the first
            label of each image) or ``bce`` (BCE-with-logits on multi-hot targets).
        workers: DataLoader worker processes.
        amp: ``none`` (float32, the reference's precision; TF32 off on CUDA) or ``bf16``/``fp16``
            (mixed precision for training and extraction, opt-in).
        eval_batch_size: batch size of CAM extraction.
        protocol: evaluation protocol preset; cam_step: its CAM-threshold step.
    """

    name: str = _f("recipe", "custom")
    method: str = _f("recipe", "cam")
    backbone: str = _f("recipe", "resnet50")
    dataset: str = _f("recipe", "ilsvrc")
    description: str = _f("recipe", "")
    source: str = _f("recipe", "")
    variant: str = _f("recipe", "")
    sources: dict = _f("recipe", None, compare=False)
    pool: str = _f("model", "gap")
    pretrained: str = _f("model", "imagenet")
    backbone_options: dict = _f("model", None, compare=False)
    method_options: dict = _f("method", None, compare=False)
    train_split: str = _f("data", "train")
    eval_split: str = _f("data", "test")
    image_size: int = _f("data", 224)
    resize_size: int = _f("data", 256)
    normalize: str = _f("data", "mean-std")
    train_flip: float = _f("data", 0.5)
    epochs: int = _f("train", 10)
    batch_size: int = _f("train", 32)
    lr: float = _f("train", 0.01)
    lr_classifier_ratio: float = _f("train", 10.0)
    momentum: float = _f("train", 0.9)
    nesterov: bool = _f("train", True)
    weight_decay: float = _f("train", 1e-4)
    lr_decay_every: int = _f("train", 3)
    lr_decay_gamma: float = _f("train", 0.1)
    lr_schedule: str = _f("train", "step")
    lr_final: float = _f("train", 0.0)
    lr_regimes: tuple = _f("train", ())
    seed: int = _f("train", 0)
    loss: str = _f("train", "auto")
    workers: int = _f("train", 4)
    amp: str = _f("train", "none")
    eval_batch_size: int = _f("eval", 64)
    protocol: str = _f("eval", "wsoleval")
    cam_step: float = _f("eval", 0.01)

    def __post_init__(self):
        object.__setattr__(self, "backbone_options", dict(self.backbone_options or {}))
        object.__setattr__(self, "method_options", dict(self.method_options or {}))
        if isinstance(self.lr_regimes, (list, tuple)):
            object.__setattr__(self, "lr_regimes", tuple(tuple(row) if isinstance(row, (list, tuple)) else row
                                                         for row in self.lr_regimes))
        object.__setattr__(self, "sources", dict(self.sources or {}))
        problems = _problems(self)
        if problems:
            raise WsolbenchError(f"recipe {self.name!r}: " + "; ".join(problems))

    def replace(self, **changes) -> "Recipe":
        """A validated copy with some fields changed (``None`` values are ignored)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_toml(self) -> str:
        """The recipe as TOML text (the format :func:`load_recipe` reads)."""
        return _to_toml(self)


def _problems(r: Recipe) -> list[str]:
    out = []
    positive = ("epochs", "batch_size", "image_size", "resize_size", "lr_decay_every", "eval_batch_size")
    out += [f"{k} must be a positive integer, got {getattr(r, k)!r}" for k in positive
            if not isinstance(getattr(r, k), int) or isinstance(getattr(r, k), bool) or getattr(r, k) < 1]
    out += [f"{k} must be a non-negative number, got {getattr(r, k)!r}"
            for k in ("lr", "lr_classifier_ratio", "momentum", "weight_decay", "lr_decay_gamma")
            if not isinstance(getattr(r, k), (int, float)) or getattr(r, k) < 0]
    if r.pool not in ("gap", "gmp"):
        out.append(f"pool must be 'gap' or 'gmp', got {r.pool!r}")
    if r.pretrained not in ("imagenet", "none"):
        out.append(f"pretrained must be 'imagenet' or 'none', got {r.pretrained!r}")
    if r.resize_size < r.image_size:
        out.append(f"resize_size ({r.resize_size}) must be >= image_size ({r.image_size})")
    if r.loss not in LOSSES:
        out.append(f"loss must be one of {', '.join(LOSSES)}, got {r.loss!r}")
    if r.amp not in AMP_MODES:
        out.append(f"amp must be one of {', '.join(AMP_MODES)}, got {r.amp!r}")
    if not isinstance(r.workers, int) or r.workers < 0:
        out.append(f"workers must be an integer >= 0, got {r.workers!r}")
    if r.normalize not in NORMALIZATIONS:
        out.append(f"normalize must be one of {', '.join(NORMALIZATIONS)}, got {r.normalize!r}")
    if not isinstance(r.train_flip, (int, float)) or not 0 <= r.train_flip <= 1:
        out.append(f"train_flip must be a probability in [0, 1], got {r.train_flip!r}")
    return out + _schedule_problems(r)


def _schedule_problems(r: Recipe) -> list[str]:
    if r.lr_schedule not in LR_SCHEDULES:
        return [f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {r.lr_schedule!r}"]
    if not isinstance(r.lr_final, (int, float)) or r.lr_final < 0:
        return [f"lr_final must be a non-negative number, got {r.lr_final!r}"]
    if r.lr_schedule != "regimes":
        return [] if not r.lr_regimes else [f"lr_regimes is set but lr_schedule is {r.lr_schedule!r}; "
                                            "use lr_schedule = \"regimes\" or remove lr_regimes"]
    rows = r.lr_regimes
    shape_ok = rows and all(isinstance(row, tuple) and len(row) == 3 and isinstance(row[0], int)
                            and all(isinstance(v, (int, float)) and v >= 0 for v in row[1:]) for row in rows)
    if not shape_ok:
        return [f"lr_regimes must be a non-empty list of [first_epoch, lr, weight_decay] rows (1-based epochs, "
                f"non-negative numbers), got {list(rows)!r}"]
    firsts = [row[0] for row in rows]
    if firsts[0] != 1 or any(b <= a for a, b in zip(firsts, firsts[1:])):
        return [f"lr_regimes must start at epoch 1 with increasing first epochs, got first epochs {firsts}"]
    if (rows[0][1], rows[0][2]) != (r.lr, r.weight_decay):
        return [f"lr_regimes' first row {list(rows[0])} must repeat lr ({r.lr}) and weight_decay ({r.weight_decay})"]
    return []


_SUBTABLES = {("model", "backbone_options"), ("recipe", "sources")}
_SUBTABLE_KEYS = {"backbone_options", "method_options", "sources"}


def _sections() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in dataclasses.fields(Recipe):
        out.setdefault(f.metadata["section"], set()).add(f.name)
    return out


def _flatten(data: dict, where: str) -> dict:
    sections, flat = _sections(), {}
    for section, table in data.items():
        if section not in sections or not isinstance(table, dict):
            raise WsolbenchError(f"{where}: unknown section [{section}]; sections: {', '.join(sections)}")
        if section == "method":
            flat["method_options"] = dict(table)
            continue
        for key, value in table.items():
            if (section, key) in _SUBTABLES:
                if not isinstance(value, dict):
                    raise WsolbenchError(f"{where}: [{section}.{key}] must be a table")
                flat[key] = dict(value)
            elif key not in sections[section] or key in _SUBTABLE_KEYS:
                raise WsolbenchError(f"{where}: unknown key {key!r} in [{section}]; known: "
                                     f"{', '.join(sorted(sections[section] - _SUBTABLE_KEYS))}")
            else:
                flat[key] = value
    return flat


def parse_recipe(text: str, *, where: str = "<recipe>") -> Recipe:
    """Parse recipe TOML text (see the module docstring)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise WsolbenchError(f"{where}: not valid TOML ({e})") from e
    try:
        return Recipe(**_flatten(data, where))
    except TypeError as e:
        raise WsolbenchError(f"{where}: {e}") from e


def load_recipe(name_or_path: str) -> Recipe:
    """A packaged recipe by name (``cam-resnet50-cub``) or a TOML file by path."""
    if os.path.isfile(name_or_path):
        with open(name_or_path, encoding="utf-8") as f:
            return parse_recipe(f.read(), where=name_or_path)
    return get_recipe(name_or_path)


def _packaged() -> dict[str, str]:
    folder = resources.files("wsolbench.nn") / "recipes"
    return {p.name[:-5]: p.read_text(encoding="utf-8") for p in folder.iterdir() if p.name.endswith(".toml")}


def list_recipes() -> list[Recipe]:
    """The packaged recipes, by name."""
    texts = _packaged()
    return [parse_recipe(texts[n], where=f"recipes/{n}.toml") for n in sorted(texts)]


def get_recipe(name: str) -> Recipe:
    texts = _packaged()
    if name not in texts:
        raise WsolbenchError(f"no recipe {name!r} (and no such file); packaged recipes: {', '.join(sorted(texts))}")
    return parse_recipe(texts[name], where=f"recipes/{name}.toml")


def dataset_family(name: str) -> str | None:
    """The dataset family of an annotation set's name (``CUB`` -> ``cub``), or ``None``."""
    return _FAMILY_ALIASES.get(name.strip().lower().replace("-", "_"))


def family_of_spec(spec: str) -> str | None:
    """The dataset family a spec names (adapter name, or a wsoleval folder such as ``metadata/CUB``)."""
    from pathlib import PurePath

    from wsolbench.datasets.registry import parse_spec

    name, path = parse_spec(spec)
    family = dataset_family(name)
    if family or name != "wsoleval":
        return family
    parts = [p for p in PurePath(path.split("?")[0].rstrip("/")).parts if p not in ("train", "val", "test")]
    return dataset_family(parts[-1]) if parts else None


def unknown_family_error(spec: str) -> WsolbenchError:
    """The error for a dataset whose family has no recipes (the user must pick one with ``--recipe``)."""
    return WsolbenchError(f"dataset {spec!r}: no recipe for its dataset family (recipes exist for "
                          f"{', '.join(DATASET_FAMILIES)}: a wsoleval: folder must be named CUB, ILSVRC or "
                          "OpenImages); choose the hyper-parameters with --recipe NAME|FILE "
                          "(see `wsolbench baseline list`)")


def require_family(spec: str) -> str:
    """The dataset family of ``spec``; raises :func:`unknown_family_error` if it has none."""
    family = family_of_spec(spec)
    if family not in DATASET_FAMILIES:
        raise unknown_family_error(spec)
    return family


def resolve_recipe(method: str, *, dataset: str | None, backbone: str | None = None) -> Recipe:
    """The recipe for (method, dataset family, backbone), derived from the closest packaged one.

    Only default recipes (``variant = ""``) are candidates. Exact match first; else the method's
    recipe for that dataset with the backbone swapped; else the CAM recipe with the method swapped
    (new methods inherit CAM's schedule); a derived recipe's sources say so. In the
    :data:`STRICT_FAMILIES` only an exact match is taken; otherwise the error lists the family's
    recipes (pick one with ``--recipe``). A dataset family without recipes is an error (pass
    ``--recipe``).
    """
    if dataset not in DATASET_FAMILIES:
        raise WsolbenchError(f"no recipes for dataset family {dataset!r}; families: {', '.join(DATASET_FAMILIES)} "
                             "(or choose the hyper-parameters with --recipe NAME|FILE)")
    family = dataset
    backbone = backbone or DEFAULT_BACKBONE.get(family, "resnet50")
    recipes = [r for r in list_recipes() if not r.variant]
    if family in STRICT_FAMILIES:
        return _exact_recipe(method, family, backbone, recipes)
    for m in (method, "cam"):
        same = [r for r in recipes if r.method == m and r.dataset == family]
        exact = [r for r in same if r.backbone == backbone]
        fallback = [r for r in same if r.backbone == DEFAULT_BACKBONE.get(family, "resnet50")] or same
        base = exact[0] if exact else (fallback[0] if fallback else None)
        if base is not None:
            if base.backbone == backbone and base.method == method:
                return base
            sources = {k: f"as {base.name}, which this recipe is derived from (not published for {method} with "
                          f"{backbone}): {v}" for k, v in base.sources.items()}
            return base.replace(name=f"{method}-{backbone.replace('_', '')}-{family}", method=method,
                                backbone=backbone, sources=sources,
                                backbone_options={} if base.backbone != backbone else base.backbone_options,
                                method_options={} if base.method != method else base.method_options,
                                description=f"derived from {base.name}")
    raise WsolbenchError(f"no recipe to derive {method}/{backbone}/{family} from")


def _exact_recipe(method: str, family: str, backbone: str, defaults: list[Recipe]) -> Recipe:
    for r in defaults:
        if (r.method, r.dataset, r.backbone) == (method, family, backbone):
            return r
    family_recipes = [r for r in list_recipes() if r.dataset == family]
    same = sorted(r.name for r in family_recipes if r.method == method)
    listed = f"its {method} recipes are: {', '.join(same)}" if same else \
        f"its recipes are: {', '.join(sorted(r.name for r in family_recipes))}"
    raise WsolbenchError(f"no default {family} recipe for method {method!r} with backbone {backbone!r}; {listed}; "
                         "pick one with --recipe NAME (or pass a TOML file)")


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _toml_key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else _toml_value(k)


def _to_toml(r: Recipe) -> str:
    lines, d = [], r.to_dict()
    for section in ("recipe", "model", "data", "train", "eval"):
        keys = [f.name for f in dataclasses.fields(Recipe) if f.metadata["section"] == section
                and f.name not in _SUBTABLE_KEYS]
        lines.append(f"[{section}]")
        lines += [f"{k} = {_toml_value(d[k])}" for k in keys]
        lines.append("")
    for title, table in (("recipe.sources", d["sources"]), ("model.backbone_options", d["backbone_options"]),
                         ("method", d["method_options"])):
        lines += _toml_table(title, table)
    return "\n".join(lines)


def _toml_table(title: str, table: dict) -> list[str]:
    """``[title]`` with the plain keys, then a ``[title.key]`` sub-table for every dict value (the
    options of each part of a composed method, ``augment+has``)."""
    lines = [f"[{title}]"] + [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in table.items()
                              if not isinstance(v, dict)] + [""]
    for k, v in table.items():
        if isinstance(v, dict):
            lines += _toml_table(f"{title}.{k}", v)
    return lines
