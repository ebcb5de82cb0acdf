"""The few-shot learning (FSL) baseline of Choe et al. (CVPR 2020): the supervision the protocol keeps
for model selection (``train-fullsup``, wsolevaluation's ``val``) used for training instead.

The paper reports that this baseline beats every WSOL method, but its code was never released
(wsolevaluation issues #43, #48); what follows is wsolbench's choice. The backbone gets a
class-agnostic foreground head: a 1x1 convolution from the last feature maps (those the CAM is
computed from) to one logit per position. Training minimises

    cls_weight * CE(class logits, label) + seg_weight * BCE(foreground logits, foreground share)

where the foreground share of a feature cell is the fraction of its valid input pixels inside the
object (masks where the dataset has them, else the boxes filled; ignore pixels left out, see
:mod:`wsolbench.nn.pixel_targets`), and the BCE is averaged with each cell weighted by its valid
fraction. The score map of an image is its foreground logit map (any class: the map is
class-agnostic); the classifier still predicts the class, for top-1 localisation.

The recipes (``fsl-*.toml``) train on ``val`` and evaluate on ``test``; ``wsolbench tune fsl``
searches on a held-out part of ``val`` (``search_spaces/fsl.toml``).

Example:
    >>> logits = torch.zeros(1, 1, 2, 2)
    >>> targets = torch.ones(1, 2, 4, 4)             # all foreground, all valid
    >>> round(float(foreground_loss(logits, targets)), 4)   # BCE(0 logit, 1) = log 2
    0.6931
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from wsolbench.errors import WsolbenchError
from wsolbench.nn.methods.base import StepOutput, WSOLMethod, classification_loss
from wsolbench.nn.methods.registry import register_method


class ForegroundHead(nn.Module):
    """A 1x1 convolution to one foreground logit per position, run on the last feature maps.

    It passes the feature maps through unchanged (so the classifier sees what it saw before) and
    keeps its logits (B, 1, h, w) of the last forward pass in ``last``.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, 1, kernel_size=1)
        nn.init.normal_(self.conv.weight, 0.0, 0.01)
        nn.init.zeros_(self.conv.bias)
        self.last: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.last = self.conv(x)
        return x


def foreground_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """BCE of (B, 1, h, w) foreground logits against (B, 2, H, W) targets ``[foreground, valid]``.

    Each feature cell's target is the foreground share of its valid pixels (area average), its weight
    the valid share; cells with no valid pixel do not count.
    """
    h, w = logits.shape[-2:]
    fg, valid = targets[:, :1].float(), targets[:, 1:2].float()
    valid_share = F.adaptive_avg_pool2d(valid, (h, w))
    fg_share = F.adaptive_avg_pool2d(fg * valid, (h, w)) / valid_share.clamp_min(1e-6)
    per_cell = F.binary_cross_entropy_with_logits(logits.float(), fg_share.clamp(0.0, 1.0), reduction="none")
    return (per_cell * valid_share).sum() / valid_share.sum().clamp_min(1e-6)


def _head(model) -> ForegroundHead:
    inner = getattr(model, "module", model)  # DistributedDataParallel wraps the backbone
    heads = [m for m in inner.modules() if isinstance(m, ForegroundHead)]
    if len(heads) != 1:
        raise WsolbenchError("fsl: the model has no foreground head; it must be built by the fsl method")
    return heads[0]


@register_method("fsl")
class FewShotLearning(WSOLMethod):
    """Fully supervised foreground head + classifier; options ``seg_weight`` (1.0), ``cls_weight`` (1.0)."""

    defaults = {"seg_weight": 1.0, "cls_weight": 1.0}
    #: the trainer passes pixel-level targets to :meth:`training_step`
    pixel_supervision = True

    def check_options(self) -> None:
        for key in ("seg_weight", "cls_weight"):
            if float(self.options[key]) < 0:
                raise ValueError(f"fsl: {key} must be >= 0, got {self.options[key]}")
        if float(self.options["seg_weight"]) == 0:
            raise ValueError("fsl: seg_weight must be > 0 (the foreground head is what makes the maps)")

    def prepare_model(self, model):
        last_stage = model.stages()[-1][0]
        channels = int(model.head_params()[0].shape[1])
        model.insert_after(last_stage, ForegroundHead(channels))
        return model

    def training_step(self, model, images, labels, *, generator, pixel_targets=None):
        if pixel_targets is None:
            raise WsolbenchError("fsl: training needs pixel-level targets (the trainer gives them to methods with "
                                 "pixel_supervision)")
        logits = model(images)
        loss = float(self.options["seg_weight"]) * foreground_loss(_head(model).last, pixel_targets)
        if float(self.options["cls_weight"]):
            loss = loss + float(self.options["cls_weight"]) * classification_loss(logits, labels)
        return StepOutput(loss=loss, logits=logits)

    def cams_and_logits(self, model, images, labels=None):
        logits = model(images)
        return _head(model).last[:, 0].float(), logits
