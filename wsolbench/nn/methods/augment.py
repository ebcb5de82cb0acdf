"""Standard data augmentation as a WSOL baseline: flips, rotation, translation, random erasing.

The comparison Hide-and-Seek's journal version makes: is hiding patches just more augmentation?
Applied per image at training time, on top of the dataset's random crop and horizontal flip:

* ``vflip``: probability of a vertical flip (0); ``hflip``: of an extra horizontal flip (0; the
  training crops are already flipped with the recipe's ``train_flip`` probability, 0.5 by default);
* ``rotate``: maximum rotation in degrees (uniform in [-rotate, rotate]);
* ``translate``: maximum shift as a fraction of the image side, in x and y independently;
  pixels moved in from outside take the dataset mean (0 after normalisation);
* ``erasing``: probability of random erasing (Zhong et al., AAAI 2020): one rectangle of
  ``erasing_area`` (fraction of the image, uniform in [0.02, 0.4]) and aspect ratio log-uniform in
  [0.3, 1/0.3], filled with normal noise (``erasing_fill = "random"``) or the mean (``"mean"``).

Example:
    >>> g = torch.Generator().manual_seed(0)
    >>> out = erase_random(torch.ones(2, 3, 16, 16), prob=1.0, area=(0.1, 0.1), generator=g, fill="mean")
    >>> bool((out == 0).any())
    True
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from wsolbench.nn.methods.base import WSOLMethod, option_list
from wsolbench.nn.methods.has import fill_values
from wsolbench.nn.methods.registry import register_method

ERASING_FILLS = ("random", "mean")


def _uniform(n: int, low: float, high: float, generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def random_affine(images: torch.Tensor, *, rotate: float, translate: float, generator,
                  mean: torch.Tensor | None = None) -> torch.Tensor:
    """Rotate each image by U(-rotate, rotate) degrees about its centre and shift it by up to
    ``translate`` x its side; uncovered pixels take ``mean`` ((1, C, 1, 1), the dataset mean in the
    network input; 0 by default). Bilinear sampling."""
    b = images.shape[0]
    angle = torch.deg2rad(_uniform(b, -rotate, rotate, generator))
    shift = _uniform(2 * b, -translate, translate, generator).view(b, 2) * 2.0  # normalised coords span 2
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(images), list(images.shape), align_corners=False)
    background = 0.0 if mean is None else mean.to(images)  # sampled as 0 outside, then shifted back
    moved = F.grid_sample(images - background, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return moved + background


def flip_random(images: torch.Tensor, *, prob: float, dim: int, generator) -> torch.Tensor:
    """Flip each image along ``dim`` (-1: horizontal, -2: vertical) with probability ``prob``."""
    chosen = (torch.rand(images.shape[0], generator=generator) < prob).to(images.device)
    return torch.where(chosen.view(-1, 1, 1, 1), images.flip(dim), images)


def _erase_box(h: int, w: int, area: tuple[float, float], ratio: tuple[float, float], generator):
    for _ in range(10):
        target = float(_uniform(1, area[0], area[1], generator)) * h * w
        aspect = math.exp(float(_uniform(1, math.log(ratio[0]), math.log(ratio[1]), generator)))
        eh, ew = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < eh < h and 0 < ew < w:
            y = int(torch.randint(0, h - eh + 1, (1,), generator=generator))
            x = int(torch.randint(0, w - ew + 1, (1,), generator=generator))
            return y, x, eh, ew
    return None


def erase_random(images: torch.Tensor, *, prob: float, generator, area=(0.02, 0.4), ratio=(0.3, 1 / 0.3),
                 fill: str = "random", mean: torch.Tensor | None = None) -> torch.Tensor:
    """Random erasing: with probability ``prob`` per image, one rectangle is replaced by noise or the
    mean (``mean`` (1, C, 1, 1) in the network input; 0 by default)."""
    out = images.clone()
    _, c, h, w = images.shape
    for i in range(images.shape[0]):
        if float(torch.rand((), generator=generator)) >= prob:
            continue
        box = _erase_box(h, w, area, ratio, generator)
        if box is None:
            continue
        y, x, eh, ew = box
        if fill == "random":
            value = torch.randn(c, eh, ew, generator=generator)
        else:
            value = torch.zeros(c, eh, ew) if mean is None else mean[0].expand(c, eh, ew)
        out[i, :, y:y + eh, x:x + ew] = value.to(out)
    return out


@register_method("augment")
class Augment(WSOLMethod):
    """Flip / rotate / translate / random-erasing augmentation; options in the module docstring."""

    defaults = {"hflip": 0.0, "vflip": 0.0, "rotate": 15.0, "translate": 0.1, "erasing": 0.0,
                "erasing_area": [0.02, 0.4], "erasing_fill": "random"}

    def check_options(self) -> None:
        o = self.options
        for key in ("hflip", "vflip", "erasing", "translate"):
            if not 0.0 <= float(o[key]) <= 1.0:
                raise ValueError(f"augment: {key} must be in [0, 1], got {o[key]}")
        if not 0.0 <= float(o["rotate"]) <= 180.0:
            raise ValueError(f"augment: rotate must be in [0, 180] degrees, got {o['rotate']}")
        area = option_list("erasing_area", o["erasing_area"], kind=float)
        if len(area) != 2 or not 0.0 < area[0] <= area[1] < 1.0:
            raise ValueError(f"augment: erasing_area must be [min, max] with 0 < min <= max < 1, got {area}")
        if o["erasing_fill"] not in ERASING_FILLS:
            raise ValueError(f"augment: erasing_fill must be one of {ERASING_FILLS}, got {o['erasing_fill']!r}")

    def transform_batch(self, images, labels, *, generator):
        o = self.options
        if float(o["hflip"]) > 0:
            images = flip_random(images, prob=float(o["hflip"]), dim=-1, generator=generator)
        if float(o["vflip"]) > 0:
            images = flip_random(images, prob=float(o["vflip"]), dim=-2, generator=generator)
        if float(o["rotate"]) > 0 or float(o["translate"]) > 0:
            images = random_affine(images, rotate=float(o["rotate"]), translate=float(o["translate"]),
                                   generator=generator, mean=fill_values("mean", norm=self.input_norm))
        if float(o["erasing"]) > 0:
            images = erase_random(images, prob=float(o["erasing"]), generator=generator,
                                  area=tuple(option_list("erasing_area", o["erasing_area"], kind=float)),
                                  fill=o["erasing_fill"], mean=fill_values("mean", norm=self.input_norm))
        return images, labels
