"""SPG (Zhang et al., "Self-produced Guidance for Weakly-supervised Object Localization", ECCV
2018), as wsolevaluation trains it (``wsol/method/spg.py``).

The model (:mod:`wsolbench.nn.backbones.spg`) returns the logits, three one-channel maps
(``logits_b1``, ``logits_b2``, ``logits_c``) and two guidance maps at 224 x 224: ``attention`` (the
label's class map, normalised) and ``fused_attention`` (the mean sigmoid of the two B maps). Each
guidance map becomes a *mask*: 1 (foreground) where it exceeds a high threshold (if fewer than 30
pixels of an image do, 0.7 x that image's maximum is used instead), 0 (background) where it is
below a low threshold, ignored elsewhere. The loss adds to the cross-entropy three binary
cross-entropies (with logits, over the mask's non-ignored pixels of the batch) of upsampled maps:

* ``logits_b2`` against the mask of ``attention`` with ``spg_threshold_1h`` / ``_1l`` (0.7 / 0.01);
* ``logits_b1`` against the mask of ``sigmoid(logits_b2)`` with ``_2h`` / ``_2l`` (0.5 / 0.05);
* ``logits_c`` against the mask of ``fused_attention`` with ``_3h`` / ``_3l`` (0.7 / 0.1).

Option names and defaults are the reference's (``--spg_threshold_1h`` ...). The maps are the
class map ``SPG_A4`` of the label. SPG trains on single-label data.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from wsolbench.nn.backbones.spg import upsample
from wsolbench.nn.methods.acol import single_labels
from wsolbench.nn.methods.base import StepOutput, WSOLMethod
from wsolbench.nn.methods.registry import register_method

IGNORE = 255.0
MIN_FOREGROUND = 30  # pixels; fewer above the high threshold -> 0.7 x the image's maximum
THRESHOLDS = ("spg_threshold_1h", "spg_threshold_1l", "spg_threshold_2h", "spg_threshold_2l", "spg_threshold_3h",
              "spg_threshold_3l")


def guidance_mask(attention: torch.Tensor, high: float, low: float) -> torch.Tensor:
    """(B, 1, S, S) mask of a (B, 1, S, S) guidance map: 1 above ``high`` (or above 0.7 x the
    image's maximum when fewer than 30 pixels are above ``high``), then 0 below ``low``, 255
    (ignored) elsewhere; the reference's ``get_mask``."""
    attention = attention.detach()
    above = attention > high
    few = above.flatten(1).sum(1) < MIN_FOREGROUND
    fallback = attention > attention.flatten(1).max(1).values.view(-1, 1, 1, 1) * 0.7
    foreground = torch.where(few.view(-1, 1, 1, 1), fallback, above)
    mask = torch.full_like(attention, IGNORE)
    mask = torch.where(foreground, torch.ones_like(mask), mask)
    return torch.where(attention < low, torch.zeros_like(mask), mask)


def guidance_loss(logits: torch.Tensor, attention: torch.Tensor, high: float, low: float) -> torch.Tensor:
    """Binary cross-entropy (with logits, mean) of the one-channel ``logits``, upsampled to the
    guidance map's size (224 in the reference), against the mask of ``attention``, over the pixels
    the mask does not ignore."""
    mask = guidance_mask(attention, high, low).flatten()
    keep = mask < IGNORE
    return F.binary_cross_entropy_with_logits(upsample(logits, attention.shape[-1]).float().flatten()[keep],
                                              mask[keep])


@register_method("spg")
class SPG(WSOLMethod):
    """Self-produced guidance; options ``spg_threshold_1h`` .. ``spg_threshold_3l`` (the reference's)."""

    defaults = {"spg_threshold_1h": 0.7, "spg_threshold_1l": 0.01, "spg_threshold_2h": 0.5,
                "spg_threshold_2l": 0.05, "spg_threshold_3h": 0.7, "spg_threshold_3l": 0.1}
    architecture = "spg"
    keeps_imagenet_head = False

    def check_options(self) -> None:
        for key in THRESHOLDS:
            if not 0.0 <= float(self.options[key]) <= 1.0:
                raise ValueError(f"spg: {key} must be in [0, 1], got {self.options[key]}")

    def thresholds(self) -> tuple[tuple[float, float], ...]:
        """``((1h, 1l), (2h, 2l), (3h, 3l))`` as the reference's ``args.spg_thresholds``."""
        values = [float(self.options[k]) for k in THRESHOLDS]
        return tuple(zip(values[0::2], values[1::2]))

    def training_step(self, model, images, labels, *, generator):
        labels = single_labels(labels, "spg")
        out = model(images, labels, outputs=True)
        (h1, l1), (h2, l2), (h3, l3) = self.thresholds()
        b2i = torch.sigmoid(upsample(out["logits_b2"].detach(), out["attention"].shape[-1]))
        loss = (F.cross_entropy(out["logits"].float(), labels)
                + guidance_loss(out["logits_b2"], out["attention"], h1, l1)
                + guidance_loss(out["logits_b1"], b2i, h2, l2)
                + guidance_loss(out["logits_c"], out["fused_attention"], h3, l3))
        return StepOutput(loss=loss, logits=out["logits"])
