"""Hide-and-Seek (Singh & Lee, ICCV 2017; Singh et al., arXiv 1811.02545).

At training time each image is divided into a grid of square patches and every patch is hidden
with probability ``drop_rate``. Hidden pixels take the dataset mean, which is 0 after the mean/std
(or mean-only) normalisation, so that a convolution sees at test time (nothing hidden) the
activation it expected on average during training. Nothing is hidden at test time.

Three ways to choose the patch side (one of them per run):

* ``grid_size`` (the reference's parametrisation, the default): the patch side in pixels of the
  network input, fixed for every image; wsolevaluation's ``--has_grid_size`` (default 4) and
  ``--has_drop_rate`` (default 0.5) are ``grid_size`` and ``drop_rate``. A patch is hidden when
  its uniform draw is ``<= drop_rate``, the draws taken image by image, row by row, as
  wsolevaluation's ``wsol/method/has.py`` takes them (it writes ``x`` for the rows); ``0`` hides
  nothing.
* ``patch_sizes``: candidate sides for a ``reference_size``-pixel input (224), scaled to the
  actual input (``round(s * side / 224)``; ``reference_size = 0`` takes them as pixels); one is
  drawn per image and per step, ``0`` = no hiding. The paper's settings are ``16``, ``32``,
  ``44``, ``56`` (fixed) and ``[0, 16, 32, 44, 56]`` ("mixed").
* ``grids``: the journal version's number of patches per image (16, 36 or 64: a 4x4, 6x6 or
  8x8 grid); a list draws one per image, 0 = no hiding; given, it overrides ``patch_sizes``.

Mapping: ``grid_size = g, drop_rate = p`` equals ``patch_sizes = [g], reference_size = 0,
hide_prob = p`` up to the comparison of the draw (``<=`` vs ``<``, which differ with probability
0). ``hide_prob`` is the older name of ``drop_rate`` (both accepted; they must agree). Giving
``patch_sizes`` or ``grids`` selects that mode; giving one of them together with ``grid_size``
is an error. ``fill = "zero"`` hides with black pixels instead of the mean (the ablation
"without the mean").

The reference loops over ``range(0, width, grid_size)`` for the rows and clips both ends with
the height; on the square crops training uses (``image_size``), that is the grid here.

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


def grid_cells(height: int, width: int, grid_size: int) -> tuple[int, int]:
    """Rows and columns of ``grid_size`` patches covering a ``height x width`` image (0, 0 for size 0)."""
    if grid_size <= 0:
        return 0, 0
    return math.ceil(height / grid_size), math.ceil(width / grid_size)


def hide_grid(images: torch.Tensor, *, grid_size: int, drop_rate: float, uniforms: torch.Tensor,
              fill: str = "mean", norm: InputNorm = InputNorm()) -> torch.Tensor:
    """The reference's Hide-and-Seek on a batch, given its uniform draws.

    Args:
        images: (B, C, H, W) normalised images (not modified).
        grid_size: patch side in pixels (0 = nothing hidden).
        drop_rate: a patch is hidden when its draw is ``<= drop_rate``.
        uniforms: (B, rows, cols) draws in [0, 1) (:func:`grid_cells`), row-major per image.
        fill: ``mean`` (0 after mean/std normalisation, the reference's fill) or ``zero`` (black).
        norm: the images' input normalisation (the fill values depend on it).

    Returns:
        (B, C, H, W) images with the hidden patches filled.
    """
    b, _, h, w = images.shape
    if grid_size <= 0:
        return images
    cells = (uniforms <= drop_rate).to(images.device)
    mask = cells.repeat_interleave(grid_size, 1).repeat_interleave(grid_size, 2)[:, :h, :w]
    value = fill_values(fill, device=images.device, norm=norm).to(images.dtype)
    return torch.where(mask[:, None], value, images)


_SIZE_OPTIONS = ("grid_size", "patch_sizes", "grids")


@register_method("has")
class HideAndSeek(WSOLMethod):
    """Hide-and-Seek: random grid patches hidden at training time; options in the module docstring."""

    defaults = {"grid_size": 4, "drop_rate": 0.5, "patch_sizes": [], "grids": [], "hide_prob": 0.5,
                "reference_size": 224, "fill": "mean"}
    exclusive_options = (_SIZE_OPTIONS, ("drop_rate", "hide_prob"))

    @property
    def mode(self) -> str:
        """``grid_size`` (the reference's), ``patch_sizes`` or ``grids``: how patch sides are chosen
        (``grids`` given overrides ``patch_sizes``, as it always did)."""
        for key in ("grids", "patch_sizes"):
            if key in self.given and option_list(key, self.options[key]):
                return key
        return "grid_size"

    @property
    def drop_rate(self) -> float:
        """The probability that a patch is hidden (``drop_rate``, or its older name ``hide_prob``)."""
        key = "hide_prob" if "hide_prob" in self.given and "drop_rate" not in self.given else "drop_rate"
        return float(self.options[key])

    def check_options(self) -> None:
        o = self.options
        sizes, grids = option_list("patch_sizes", o["patch_sizes"]), option_list("grids", o["grids"])
        chosen = [k for k in _SIZE_OPTIONS if k in self.given and option_list(k, o[k])]
        if "grid_size" in chosen and len(chosen) > 1:
            raise ValueError(f"has: give one of grid_size (the reference's patch side in pixels), patch_sizes or "
                             f"grids, not {' and '.join(chosen)}")
        if isinstance(o["grid_size"], (list, tuple)) or option_list("grid_size", o["grid_size"])[0] < 0:
            raise ValueError(f"has: grid_size must be one whole number of pixels >= 0 (0 = no hiding), "
                             f"got {o['grid_size']!r}")
        if any(s < 0 for s in sizes):
            raise ValueError(f"has: patch_sizes must be >= 0 pixels (0 = no hiding), got {sizes}")
        if any(g < 0 or math.isqrt(g) ** 2 != g for g in grids):
            raise ValueError(f"has: grids are numbers of patches per image and must be squares (16, 36, 64), "
                             f"got {grids}")
        for key in ("drop_rate", "hide_prob"):
            if not 0.0 <= float(o[key]) <= 1.0:
                raise ValueError(f"has: {key} must be in [0, 1], got {o[key]}")
        if {"drop_rate", "hide_prob"} <= self.given and float(o["drop_rate"]) != float(o["hide_prob"]):
            raise ValueError(f"has: drop_rate ({o['drop_rate']}) and hide_prob ({o['hide_prob']}) are the same "
                             "option; give one")
        if int(o["reference_size"]) < 0:
            raise ValueError(f"has: reference_size must be >= 0 (0 = sizes in pixels), got {o['reference_size']}")
        if o["fill"] not in FILLS:
            raise ValueError(f"has: fill must be one of {FILLS}, got {o['fill']!r}")

    def candidate_sizes(self, side: int) -> list[int]:
        """Patch sizes (pixels) at a ``side``-pixel input, one drawn per image."""
        if self.mode == "grid_size":
            return [int(self.options["grid_size"])]
        if self.mode == "grids":
            return [grid_patch_size(side, g) for g in option_list("grids", self.options["grids"])]
        ref = int(self.options["reference_size"])
        sizes = option_list("patch_sizes", self.options["patch_sizes"])
        return [s if ref == 0 or s == 0 else max(1, round(s * side / ref)) for s in sizes]

    def draw_uniforms(self, batch: int, rows: int, cols: int, *, generator) -> torch.Tensor:
        """(B, rows, cols) uniform draws of the reference mode (one per patch, row-major per image)."""
        return torch.rand(batch, rows, cols, generator=generator)

    def transform_batch(self, images, labels, *, generator):
        if self.mode == "grid_size":
            size = int(self.options["grid_size"])
            rows, cols = grid_cells(images.shape[-2], images.shape[-1], size)
            uniforms = self.draw_uniforms(images.shape[0], rows, cols, generator=generator)
            return hide_grid(images, grid_size=size, drop_rate=self.drop_rate, uniforms=uniforms,
                             fill=self.options["fill"], norm=self.input_norm), labels
        candidates = self.candidate_sizes(images.shape[-1])
        picks = torch.randint(0, len(candidates), (images.shape[0],), generator=generator).tolist()
        hidden, _ = hide_patches(images, patch_size=[candidates[i] for i in picks], hide_prob=self.drop_rate,
                                 generator=generator, fill=self.options["fill"], norm=self.input_norm)
        return hidden, labels
