"""ADL, attention-based dropout layer (Choe & Shim, CVPR 2019), at wsolevaluation's positions.

At training time, an ADL layer computes a self-attention map (the channel mean of its input) and
multiplies the input either by a *drop mask* (0 where the attention reaches ``threshold`` times
its per-image maximum: the most discriminative region is erased) or by an *importance map*
(sigmoid of the attention), the drop mask with probability ``drop_rate``; one draw per forward
pass (per batch), as in the reference code, which takes the drop mask when
``floor(u + drop_rate) == 1`` for a float32 uniform ``u`` (so equal draws make equal choices). At
evaluation time it is the identity.

Defaults: ``drop_rate`` 0.75 and ``threshold`` 0.9 (wsolevaluation's defaults). Positions
(``positions`` overrides them with insertion points, see ``backbone.insertion_points()``):

* VGG16 (wsolevaluation ``adl`` config): after pool3, after conv4_3 + ReLU (before pool4, which
  the 14x14 variant keeps) and after conv5_3 + ReLU (before conv6): ``features.16``,
  ``features.22``, ``features.29`` (``features.28`` with ``large_feature_map``).
* ResNet50 / SE-ResNet-50 (wsolevaluation ``_ADL_POSITION``): after the first block of ``layer3``
  and after blocks 0 and 2 of ``layer4``: ``layer3.0``, ``layer4.0``, ``layer4.2``.
* InceptionV3 (wsolevaluation ``InceptionAdl``): after ``Mixed_5d``, ``Mixed_6e`` and
  ``SPG_A3_2b``; that variant has no dropout before the new convolutions, so ADL removes it here too.
* Backbones wsolevaluation has no ADL for, by analogy (wsolbench's choice): AlexNet after pool2,
  conv4 and conv5 (``features.5``, ``features.9``, ``features.11``); GoogLeNet after
  ``maxpool3``, ``inception4e`` and ``conv6``; PreResNet-18 after ``layer3.0``, ``layer4.0``,
  ``layer4.1``; the small CNN after ``stage2``, ``stage3.0`` and ``stage3``; AlexNet-Small as
  AlexNet; the fire-module network after ``stage1`` (its second pool), the fourth fire module of
  ``stage2`` (``stage2.3``) and ``stage2``.
"""

from __future__ import annotations

import torch
from torch import nn

from wsolbench.nn.methods.base import WSOLMethod, option_list
from wsolbench.nn.methods.registry import register_method


class AttentionDropout(nn.Module):
    """The ADL layer; identity in eval mode.

    Args:
        drop_rate: probability of applying the drop mask (else the importance map).
        threshold: drop where the attention is >= ``threshold`` x its per-image maximum.

    Attributes:
        generator: the random stream of the next forward pass (set by the method every step);
            ``None`` uses torch's global generator.
    """

    def __init__(self, drop_rate: float = 0.75, threshold: float = 0.9):
        super().__init__()
        self.drop_rate = float(drop_rate)
        self.threshold = float(threshold)
        self.generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        attention = x.mean(1, keepdim=True)
        draw = torch.rand((), dtype=torch.float32, generator=self.generator)
        if float(torch.floor(draw + self.drop_rate)) == 1.0:  # wsolevaluation's ADL._select_map
            return x * self.drop_mask(attention)
        return x * torch.sigmoid(attention)

    def drop_mask(self, attention: torch.Tensor) -> torch.Tensor:
        """(B, 1, h, w) float mask: 0 where ``attention >= threshold * max``, else 1."""
        peak = attention.flatten(1).amax(1).view(-1, 1, 1, 1)
        return (attention < self.threshold * peak).to(attention.dtype)

    def extra_repr(self) -> str:
        return f"drop_rate={self.drop_rate}, threshold={self.threshold}"


def _relu_after_conv(features: nn.Sequential, k: int) -> int:
    """Index of the module right after the k-th (1-based) convolution of a VGG ``features``."""
    convs = [i for i, m in enumerate(features) if isinstance(m, nn.Conv2d)]
    return convs[k - 1] + 1


def _vgg_positions(model) -> list[str]:
    features = model._modules["features"]
    pools = [i for i, m in enumerate(features) if isinstance(m, nn.MaxPool2d)]
    return [f"features.{pools[2]}", f"features.{_relu_after_conv(features, 10)}",
            f"features.{_relu_after_conv(features, 13)}"]


_POSITIONS = {
    "ResNetGAP": ["layer3.0", "layer4.0", "layer4.2"],
    "SEResNetGAP": ["layer3.0", "layer4.0", "layer4.2"],
    "InceptionV3GAP": ["Mixed_5d", "Mixed_6e", "SPG_A3_2b"],
    "AlexNetGAP": ["features.5", "features.9", "features.11"],
    "GoogLeNetGAP": ["maxpool3", "inception4e", "conv6"],
    "PreResNetGAP": ["layer3.0", "layer4.0", "layer4.1"],
    "SmallCNN": ["stage2", "stage3.0", "stage3"],
    "AlexNetSmallGAP": ["features.5", "features.9", "features.11"],
    "SqueezeNetGAP": ["stage1", "stage2.3", "stage2"],
}


def default_positions(model) -> list[str]:
    """ADL insertion points of a backbone (see the module docstring)."""
    name = type(model).__name__
    if name == "VGGGAP":
        return _vgg_positions(model)
    if name not in _POSITIONS:
        raise ValueError(f"adl: no default positions for {name}; give them with the positions option "
                         f"(insertion points: {', '.join(model.insertion_points())})")
    return list(_POSITIONS[name])


def _remove_inception_dropout(model) -> None:
    # wsolevaluation's InceptionAdl has no dropout before SPG_A3_1b / SPG_A3_2b / SPG_A4.
    model.dropout_a = nn.Identity()
    model.dropout_b = nn.Identity()
    model.head_dropout = 0.0


@register_method("adl")
class ADL(WSOLMethod):
    """Attention-based dropout layers; options ``drop_rate``, ``threshold``, ``positions``."""

    defaults = {"drop_rate": 0.75, "threshold": 0.9, "positions": []}

    def check_options(self) -> None:
        for key in ("drop_rate", "threshold"):
            if not 0.0 <= float(self.options[key]) <= 1.0:
                raise ValueError(f"adl: {key} must be in [0, 1], got {self.options[key]}")
        option_list("positions", self.options["positions"], kind=str)

    def prepare_model(self, model):
        positions = option_list("positions", self.options["positions"], kind=str) or default_positions(model)
        for point in positions:
            model.insert_after(point, AttentionDropout(self.options["drop_rate"], self.options["threshold"]))
        if type(model).__name__ == "InceptionV3GAP" and not self.options["positions"]:
            _remove_inception_dropout(model)
        return model

    def training_step(self, model, images, labels, *, generator):
        for layer in _adl_layers(model):
            layer.generator = generator
        return super().training_step(model, images, labels, generator=generator)


def _adl_layers(model) -> list[AttentionDropout]:
    return [m for m in model.modules() if isinstance(m, AttentionDropout)]
