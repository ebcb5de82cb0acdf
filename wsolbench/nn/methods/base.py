"""What a WSOL method is: hooks around a backbone's training step and its CAMs.

A method may change
* the model (``prepare_model``): insert layers after a backbone stage, e.g. an attention-based
  dropout layer (``backbone.insert_after(point, module)``);
* the train-time input (``transform_batch``): erase patches (Hide-and-Seek), mix images (CutMix);
  randomness comes from the ``generator`` it is given, which the trainer seeds per step, so runs
  are reproducible and resumable;
* the loss (``loss``): e.g. add an entropy regulariser;
* the maps (``cams_and_logits``).
``training_step`` chains the first three; a method with several outputs may override it.

Targets: class indices ``(B,)`` (int64) train with cross-entropy; multi-hot ``(B, C)`` float
targets (multi-label data, see ``Recipe.loss``) with binary cross-entropy over the label set;
:class:`MixedTargets` (CutMix) with the area-weighted sum of the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from wsolbench.nn.data import InputNorm


@dataclass
class StepOutput:
    """Result of one training step: the loss to back-propagate and the (B, C) logits for accuracy."""

    loss: torch.Tensor
    logits: torch.Tensor


@dataclass
class MixedTargets:
    """Targets of mixed images (CutMix): ``weight_a * loss(a) + (1 - weight_a) * loss(b)``.

    Attributes:
        a: targets of the images that were pasted into, (B,) or (B, C).
        b: targets of the images the pasted boxes came from, same shape.
        weight_a: the share of each image that still shows ``a`` (1 - pasted area / image area).
    """

    a: torch.Tensor
    b: torch.Tensor
    weight_a: float


def classification_loss(logits: torch.Tensor, targets) -> torch.Tensor:
    """Cross-entropy for class indices (B,), BCE-with-logits (mean over B x C) for multi-hot (B, C)
    float targets, and the weighted pair of them for :class:`MixedTargets`."""
    if isinstance(targets, MixedTargets):
        return (targets.weight_a * classification_loss(logits, targets.a)
                + (1.0 - targets.weight_a) * classification_loss(logits, targets.b))
    if targets.ndim == 2:
        return F.binary_cross_entropy_with_logits(logits.float(), targets.float())
    return F.cross_entropy(logits.float(), targets)


def numpy_rng(generator: torch.Generator) -> np.random.Generator:
    """A numpy generator drawn from a torch generator (for distributions torch cannot seed, e.g. Beta)."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    return np.random.default_rng(seed)


def option_list(name: str, value, *, kind=int) -> list:
    """A method option that may be a single value or a list, as a list of ``kind`` (ValueError if not)."""
    values = value if isinstance(value, (list, tuple)) else [value]
    try:
        out = [kind(v) for v in values]
    except (TypeError, ValueError):
        raise ValueError(f"option {name} must be a {kind.__name__} or a list of them, got {value!r}") from None
    if kind is int and any(isinstance(v, float) and v != int(v) for v in values):
        raise ValueError(f"option {name} must hold whole numbers, got {value!r}")
    return out


class WSOLMethod:
    """Base class: vanilla classification training and CAMs. Subclasses override hooks.

    Args:
        **options: method hyper-parameters (from the recipe's ``[method]`` table); the base
            accepts none.
    """

    name = "base"
    #: option name -> default value; unknown recipe options are an error.
    defaults: dict[str, Any] = {}
    #: the input normalisation of the images it sees (the trainer sets the recipe's), so that fills
    #: such as "the dataset mean" or "black" get the right values in the network input.
    input_norm: InputNorm = InputNorm()
    #: the model keeps the backbone's CAM head, so ``--pretrained`` keeps the ImageNet classifier
    #: on ILSVRC where the head has its shape (wsolevaluation; False for ACoL and SPG).
    keeps_imagenet_head = True
    #: the model the method trains: ``cam`` (the backbone itself) or a registered variant of it
    #: (``acol``, ``spg``: :func:`wsolbench.nn.backbones.registry.register_variant`).
    architecture = "cam"
    #: groups of options that set the same thing in different ways (HaS's patch side); an option
    #: given on top of a recipe (``-m``) replaces the recipe's options of its group.
    exclusive_options: tuple[tuple[str, ...], ...] = ()

    @classmethod
    def merge_options(cls, base: dict, override: dict) -> dict:
        """``base`` options updated with ``override``, dropping base options that an override of
        the same exclusive group replaces (``-m patch_sizes=32`` over a recipe with ``grid_size``)."""
        merged = dict(base)
        for group in cls.exclusive_options:
            if any(k in override for k in group):
                for k in group:
                    merged.pop(k, None)
        merged.update(override)
        return merged

    def __init__(self, **options):
        unknown = sorted(set(options) - set(self.defaults))
        if unknown:
            raise ValueError(f"method {self.name!r} has no option(s) {', '.join(unknown)}; "
                             f"known: {', '.join(self.defaults) or 'none'}")
        self.options = {**self.defaults, **options}
        self.given = frozenset(options)  # the options set explicitly (recipe, -m), not defaulted
        self.check_options()

    def check_options(self) -> None:
        """Validate ``self.options`` (raise ValueError with what is wrong); the base has none."""

    def prepare_model(self, model):
        """Modify the freshly built backbone (insert layers); returns the model."""
        return model

    def transform_batch(self, images: torch.Tensor, labels: torch.Tensor, *, generator: torch.Generator):
        """Train-time input transform; returns ``(images, targets)`` (targets are passed to :meth:`loss`)."""
        return images, labels

    def loss(self, logits: torch.Tensor, targets, *, model=None) -> torch.Tensor:
        """Training loss (:func:`classification_loss`: cross-entropy, or BCE for multi-hot targets)."""
        return classification_loss(logits, targets)

    def training_step(self, model, images, labels, *, generator: torch.Generator) -> StepOutput:
        """transform -> forward -> loss. ``model`` may be wrapped (DistributedDataParallel)."""
        images, targets = self.transform_batch(images, labels, generator=generator)
        logits = model(images)
        return StepOutput(loss=self.loss(logits, targets, model=model), logits=logits)

    def cams_and_logits(self, model, images: torch.Tensor, labels: torch.Tensor | None = None):
        """Raw maps (B, h, w) of ``labels`` (predicted class when ``None``) and (B, C) logits."""
        return model.cams_and_logits(images, labels)
