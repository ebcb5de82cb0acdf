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
    """

    name: str
    family: str
    summary: str
    torchvision: str | None
    builder: Callable


_BACKBONES: dict[str, BackboneInfo] = {}


def register_backbone(name: str, *, family: str, summary: str, torchvision: str | None = None):
    """Decorator registering a builder ``fn(*, num_classes, pool='gap', **kw) -> WSOLBackbone``."""

    def deco(fn):
        if name in _BACKBONES:
            raise ValueError(f"backbone {name!r} registered twice")
        _BACKBONES[name] = BackboneInfo(name=name, family=family, summary=summary, torchvision=torchvision, builder=fn)
        return fn

    return deco


def list_backbones() -> list[BackboneInfo]:
    """Every registered backbone, by name."""
    return [_BACKBONES[k] for k in sorted(_BACKBONES)]


def create_backbone(name: str, **kwargs):
    """Build a registered backbone.

    Args:
        name: registry name, e.g. ``resnet50``.
        **kwargs: ``num_classes`` (required), ``pool`` (``gap``/``gmp``) and family options.

    Raises:
        WsolbenchError: unknown name (the message lists the known ones).
    """
    if name not in _BACKBONES:
        raise WsolbenchError(f"unknown backbone {name!r}; choose one of {', '.join(sorted(_BACKBONES))} "
                             "(see `wsolbench baseline list`)")
    return _BACKBONES[name].builder(**kwargs)
