"""A deeper SqueezeNet-like network of fire modules with a GAP head (``squeezenet-gap``).

The Hide-and-Seek reproduction on Tiny ImageNet trains a fire-module network of about 2.9M
parameters ("CusNet") from scratch on the 64x64 images; its layers are not published. This one is
wsolbench's design with that parameter budget: a fire module (Iandola et al. 2016) squeezes with a
1x1 convolution and expands with parallel 1x1 and 3x3 convolutions, concatenated; every
convolution is followed by batch norm and ReLU (as in the reproduction's other networks).

Layout at a 64x64 input: a 3x3 stem conv (64) -> 3x3/2 max pool (32x32) -> two fire modules (256)
-> 3x3/2 max pool (16x16) -> six fire modules (512, 512, 768, 768, 896, 896) -> GAP -> linear
``fc`` without bias: 16x16 maps (stride 4), 2.88M parameters with 200 classes (batch-norm affine parameters included).
"""

from __future__ import annotations

import torch
from torch import nn

from wsolbench.nn.backbones.base import WSOLBackbone
from wsolbench.nn.backbones.registry import register_backbone
from wsolbench.nn.layers import ConvBNReLU, init_new_layer

#: (squeeze, expand per branch) of the fire modules after the stem; the output is 2 x expand.
FIRES_32 = ((32, 128), (32, 128))
FIRES_16 = ((64, 256), (64, 256), (96, 384), (96, 384), (128, 448), (128, 448))


class Fire(nn.Module):
    """``squeeze`` 1x1 -> (``expand1x1`` 1x1 | ``expand3x3`` 3x3) concatenated; conv-BN-ReLU each."""

    def __init__(self, in_channels: int, squeeze: int, expand: int):
        super().__init__()
        self.squeeze = ConvBNReLU(in_channels, squeeze, kernel_size=1)
        self.expand1x1 = ConvBNReLU(squeeze, expand, kernel_size=1)
        self.expand3x3 = ConvBNReLU(squeeze, expand, kernel_size=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.squeeze(x)
        return torch.cat([self.expand1x1(s), self.expand3x3(s)], 1)


def _fires(in_channels: int, config) -> tuple[nn.Sequential, int]:
    modules = []
    for squeeze, expand in config:
        modules.append(Fire(in_channels, squeeze, expand))
        in_channels = 2 * expand
    return nn.Sequential(*modules), in_channels


class SqueezeNetGAP(WSOLBackbone):
    """Fire-module network with GAP; see the module docstring."""

    new_prefixes = ("stem.", "stage1.", "stage2.", "fc.")
    classifier_prefixes = ("fc.",)

    def __init__(self, *, num_classes: int, pool: str = "gap", fc_bias: bool = False):
        super().__init__(num_classes=num_classes, pool=pool)
        self.stem = nn.Sequential(ConvBNReLU(3, 64, kernel_size=3), nn.MaxPool2d(3, stride=2, padding=1))
        self.stage1, ch = _fires(64, FIRES_32)
        self.stage1.append(nn.MaxPool2d(3, stride=2, padding=1))
        self.stage2, ch = _fires(ch, FIRES_16)
        self.fc = nn.Linear(ch, num_classes, bias=fc_bias)
        init_new_layer(self)

    def stages(self):
        return [("stem", self.stem), ("stage1", self.stage1), ("stage2", self.stage2)]

    def head_params(self):
        return self.fc.weight, self.fc.bias


@register_backbone("squeezenet-gap", family="squeezenet", torchvision=None, aliases=("cusnet",),
                   summary="fire-module network (the HaS reproduction's CusNet, wsolbench's layers): 8 fires, BN, "
                           "GAP, no fc bias; 2.9M params, 16x16 at 64")
def squeezenet_gap(*, num_classes: int, pool: str = "gap", fc_bias: bool = False) -> SqueezeNetGAP:
    return SqueezeNetGAP(num_classes=num_classes, pool=pool, fc_bias=fc_bias)
