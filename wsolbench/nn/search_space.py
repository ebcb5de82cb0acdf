"""Search spaces of the protocol's model selection, as data (one TOML file per method).

A space names the recipe fields a search varies and how each is drawn. This module imports
neither torch nor Optuna (``wsolbench tune --list`` works anywhere); :meth:`Param.suggest` takes
an Optuna trial. Packaged spaces live in ``wsolbench/nn/search_spaces/METHOD.toml``; a TOML file
by path works everywhere a space is named.

A space file::

    [space]
    method = "has"                      # the WSOL method it is for
    description = "..."
    source = "..."                      # where the knobs and their ranges come from

    [splits]                            # optional: where trials train and are scored
    train = "train"                     #   default: the recipe's train split
    select = "val"                      #   the protocol's train-fullsup split (default "val")
    refit = ""                          #   if set: the best configuration is retrained on this
                                        #   split before the test (FSL: its fit part is a subset)

    [params."train.lr"]                 # a target: SECTION.FIELD of the recipe,
    distribution = "log-uniform"        #   model.backbone_options.KEY or method.KEY
    low = 1e-5
    high = 1.0

    [params."train.lr".backbone.smallcnn]   # optional: other bounds for one backbone
    low = 1e-3

    [params."model.backbone_options.large_feature_map"]
    distribution = "categorical"        # searched only with backbones that have the option
    choices = [false, true]

Distributions: ``uniform`` / ``log-uniform`` (floats in [low, high]), ``int`` / ``log-int``
(integers in [low, high], ``step`` for ``int``), ``categorical`` (``choices``: booleans,
numbers or strings).

Example:
    >>> space = get_space("cam")
    >>> [p.name for p in space.params]
    ['train.lr', 'model.backbone_options.large_feature_map']
    >>> space.for_backbone("smallcnn", lambda key: False).params[0].describe()
    'log-uniform [0.01, 0.5]'
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
from dataclasses import dataclass, field
from importlib import resources
from typing import Callable

from wsolbench.errors import WsolbenchError
from wsolbench.nn.recipe import Recipe

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DISTRIBUTIONS = ("uniform", "log-uniform", "int", "log-int", "categorical")
BACKBONE_OPTION = "model.backbone_options."
METHOD_OPTION = "method."
#: Recipe fields a space may not vary: what the recipe *is* and where it trains/evaluates.
FIXED_FIELDS = ("name", "method", "backbone", "dataset", "description", "source", "train_split", "eval_split",
                "protocol", "cam_step", "workers", "eval_batch_size")
_PARAM_KEYS = {"distribution", "low", "high", "step", "choices", "note", "backbone"}


class SpaceError(WsolbenchError):
    """A search space file is malformed or names a knob that does not exist."""


@dataclass(frozen=True)
class Param:
    """One searched knob.

    Attributes:
        name: the target (``train.lr``, ``model.backbone_options.large_feature_map``, ``method.beta``).
        distribution: one of :data:`DISTRIBUTIONS`.
        low, high: bounds (numeric distributions); step: grid step of ``int``.
        choices: values of ``categorical``.
        note: where this range comes from (shown by ``wsolbench tune --list``).
    """

    name: str
    distribution: str
    low: float | None = None
    high: float | None = None
    step: int | None = None
    choices: tuple = ()
    note: str = ""

    @property
    def log(self) -> bool:
        return self.distribution.startswith("log-")

    def suggest(self, trial):
        """Draw the value from an Optuna trial (fixed params of a retried trial come back as they were)."""
        if self.distribution == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.distribution in ("int", "log-int"):
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=self.step or 1, log=self.log)
        return trial.suggest_float(self.name, float(self.low), float(self.high), log=self.log)

    def extremes(self) -> list:
        """The values that bound the range (for validating them against the recipe and the method)."""
        return list(self.choices) if self.distribution == "categorical" else [self.low, self.high]

    def describe(self) -> str:
        """``log-uniform [1e-05, 1]``, ``categorical {false, true}``."""
        if self.distribution == "categorical":
            return "categorical {" + ", ".join(json.dumps(c) for c in self.choices) + "}"
        step = f" step {self.step}" if self.step and self.step != 1 else ""
        return f"{self.distribution} [{self.low:g}, {self.high:g}]{step}"

    def to_dict(self) -> dict:
        out = {"name": self.name, "distribution": self.distribution}
        if self.distribution == "categorical":
            out["choices"] = list(self.choices)
        else:
            out.update(low=self.low, high=self.high)
            if self.step:
                out["step"] = self.step
        return out


@dataclass(frozen=True)
class Splits:
    """Where trials train (``train``; ``None``: the recipe's), are scored (``select``), and the split the
    best configuration is retrained on before the test (``refit``; ``None``: the best trial's model
    is tested as it is)."""

    train: str | None = None
    select: str = "val"
    refit: str | None = None


@dataclass(frozen=True)
class SearchSpace:
    """A method's search space; ``params`` in file order; ``overrides`` holds per-backbone bounds."""

    name: str
    method: str
    params: tuple[Param, ...]
    splits: Splits = Splits()
    description: str = ""
    source: str = ""
    path: str = ""
    overrides: dict = field(default_factory=dict, compare=False, hash=False)

    def for_backbone(self, backbone: str, has_option: Callable[[str], bool]) -> "SearchSpace":
        """The space as searched with ``backbone``: its bound overrides applied, and backbone options it
        lacks (``has_option(key)`` false) left out."""
        params = []
        for p in self.params:
            if p.name.startswith(BACKBONE_OPTION) and not has_option(p.name[len(BACKBONE_OPTION):]):
                continue
            override = self.overrides.get(p.name, {}).get(backbone)
            params.append(_param(p.name, {**_raw(p), **override}, self.path) if override else p)
        return dataclasses.replace(self, params=tuple(params), overrides={})

    def apply(self, recipe: Recipe, values: dict) -> Recipe:
        """``recipe`` with the sampled ``values`` (target -> value) set. Sampled method options replace
        the recipe's options that set the same thing another way (HaS's sampled ``patch_sizes`` and
        ``hide_prob`` replace a recipe's ``grid_size`` and ``drop_rate``)."""
        fields, backbone_options, sampled = {}, dict(recipe.backbone_options), {}
        for name, value in values.items():
            if name.startswith(BACKBONE_OPTION):
                backbone_options[name[len(BACKBONE_OPTION):]] = value
            elif name.startswith(METHOD_OPTION):
                sampled[name[len(METHOD_OPTION):]] = value
            else:
                fields[name.split(".", 1)[1]] = value
        method_options = _merge_method_options(recipe.method, dict(recipe.method_options), sampled)
        return dataclasses.replace(recipe, **fields, backbone_options=backbone_options, method_options=method_options)

    def to_dict(self) -> dict:
        """What identifies the space (stored with a study: a study refuses another space)."""
        return {"method": self.method, "params": [p.to_dict() for p in self.params],
                "splits": dataclasses.asdict(self.splits)}


def _merge_method_options(method: str, base: dict, sampled: dict) -> dict:
    try:
        from wsolbench.nn.methods import merge_method_options
    except ImportError:  # no torch: the recipe cannot be trained anyway
        return {**base, **sampled}
    return merge_method_options(method, base, sampled)


# --------------------------------------------------------------------------- parsing

def _raw(p: Param) -> dict:
    out = {"distribution": p.distribution, "note": p.note}
    if p.distribution == "categorical":
        out["choices"] = list(p.choices)
    else:
        out.update(low=p.low, high=p.high, **({"step": p.step} if p.step else {}))
    return out


def _recipe_sections() -> dict[str, str]:
    return {f.name: f.metadata["section"] for f in dataclasses.fields(Recipe)}


def check_target(name: str, where: str) -> None:
    """Raise :class:`SpaceError` unless ``name`` is a recipe field a space may vary,
    ``model.backbone_options.KEY`` or ``method.KEY`` (the keys themselves are checked against the
    backbone and the method when a study starts)."""
    if name.startswith((BACKBONE_OPTION, METHOD_OPTION)):
        if name.rsplit(".", 1)[1]:
            return
    section, _, key = name.partition(".")
    sections = _recipe_sections()
    if sections.get(key) == section and key not in FIXED_FIELDS and key not in ("backbone_options", "method_options"):
        return
    known = sorted(f"{s}.{k}" for k, s in sections.items()
                   if k not in FIXED_FIELDS and k not in ("backbone_options", "method_options"))
    raise SpaceError(f"{where}: unknown search key {name!r}; a space varies a recipe field ({', '.join(known)}), "
                     "model.backbone_options.KEY or method.KEY")


def _number(where: str, name: str, key: str, value, *, integer: bool):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SpaceError(f"{where}: [params.\"{name}\"] {key} must be a number, got {value!r}")
    if integer and value != int(value):
        raise SpaceError(f"{where}: [params.\"{name}\"] {key} must be a whole number, got {value!r}")
    return int(value) if integer else float(value)


def _param(name: str, table: dict, where: str) -> Param:
    unknown = sorted(set(table) - _PARAM_KEYS)
    if unknown:
        raise SpaceError(f"{where}: [params.\"{name}\"] has unknown key(s) {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(_PARAM_KEYS))}")
    dist = table.get("distribution")
    if dist not in DISTRIBUTIONS:
        raise SpaceError(f"{where}: [params.\"{name}\"] distribution must be one of {', '.join(DISTRIBUTIONS)}, "
                         f"got {dist!r}")
    note = str(table.get("note", ""))
    if dist == "categorical":
        choices = table.get("choices")
        if not isinstance(choices, list) or not choices or any(isinstance(c, (list, dict)) for c in choices):
            raise SpaceError(f"{where}: [params.\"{name}\"] choices must be a non-empty list of booleans, numbers "
                             f"or strings, got {choices!r}")
        return Param(name, dist, choices=tuple(choices), note=note)
    integer = dist in ("int", "log-int")
    if "low" not in table or "high" not in table:
        raise SpaceError(f"{where}: [params.\"{name}\"] needs low and high")
    low = _number(where, name, "low", table["low"], integer=integer)
    high = _number(where, name, "high", table["high"], integer=integer)
    if not low <= high or (dist.startswith("log-") and low <= 0):
        raise SpaceError(f"{where}: [params.\"{name}\"] needs low <= high{' and low > 0 (log scale)' if dist.startswith('log-') else ''}, "
                         f"got low={low!r}, high={high!r}")
    step = _number(where, name, "step", table["step"], integer=True) if "step" in table else None
    if step is not None and (step < 1 or dist != "int"):
        raise SpaceError(f"{where}: [params.\"{name}\"] step must be a positive integer, and only with 'int'")
    return Param(name, dist, low=low, high=high, step=step, note=note)


def _splits(table, where: str) -> Splits:
    if table is None:
        return Splits()
    unknown = sorted(set(table) - {"train", "select", "refit"})
    if unknown or any(not isinstance(v, str) for v in table.values()):
        raise SpaceError(f"{where}: [splits] takes train, select and refit, each a split name (string)")
    return Splits(train=table.get("train") or None, select=table.get("select") or "val",
                  refit=table.get("refit") or None)


def parse_space(text: str, *, where: str = "<space>", name: str = "custom") -> SearchSpace:
    """Parse a search space TOML text (see the module docstring)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SpaceError(f"{where}: not valid TOML ({e})") from e
    unknown = sorted(set(data) - {"space", "splits", "params"})
    if unknown:
        raise SpaceError(f"{where}: unknown section(s) {', '.join(unknown)}; sections: space, splits, params")
    head = data.get("space", {})
    if not isinstance(head.get("method"), str) or not head["method"]:
        raise SpaceError(f"{where}: [space] must name the method it is for, e.g. method = \"cam\"")
    params, overrides = [], {}
    for pname, table in data.get("params", {}).items():
        if not isinstance(table, dict):
            raise SpaceError(f"{where}: params.\"{pname}\" must be a table")
        check_target(pname, where)
        per_backbone = table.get("backbone", {})
        if not isinstance(per_backbone, dict) or any(not isinstance(v, dict) for v in per_backbone.values()):
            raise SpaceError(f"{where}: [params.\"{pname}\".backbone.NAME] tables hold other bounds for one backbone")
        base = {k: v for k, v in table.items() if k != "backbone"}
        params.append(_param(pname, base, where))
        for backbone, override in per_backbone.items():
            _param(pname, {**base, **override}, f"{where} (backbone {backbone})")
        overrides[pname] = per_backbone
    if not params:
        raise SpaceError(f"{where}: the space has no [params.\"...\"] table; give at least one knob to search")
    return SearchSpace(name=name, method=head["method"], params=tuple(params), splits=_splits(data.get("splits"), where),
                       description=str(head.get("description", "")), source=str(head.get("source", "")),
                       path=where, overrides=overrides)


def _packaged() -> dict[str, str]:
    folder = resources.files("wsolbench.nn") / "search_spaces"
    return {p.name[:-5]: p.read_text(encoding="utf-8") for p in folder.iterdir() if p.name.endswith(".toml")}


def list_spaces() -> list[SearchSpace]:
    """The packaged spaces, by name."""
    texts = _packaged()
    return [parse_space(texts[n], where=f"search_spaces/{n}.toml", name=n) for n in sorted(texts)]


def get_space(name_or_path: str) -> SearchSpace:
    """A packaged space by name (``cam``) or a TOML file by path."""
    if os.path.isfile(name_or_path):
        with open(name_or_path, encoding="utf-8") as f:
            return parse_space(f.read(), where=name_or_path, name=os.path.basename(name_or_path).rsplit(".", 1)[0])
    texts = _packaged()
    if name_or_path not in texts:
        raise SpaceError(f"no search space {name_or_path!r} (and no such file); packaged spaces: "
                         f"{', '.join(sorted(texts))} (wsolbench tune --list); write one for another method "
                         "as a TOML file and pass it with --space FILE")
    return parse_space(texts[name_or_path], where=f"search_spaces/{name_or_path}.toml", name=name_or_path)
