"""Composed methods: ``A+B`` runs method A's input transform, then B's (``augment+has``: standard
augmentation, then Hide-and-Seek's hidden patches on the augmented image, the Hide-and-Seek
reproduction's "AUG with HaS").

The options of a composed method are one table per part, named by the part::

    [method.augment]
    rotate = 15.0
    [method.has]
    grids = [0, 16, 36, 64]

Model changes (``prepare_model``) apply in order; the loss and the maps are the last part's.

Example:
    >>> m = create_method("augment+has", augment={"rotate": 10.0}, has={"grids": [16]})   # doctest: +SKIP
    >>> [p.name for p in m.parts]                                                         # doctest: +SKIP
    ['augment', 'has']
"""

from __future__ import annotations

from wsolbench.nn.data import InputNorm
from wsolbench.nn.methods.base import WSOLMethod


class ComposedMethod(WSOLMethod):
    """Several methods chained; see the module docstring. Built by :func:`compose`."""

    def __init__(self, name: str, parts: list[WSOLMethod]):
        self.name = name
        self.parts = parts
        self.options = {p.name: dict(p.options) for p in parts}

    @property
    def input_norm(self) -> InputNorm:
        return self.parts[-1].input_norm

    @input_norm.setter
    def input_norm(self, norm: InputNorm) -> None:
        for part in self.parts:
            part.input_norm = norm

    def prepare_model(self, model):
        for part in self.parts:
            model = part.prepare_model(model)
        return model

    def transform_batch(self, images, labels, *, generator):
        for part in self.parts:
            images, labels = part.transform_batch(images, labels, generator=generator)
        return images, labels

    def loss(self, logits, targets, *, model=None):
        return self.parts[-1].loss(logits, targets, model=model)

    def cams_and_logits(self, model, images, labels=None):
        return self.parts[-1].cams_and_logits(model, images, labels)


def compose(name: str, options: dict, create) -> ComposedMethod:
    """Build ``name`` (``A+B``) with ``options`` = ``{A: {...}, B: {...}}``; ``create(part, **opts)``
    builds each part."""
    names = name.split("+")
    if len(set(names)) != len(names) or not all(names):
        raise ValueError(f"composed method {name!r}: give distinct method names joined by '+' (augment+has)")
    unknown = sorted(set(options) - set(names))
    if unknown or any(not isinstance(options.get(n, {}), dict) for n in names):
        raise ValueError(f"composed method {name!r}: options are one table per part ([method.{names[0]}], ...); "
                         f"got keys {', '.join(sorted(options))}")
    return ComposedMethod(name, [create(n, **options.get(n, {})) for n in names])
