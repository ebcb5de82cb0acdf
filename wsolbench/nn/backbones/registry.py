"""The backbone registry: an explicit decorator and ``create_backbone(name, **kw)``.

A backbone has one canonical name (``inception_v3``, the reference's and torchvision's) and any
number of aliases (``inceptionv3``, the name recipes and the leaderboard use); lookups ignore case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from wsolbench.errors import WsolbenchError


@dataclass(frozen=True)
class BackboneInfo:
    """What ``wsolbench baseline list`` shows about a backbone.

    Attributes:
        name: canonical registry name (``vgg16``, ``resnet50``, ``inception_v3``, ...).
        family: the module (one family per file) that defines it.
        summary: one line: the WSOL modification.
        torchvision: name of the torchvision ImageNet model whose state-dict keys its trunk
            uses (``--pretrained`` loads such a file), or ``None``.
        builder: callable ``(**kw) -> WSOLBackbone``.
        aliases: other names accepted for it (``inceptionv3`` for ``inception_v3``, ``alexnet-gap`` for
            ``alexnet``); recipes and run folders record the registry name.
    """

    name: str
    family: str
    summary: str
    torchvision: str | None
    builder: Callable
    aliases: tuple[str, ...] = field(default=())


_BACKBONES: dict[str, BackboneInfo] = {}
_NAMES: dict[str, str] = {}  # lower-case name or alias -> canonical name
_VARIANTS: dict[tuple[str, str], Callable] = {}  # (canonical name, architecture) -> builder
ARCHITECTURE_CAM = "cam"


def register_backbone(name: str, *, family: str, summary: str, torchvision: str | None = None,
                      aliases: tuple[str, ...] = ()):
    """Decorator registering a builder ``fn(*, num_classes, pool='gap', **kw) -> WSOLBackbone``
    under ``name`` and its ``aliases`` (each accepted wherever a backbone is named)."""

    def deco(fn):
        for key in (name, *aliases):
            if key.lower() in _NAMES:
                raise ValueError(f"backbone name {key!r} registered twice")
        _BACKBONES[name] = BackboneInfo(name=name, family=family, summary=summary, torchvision=torchvision,
                                        builder=fn, aliases=tuple(aliases))
        for key in (name, *aliases):
            _NAMES[key.lower()] = name
        return fn

    return deco


def register_variant(name: str, architecture: str):
    """Decorator registering a method-specific architecture of a registered backbone (the
    reference's ACoL and SPG models of VGG16, ResNet50, InceptionV3): ``create_backbone(name,
    architecture=...)`` builds it. Register the backbone first."""

    def deco(fn):
        key = (canonical_backbone(name), architecture)
        if key in _VARIANTS:
            raise ValueError(f"architecture {architecture!r} of {name!r} registered twice")
        _VARIANTS[key] = fn
        return fn

    return deco


def variant_backbones(architecture: str) -> list[str]:
    """The backbones that have ``architecture`` (``cam``: all of them)."""
    if architecture == ARCHITECTURE_CAM:
        return sorted(_BACKBONES)
    return sorted(n for n, a in _VARIANTS if a == architecture)


def list_backbones() -> list[BackboneInfo]:
    """Every registered backbone, by canonical name."""
    return [_BACKBONES[k] for k in sorted(_BACKBONES)]


def canonical_backbone(name: str) -> str:
    """The canonical name of a backbone name or alias (``inceptionv3`` -> ``inception_v3``).

    Raises:
        WsolbenchError: unknown name (the message lists the known names and aliases).
    """
    key = str(name).strip().lower()
    if key not in _NAMES:
        known = sorted(_BACKBONES)
        aliases = ", ".join(f"{a} = {b.name}" for b in list_backbones() for a in b.aliases)
        raise WsolbenchError(f"unknown backbone {name!r}; choose one of {', '.join(known)}"
                             + (f" (aliases: {aliases})" if aliases else "") + " (see `wsolbench baseline list`)")
    return _NAMES[key]


def backbone_info(name: str) -> BackboneInfo:
    """The :class:`BackboneInfo` of a backbone name or alias."""
    return _BACKBONES[canonical_backbone(name)]


def _builder(name: str, architecture: str) -> Callable:
    info = backbone_info(name)
    if architecture == ARCHITECTURE_CAM:
        return info.builder
    if (info.name, architecture) not in _VARIANTS:
        raise WsolbenchError(f"the {architecture} model is defined for {', '.join(variant_backbones(architecture))} "
                             f"(the reference's backbones), not {info.name}; choose one with --backbone")
    return _VARIANTS[(info.name, architecture)]


def check_backbone_options(name: str, options: dict, *, architecture: str = ARCHITECTURE_CAM) -> None:
    """Raise a clear error for builder options a backbone does not take (``large_feature_map`` on
    the small CNN), or an architecture it does not have (ACoL on AlexNet), before anything is built."""
    import inspect

    info = backbone_info(name)
    params = inspect.signature(_builder(name, architecture)).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    known = sorted(k for k in params if k not in ("num_classes", "pool"))
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise WsolbenchError(f"backbone {info.name} has no option {', '.join(unknown)}; its options: "
                             f"{', '.join(known) or 'none'} (large_feature_map: vgg16, resnet50, inception_v3)")


def create_backbone(name: str, *, architecture: str = ARCHITECTURE_CAM, **kwargs):
    """Build a registered backbone.

    Args:
        name: registry name or alias, e.g. ``resnet50``, ``inceptionv3``.
        architecture: ``cam`` (the backbone itself) or a method's model registered with
            :func:`register_variant` (``acol``, ``spg``).
        **kwargs: ``num_classes`` (required), ``pool`` (``gap``/``gmp``) and family options.

    Raises:
        WsolbenchError: unknown name (the message lists the known ones), or an architecture the
            backbone does not have.
    """
    return _builder(name, architecture)(**kwargs)
