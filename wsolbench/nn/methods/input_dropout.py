"""Dropout on the input pixels: the Hide-and-Seek paper's comparison with pixel-level hiding.

Every pixel (all channels together) is dropped with probability ``rate`` (0.5) and takes the
``fill`` value: ``mean``, the dataset mean (0 after mean/std normalisation, as Hide-and-Seek
fills its patches), or ``zero``, black pixels (the variant without the mean). ``rescale``
multiplies the kept pixels by ``1 / (1 - rate)`` as standard (inverted) dropout does.
``at_test`` also drops pixels when maps are extracted ("train+test" in the paper; the default,
``false``, is "train only"), with a fixed seed (``test_seed``) so extraction is reproducible.

Example:
    >>> g = torch.Generator().manual_seed(0)
    >>> x = drop_pixels(torch.ones(1, 3, 32, 32), rate=0.5, generator=g)
    >>> 0.3 < float((x[0, 0] == 0).float().mean()) < 0.7
    True
"""

from __future__ import annotations

import torch

from wsolbench.nn.data import InputNorm
from wsolbench.nn.methods.base import WSOLMethod
from wsolbench.nn.methods.has import FILLS, fill_values
from wsolbench.nn.methods.registry import register_method


def drop_pixels(images: torch.Tensor, *, rate: float, generator: torch.Generator, fill: str = "mean",
                rescale: bool = False, norm: InputNorm = InputNorm()) -> torch.Tensor:
    """(B, C, H, W) images with each pixel dropped (all channels) with probability ``rate``; ``norm``
    is the images' input normalisation (the fill values depend on it)."""
    b, _, h, w = images.shape
    dropped = (torch.rand(b, 1, h, w, generator=generator) < rate).to(images.device)
    kept = images / (1.0 - rate) if rescale and rate < 1 else images
    return torch.where(dropped, fill_values(fill, device=images.device, norm=norm).to(images.dtype), kept)


@register_method("input-dropout")
class InputDropout(WSOLMethod):
    """Pixel dropout on the input; options ``rate``, ``fill``, ``rescale``, ``at_test``, ``test_seed``."""

    defaults = {"rate": 0.5, "fill": "mean", "rescale": False, "at_test": False, "test_seed": 0}

    def check_options(self) -> None:
        if not 0.0 <= float(self.options["rate"]) < 1.0:
            raise ValueError(f"input-dropout: rate must be in [0, 1), got {self.options['rate']}")
        if self.options["fill"] not in FILLS:
            raise ValueError(f"input-dropout: fill must be one of {FILLS}, got {self.options['fill']!r}")
        for key in ("rescale", "at_test"):
            if not isinstance(self.options[key], bool):
                raise ValueError(f"input-dropout: {key} must be true or false, got {self.options[key]!r}")
        self._test_generator = torch.Generator().manual_seed(int(self.options["test_seed"]))

    def _drop(self, images, generator):
        return drop_pixels(images, rate=float(self.options["rate"]), generator=generator,
                           fill=self.options["fill"], rescale=self.options["rescale"], norm=self.input_norm)

    def transform_batch(self, images, labels, *, generator):
        return self._drop(images, generator), labels

    def cams_and_logits(self, model, images, labels=None):
        if self.options["at_test"]:
            images = self._drop(images, self._test_generator)
        return model.cams_and_logits(images, labels)
