"""Hide-and-Seek (Singh & Lee, ICCV 2017; Singh et al., arXiv 1811.02545).

At training time each image is divided into a grid of patches and every patch is hidden with
probability ``hide_prob`` (0.5). Hidden pixels take the dataset mean, which is 0 after the
mean/std (or mean-only) normalisation, so that a convolution sees at test time (nothing hidden) the
activation it expected on average during training. Nothing is hidden at test time.

Patch size: ``patch_sizes`` lists the candidate sizes; one is drawn per image and per step, and
``0`` means "no hiding". The published settings at 224 px inputs are ``16``, ``32``, ``44``, ``56``
(fixed) and ``[0, 16, 32, 44, 56]`` ("mixed", the default). The sizes are given for a
``reference_size`` input side (224) and scaled to the actual input (``round(s * side / 224)``),
so ``patch_sizes = 32`` hides the same fraction of a 64 px synthetic image as of a 224 px photo;
``reference_size = 0`` takes the sizes as pixels. The journal version's parametrisation by the
number of patches per image (16, 36 or 64: a 4x4, 6x6 or 8x8 grid) is ``grids`` (overrides
``patch_sizes`` when given; a list draws one per image, 0 = no hiding).

``fill = "zero"`` hides with black pixels instead of the mean (the ablation "without the mean").

Example:
    >>> g = torch.Generator().manual_seed(0)
    >>> x, hidden = hide_patches(torch.ones(1, 3, 8, 8), patch_size=4, hide_prob=1.0, generator=g)
    >>> float(x.abs().sum()), float(hidden.mean())
    (0.0, 1.0)
"""

from __future__ import annotations

import math

import torch

from wsolbench.nn.data import IMAGENET_MEAN, InputNorm
from wsolbench.nn.methods.base import WSOLMethod, option_list
from wsolbench.nn.methods.registry import register_method

FILLS = ("mean", "zero")


def fill_values(fill: str, *, device=None, norm: InputNorm = InputNorm()) -> torch.Tensor:
    """(1, 3, 1, 1) value of a hidden pixel in the network input (``norm``): the dataset mean (the
    ImageNet mean; 0 unless ``norm`` is ``none``) or black."""
    return norm.value_of(IMAGENET_MEAN if fill == "mean" else (0.0, 0.0, 0.0), device=device)


def patch_mask(height: int, width: int, patch_size: int, hide_prob: float, *,
               generator: torch.Generator) -> torch.Tensor:
    """(H, W) bool mask of hidden pixels: the grid of ``patch_size`` patches from the top-left
    corner (the last row/column of patches may be cut by the border), each hidden with ``hide_prob``."""
    if patch_size <= 0:
        return torch.zeros(height, width, dtype=torch.bool)
    rows, cols = math.ceil(height / patch_size), math.ceil(width / patch_size)
    cells = torch.rand(rows, cols, generator=generator) < hide_prob
    full = cells.repeat_interleave(patch_size, 0).repeat_interleave(patch_size, 1)
    return full[:height, :width]


def hide_patches(images: torch.Tensor, *, patch_size, hide_prob: float = 0.5, generator: torch.Generator,
                 fill: str = "mean", norm: InputNorm = InputNorm()) -> tuple[torch.Tensor, torch.Tensor]:
    """Hide random grid patches of every image.

    Args:
        images: (B, C, H, W) normalised images (not modified).
        patch_size: patch side in pixels, one int for all images or a sequence of B ints (0 = none).
        hide_prob: probability that a patch is hidden.
        generator: the random stream.
        fill: ``mean`` (0 in the normalised input) or ``zero`` (black pixels).
        norm: the images' input normalisation (the fill values depend on it).

    Returns:
        ``(hidden images (B, C, H, W), mask (B, H, W) bool, True where hidden)``.
    """
    b, _, h, w = images.shape
    sizes = [int(patch_size)] * b if isinstance(patch_size, (int, float)) else [int(s) for s in patch_size]
    mask = torch.stack([patch_mask(h, w, s, hide_prob, generator=generator) for s in sizes]).to(images.device)
    value = fill_values(fill, device=images.device, norm=norm).to(images.dtype)
    return torch.where(mask[:, None], value, images), mask


def grid_patch_size(side: int, patches: int) -> int:
    """Patch side for ``patches`` patches per image (a square number) on a ``side``-pixel image."""
    if patches <= 0:
        return 0
    return math.ceil(side / math.isqrt(patches))


@register_method("has")
class HideAndSeek(WSOLMethod):
    """Hide-and-Seek: random grid patches hidden at training time; options in the module docstring."""

    defaults = {"patch_sizes": [0, 16, 32, 44, 56], "grids": [], "hide_prob": 0.5, "reference_size": 224,
                "fill": "mean"}

    def check_options(self) -> None:
        o = self.options
        sizes, grids = option_list("patch_sizes", o["patch_sizes"]), option_list("grids", o["grids"])
        if not sizes and not grids:
            raise ValueError("has: give patch_sizes or grids")
        if any(s < 0 for s in sizes):
            raise ValueError(f"has: patch_sizes must be >= 0 pixels (0 = no hiding), got {sizes}")
        if any(g < 0 or math.isqrt(g) ** 2 != g for g in grids):
            raise ValueError(f"has: grids are numbers of patches per image and must be squares (16, 36, 64), "
                             f"got {grids}")
        if not 0.0 <= float(o["hide_prob"]) <= 1.0:
            raise ValueError(f"has: hide_prob must be in [0, 1], got {o['hide_prob']}")
        if int(o["reference_size"]) < 0:
            raise ValueError(f"has: reference_size must be >= 0 (0 = sizes in pixels), got {o['reference_size']}")
        if o["fill"] not in FILLS:
            raise ValueError(f"has: fill must be one of {FILLS}, got {o['fill']!r}")

    def candidate_sizes(self, side: int) -> list[int]:
        """Patch sizes (pixels) at a ``side``-pixel input, one drawn per image."""
        grids = option_list("grids", self.options["grids"])
        if grids:
            return [grid_patch_size(side, g) for g in grids]
        ref = int(self.options["reference_size"])
        sizes = option_list("patch_sizes", self.options["patch_sizes"])
        return [s if ref == 0 or s == 0 else max(1, round(s * side / ref)) for s in sizes]

    def transform_batch(self, images, labels, *, generator):
        candidates = self.candidate_sizes(images.shape[-1])
        picks = torch.randint(0, len(candidates), (images.shape[0],), generator=generator).tolist()
        hidden, _ = hide_patches(images, patch_size=[candidates[i] for i in picks],
                                 hide_prob=float(self.options["hide_prob"]), generator=generator,
                                 fill=self.options["fill"], norm=self.input_norm)
        return hidden, labels
