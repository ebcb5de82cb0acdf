"""Entropy regularization for WSOL (Hwang et al., "Entropy regularization for weakly supervised
object localization", Pattern Recognition Letters 2023).

The classifier is kept from becoming over-confident (which shrinks CAMs onto the most
discriminative part) by pulling its softmax output ``p`` towards the uniform distribution ``u``:

    loss = CE(y, p) + lambda * KL(u || p),   KL(u || p) = sum_c u_c (log u_c - log p_c)
                                                        = -log C - (1/C) sum_c log p_c

with ``lambda = 1e-4`` by default. The KL term's ``reduction`` decides what ``lambda`` means:

* ``batchmean`` (default): the KL divergence of each image, averaged over the batch (the
  formula above; independent of the batch size and of the number of classes' scaling);
* ``mean``: the mean over all B x C elements, as ``torch.nn.KLDivLoss()`` with its default
  reduction computes it: ``batchmean / C``, i.e. an effective lambda C times smaller;
* ``sum``: summed over the batch: ``batchmean * B``, an effective lambda B times larger.

Example:
    >>> logits = torch.zeros(2, 4)                  # uniform prediction: KL(u || p) = 0
    >>> float(kl_from_uniform(logits, reduction="batchmean"))
    0.0
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from wsolbench.nn.methods.base import WSOLMethod, classification_loss
from wsolbench.nn.methods.registry import register_method

REDUCTIONS = ("batchmean", "mean", "sum")


def kl_from_uniform(logits: torch.Tensor, *, reduction: str = "batchmean") -> torch.Tensor:
    """``KL(u || softmax(logits))`` of (B, C) logits, reduced as named (see the module docstring)."""
    log_p = F.log_softmax(logits.float(), dim=1)
    c = logits.shape[1]
    elements = (-math.log(c) - log_p) / c  # u_c * (log u_c - log p_c), (B, C)
    if reduction == "batchmean":
        return elements.sum() / logits.shape[0]
    if reduction == "mean":
        return elements.mean()
    if reduction == "sum":
        return elements.sum()
    raise ValueError(f"er: reduction must be one of {REDUCTIONS}, got {reduction!r}")


@register_method("er")
class EntropyRegularization(WSOLMethod):
    """CE + lambda * KL(uniform || p); options ``lambda`` (1e-4) and ``reduction`` (batchmean)."""

    defaults = {"lambda": 1e-4, "reduction": "batchmean"}

    def check_options(self) -> None:
        if float(self.options["lambda"]) < 0:
            raise ValueError(f"er: lambda must be >= 0, got {self.options['lambda']}")
        if self.options["reduction"] not in REDUCTIONS:
            raise ValueError(f"er: reduction must be one of {REDUCTIONS}, got {self.options['reduction']!r}")

    def loss(self, logits, targets, *, model=None):
        kl = kl_from_uniform(logits, reduction=self.options["reduction"])
        return classification_loss(logits, targets) + float(self.options["lambda"]) * kl
