"""The backbone registry: an explicit decorator and ``create_backbone(name, **kw)``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from wsolbench.errors import WsolbenchError


@dataclass(frozen=True)
class BackboneInfo:
    """What ``wsolbench baseline list`` shows about a backbone.

    Attributes:
        name: registry name (``vgg16``, ``resnet50``, ...).
        family: the module (one family per file) that defines it.
        summary: one line: the WSOL modification.
        torchvision: name of the torchvision ImageNet model whose state-dict keys its trunk
            uses (``--pretrained`` loads such a file), or ``None``.
        builder: callable ``(**kw) -> WSOLBackbone``.
        aliases: other names accepted for it (``alexnet-gap`` for ``alexnet``); recipes and run
            folders record the registry name.
    """

    name: str
    family: str
    summary: str
    torchvision: str | None
    builder: Callable
    aliases: tuple[str, ...] = ()


_BACKBONES: dict[str, BackboneInfo] = {}
_ALIASES: dict[str, str] = {}


def register_backbone(name: str, *, family: str, summary: str, torchvision: str | None = None,
                      aliases: tuple[str, ...] = ()):
    """Decorator registering a builder ``fn(*, num_classes, pool='gap', **kw) -> WSOLBackbone``
    under ``name`` and its ``aliases``."""

    def deco(fn):
        for key in (name, *aliases):
            if key in _BACKBONES or key in _ALIASES:
                raise ValueError(f"backbone name {key!r} registered twice")
        _BACKBONES[name] = BackboneInfo(name=name, family=family, summary=summary, torchvision=torchvision,
                                        builder=fn, aliases=tuple(aliases))
        _ALIASES.update({alias: name for alias in aliases})
        return fn

    return deco


def canonical_backbone(name: str) -> str:
    """The registry name of ``name`` (itself, or what the alias stands for).

    Raises:
        WsolbenchError: unknown name (the message lists the known names and aliases).
    """
    if name in _BACKBONES:
        return name
    if name in _ALIASES:
        return _ALIASES[name]
    known = sorted(_BACKBONES)
    aliases = ", ".join(f"{a} = {n}" for a, n in sorted(_ALIASES.items()))
    raise WsolbenchError(f"unknown backbone {name!r}; choose one of {', '.join(known)}"
                         + (f" (aliases: {aliases})" if aliases else "") + " (see `wsolbench baseline list`)")


def list_backbones() -> list[BackboneInfo]:
    """Every registered backbone, by name."""
    return [_BACKBONES[k] for k in sorted(_BACKBONES)]


def create_backbone(name: str, **kwargs):
    """Build a registered backbone.

    Args:
        name: registry name or alias, e.g. ``resnet50``, ``alexnet-gap``.
        **kwargs: ``num_classes`` (required), ``pool`` (``gap``/``gmp``) and family options.

    Raises:
        WsolbenchError: unknown name (the message lists the known ones).
    """
    return _BACKBONES[canonical_backbone(name)].builder(**kwargs)
