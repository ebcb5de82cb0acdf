"""CutMix (Yun et al., ICCV 2019), as used for WSOL by wsolevaluation (Choe et al., CVPR 2020).

Per batch, with probability ``prob`` (1.0): draw ``lam ~ Beta(beta, beta)`` (beta 1.0), a
permutation of the batch, and a box of ``int(side * sqrt(1 - lam))`` pixels along each side around
a centre drawn uniformly over the pixels, clipped to the image; the box is pasted from the
permuted batch into every image. The loss weighs the two labels by what each image shows after
clipping: ``weight_a = 1 - box area / image area`` (not ``lam``). The draws come in the
reference's order (``wsol/method/cutmix.py``: ``lam``, the permutation, the row centre, the column
centre; it calls them ``bbx``/``cx`` for the rows), so that equal draws give equal batches.

Example:
    >>> g = torch.Generator().manual_seed(0)
    >>> mixed, targets = cutmix(torch.zeros(2, 3, 8, 8), torch.tensor([0, 1]), beta=1.0, generator=g)
    >>> 0.0 <= targets.weight_a <= 1.0
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from wsolbench.nn.methods.base import MixedTargets, WSOLMethod, numpy_rng
from wsolbench.nn.methods.registry import register_method


@dataclass(frozen=True)
class CutMixDraws:
    """The random draws of one CutMix batch.

    Attributes:
        lam: the Beta draw (sets the box side).
        perm: (B,) the image each box comes from.
        row_centre: the box centre's row (uniform over ``range(H)``).
        col_centre: the box centre's column (uniform over ``range(W)``).
    """

    lam: float
    perm: torch.Tensor
    row_centre: int
    col_centre: int


def draw_cutmix(batch: int, height: int, width: int, *, beta: float, generator: torch.Generator) -> CutMixDraws:
    """Draw ``lam``, the permutation and the box centre from ``generator`` (in the reference's order)."""
    rng = numpy_rng(generator)
    lam = float(rng.beta(beta, beta))
    perm = torch.randperm(batch, generator=generator)
    return CutMixDraws(lam=lam, perm=perm, row_centre=int(rng.integers(height)), col_centre=int(rng.integers(width)))


def cut_box(height: int, width: int, draws: CutMixDraws) -> tuple[int, int, int, int]:
    """The pasted box ``(x0, y0, x1, y1)`` (x1, y1 exclusive), clipped to the image: sides
    ``int(side * sqrt(1 - lam))`` around the drawn centre, as the reference's ``rand_bbox``."""
    ratio = math.sqrt(1.0 - draws.lam)
    cut_h, cut_w = int(height * ratio), int(width * ratio)
    y0, y1 = min(max(draws.row_centre - cut_h // 2, 0), height), min(max(draws.row_centre + cut_h // 2, 0), height)
    x0, x1 = min(max(draws.col_centre - cut_w // 2, 0), width), min(max(draws.col_centre + cut_w // 2, 0), width)
    return x0, y0, x1, y1


def apply_cutmix(images: torch.Tensor, targets: torch.Tensor, draws: CutMixDraws):
    """Paste the drawn box from the permuted batch into every image.

    Args:
        images: (B, C, H, W) (not modified).
        targets: (B,) class indices or (B, K) multi-hot targets.
        draws: :class:`CutMixDraws`.

    Returns:
        ``(mixed images (B, C, H, W), MixedTargets)``.
    """
    _, _, h, w = images.shape
    perm = draws.perm.to(images.device)
    x0, y0, x1, y1 = cut_box(h, w, draws)
    mixed = images.clone()
    mixed[:, :, y0:y1, x0:x1] = images[perm, :, y0:y1, x0:x1]
    weight_a = 1.0 - (x1 - x0) * (y1 - y0) / float(h * w)
    return mixed, MixedTargets(a=targets, b=targets[perm.to(targets.device)], weight_a=weight_a)


def cutmix(images: torch.Tensor, targets: torch.Tensor, *, beta: float, generator: torch.Generator):
    """Paste one random box from a shuffled batch into every image (:func:`draw_cutmix` then
    :func:`apply_cutmix`); returns ``(mixed images, MixedTargets)``."""
    b, _, h, w = images.shape
    return apply_cutmix(images, targets, draw_cutmix(b, h, w, beta=beta, generator=generator))


@register_method("cutmix")
class CutMix(WSOLMethod):
    """CutMix: options ``beta`` (1.0) and ``prob`` (1.0, the share of batches that are mixed)."""

    defaults = {"beta": 1.0, "prob": 1.0}

    def check_options(self) -> None:
        if float(self.options["beta"]) <= 0:
            raise ValueError(f"cutmix: beta must be > 0, got {self.options['beta']}")
        if not 0.0 <= float(self.options["prob"]) <= 1.0:
            raise ValueError(f"cutmix: prob must be in [0, 1], got {self.options['prob']}")

    def draw(self, images: torch.Tensor, *, generator) -> CutMixDraws:
        """The batch's box draws (:func:`draw_cutmix`)."""
        b, _, h, w = images.shape
        return draw_cutmix(b, h, w, beta=float(self.options["beta"]), generator=generator)

    def transform_batch(self, images, labels, *, generator):
        # mixed when the uniform draw is below prob (the reference: cutmix_prob > np.random.rand(1))
        if float(torch.rand((), generator=generator)) >= float(self.options["prob"]):
            return images, labels
        return apply_cutmix(images, labels, self.draw(images, generator=generator))
