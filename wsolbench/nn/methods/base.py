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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F


@dataclass
class StepOutput:
    """Result of one training step: the loss to back-propagate and the (B, C) logits for accuracy."""

    loss: torch.Tensor
    logits: torch.Tensor


class WSOLMethod:
    """Base class: vanilla classification training and CAMs. Subclasses override hooks.

    Args:
        **options: method hyper-parameters (from the recipe's ``[method]`` table); the base
            accepts none.
    """

    name = "base"
    #: option name -> default value; unknown recipe options are an error.
    defaults: dict[str, Any] = {}

    def __init__(self, **options):
        unknown = sorted(set(options) - set(self.defaults))
        if unknown:
            raise ValueError(f"method {self.name!r} has no option(s) {', '.join(unknown)}; "
                             f"known: {', '.join(self.defaults) or 'none'}")
        self.options = {**self.defaults, **options}

    def prepare_model(self, model):
        """Modify the freshly built backbone (insert layers); returns the model."""
        return model

    def transform_batch(self, images: torch.Tensor, labels: torch.Tensor, *, generator: torch.Generator):
        """Train-time input transform; returns ``(images, targets)`` (targets are passed to :meth:`loss`)."""
        return images, labels

    def loss(self, logits: torch.Tensor, targets, *, model=None) -> torch.Tensor:
        """Training loss (cross-entropy by default)."""
        return F.cross_entropy(logits.float(), targets)

    def training_step(self, model, images, labels, *, generator: torch.Generator) -> StepOutput:
        """transform -> forward -> loss. ``model`` may be wrapped (DistributedDataParallel)."""
        images, targets = self.transform_batch(images, labels, generator=generator)
        logits = model(images)
        return StepOutput(loss=self.loss(logits, targets, model=model), logits=logits)

    def cams_and_logits(self, model, images: torch.Tensor, labels: torch.Tensor | None = None):
        """Raw maps (B, h, w) of ``labels`` (predicted class when ``None``) and (B, C) logits."""
        return model.cams_and_logits(images, labels)
