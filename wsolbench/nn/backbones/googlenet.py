"""GoogLeNet-GAP (Hide-and-Seek, Singh & Lee, ICCV 2017).

torchvision's GoogLeNet (batch-normalised ``BasicConv2d`` blocks) up to ``inception4e``; pool4,
inception 5a/5b, the auxiliary classifiers and ``fc`` removed (14x14 maps at 224 input); a new
3x3 convolution ``conv6`` (832 -> 1024) + BN + ReLU, global pooling, linear ``fc``. Keys are
torchvision's. torchvision's ImageNet weights were ported from TensorFlow and expect inputs in
[-1, 1]: pass ``transform_input=True`` when loading them (same transform as torchvision's).
``channels`` is conv6's width (1024); ``fc_bias = False`` is a classifier without bias (the Hide-and-Seek
reproduction on Tiny ImageNet).
"""

from __future__ import annotations

import torch
from torch import nn

from wsolbench.nn.backbones.base import WSOLBackbone
from wsolbench.nn.backbones.registry import register_backbone
from wsolbench.nn.layers import BasicConv2d, init_new_layer

# in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj (torchvision / the paper's table 1)
INCEPTION_CFG = {
    "inception3a": (192, 64, 96, 128, 16, 32, 32),
    "inception3b": (256, 128, 128, 192, 32, 96, 64),
    "inception4a": (480, 192, 96, 208, 16, 48, 64),
    "inception4b": (512, 160, 112, 224, 24, 64, 64),
    "inception4c": (512, 128, 128, 256, 24, 64, 64),
    "inception4d": (512, 112, 144, 288, 32, 64, 64),
    "inception4e": (528, 256, 160, 320, 32, 128, 128),
}


class Inception(nn.Module):
    """Four branches ``branch1..4`` as in torchvision (its 3x3 in branch3 included)."""

    def __init__(self, in_ch, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
        super().__init__()
        self.branch1 = BasicConv2d(in_ch, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(BasicConv2d(in_ch, ch3x3red, kernel_size=1),
                                     BasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1))
        self.branch3 = nn.Sequential(BasicConv2d(in_ch, ch5x5red, kernel_size=1),
                                     BasicConv2d(ch5x5red, ch5x5, kernel_size=3, padding=1))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
                                     BasicConv2d(in_ch, pool_proj, kernel_size=1))

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InputTransform(nn.Module):
    """torchvision's ``transform_input``: ImageNet-normalised input -> the [-1, 1] range."""

    def __init__(self, enabled: bool):
        super().__init__()
        self.enabled = enabled
        self.register_buffer("scale", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) / 0.5, persistent=False)
        self.register_buffer("shift", (torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) - 0.5) / 0.5,
                             persistent=False)

    def forward(self, x):
        return x * self.scale + self.shift if self.enabled else x


class GoogLeNetGAP(WSOLBackbone):
    """GoogLeNet-GAP; see the module docstring."""

    new_prefixes = ("conv6.", "fc.")
    pretrained_discard = ("inception5a.", "inception5b.", "aux1.", "aux2.", "fc.")
    classifier_prefixes = ("conv6.", "fc.")

    def __init__(self, *, num_classes: int, pool: str = "gap", transform_input: bool = False,
                 channels: int = 1024, fc_bias: bool = True):
        super().__init__(num_classes=num_classes, pool=pool)
        self.transform = InputTransform(transform_input)
        self.conv1 = BasicConv2d(3, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        for name, cfg in INCEPTION_CFG.items():
            setattr(self, name, Inception(*cfg))
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv6 = BasicConv2d(832, channels, kernel_size=3, padding=1)
        self.fc = nn.Linear(channels, num_classes, bias=fc_bias)
        init_new_layer(self)

    def stages(self):
        names = ["transform", "conv1", "maxpool1", "conv2", "conv3", "maxpool2", "inception3a", "inception3b",
                 "maxpool3", "inception4a", "inception4b", "inception4c", "inception4d", "inception4e", "conv6"]
        return [(n, getattr(self, n)) for n in names]

    def head_params(self):
        return self.fc.weight, self.fc.bias


@register_backbone("googlenet", family="googlenet", torchvision="googlenet", aliases=("googlenet-gap",),
                   summary="GoogLeNet-GAP (HaS): pool4+ removed, conv6 3x3 to 1024 + BN, GAP (14x14 at 224)")
def googlenet(*, num_classes: int, pool: str = "gap", transform_input: bool = False, channels: int = 1024,
              fc_bias: bool = True) -> GoogLeNetGAP:
    return GoogLeNetGAP(num_classes=num_classes, pool=pool, transform_input=transform_input, channels=channels,
                        fc_bias=fc_bias)
