"""CutMix (Yun et al., ICCV 2019), as used for WSOL by wsolevaluation (Choe et al., CVPR 2020).

Per batch, with probability ``prob`` (1.0): draw ``lam ~ Beta(beta, beta)`` (beta 1.0), a box
of ``sqrt(1 - lam)`` times the image sides at a uniform centre, clipped to the image, and paste
that box from a shuffled copy of the batch into every image. The loss weighs the two labels by
what each image shows after clipping: ``weight_a = 1 - box area / image area`` (not ``lam``).

Example:
    >>> g = torch.Generator().manual_seed(0)
    >>> mixed, targets = cutmix(torch.zeros(2, 3, 8, 8), torch.tensor([0, 1]), beta=1.0, generator=g)
    >>> 0.0 <= targets.weight_a <= 1.0
    True
"""

from __future__ import annotations

import torch

from wsolbench.nn.methods.base import MixedTargets, WSOLMethod, numpy_rng
from wsolbench.nn.methods.registry import register_method


def cut_box(height: int, width: int, lam: float, rng) -> tuple[int, int, int, int]:
    """The pasted box ``(x0, y0, x1, y1)`` (x1, y1 exclusive), clipped to the image.

    Its unclipped sides are ``int(side * sqrt(1 - lam))`` around a centre drawn uniformly over the
    pixels (``rng``: a numpy Generator).
    """
    ratio = (1.0 - lam) ** 0.5
    cut_w, cut_h = int(width * ratio), int(height * ratio)
    cx, cy = int(rng.integers(width)), int(rng.integers(height))
    x0, x1 = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, width)
    y0, y1 = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, height)
    return x0, y0, x1, y1


def cutmix(images: torch.Tensor, targets: torch.Tensor, *, beta: float, generator: torch.Generator):
    """Paste one random box from a shuffled batch into every image.

    Args:
        images: (B, C, H, W) (not modified).
        targets: (B,) class indices or (B, K) multi-hot targets.
        beta: the Beta distribution's parameter.
        generator: the random stream.

    Returns:
        ``(mixed images (B, C, H, W), MixedTargets)``.
    """
    rng = numpy_rng(generator)
    lam = float(rng.beta(beta, beta))
    b, _, h, w = images.shape
    perm = torch.randperm(b, generator=generator).to(images.device)
    x0, y0, x1, y1 = cut_box(h, w, lam, rng)
    mixed = images.clone()
    mixed[:, :, y0:y1, x0:x1] = images[perm, :, y0:y1, x0:x1]
    weight_a = 1.0 - (x1 - x0) * (y1 - y0) / float(h * w)
    return mixed, MixedTargets(a=targets, b=targets[perm], weight_a=weight_a)


@register_method("cutmix")
class CutMix(WSOLMethod):
    """CutMix: options ``beta`` (1.0) and ``prob`` (1.0, the share of batches that are mixed)."""

    defaults = {"beta": 1.0, "prob": 1.0}

    def check_options(self) -> None:
        if float(self.options["beta"]) <= 0:
            raise ValueError(f"cutmix: beta must be > 0, got {self.options['beta']}")
        if not 0.0 <= float(self.options["prob"]) <= 1.0:
            raise ValueError(f"cutmix: prob must be in [0, 1], got {self.options['prob']}")

    def transform_batch(self, images, labels, *, generator):
        if float(torch.rand((), generator=generator)) >= float(self.options["prob"]):
            return images, labels
        return cutmix(images, labels, beta=float(self.options["beta"]), generator=generator)
