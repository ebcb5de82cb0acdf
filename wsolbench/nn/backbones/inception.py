"""InceptionV3 for WSOL, the wsolevaluation variant.

torchvision's Inception-v3 trunk up to ``Mixed_6e`` (``Mixed_7*``, ``AuxLogits`` and ``fc``
removed), ``Mixed_6a`` at stride 1 (padding 1), then two new 3x3 convolutions to 1024 channels
(``SPG_A3_1b``, ``SPG_A3_2b``, each + ReLU, dropout 0.5 before each) and a 1x1 class convolution
``SPG_A4`` (= a linear classifier after global pooling). Maps are 14x14 at 224 input, or 28x28 with
``large_feature_map=True`` (the max pool after ``Mixed_5d`` removed). Trunk keys are
torchvision's; the new layers keep wsolevaluation's names and, like every convolution of the
reference's model, are Xavier-uniform initialised (biases 0).
"""

from __future__ import annotations

import torch
from torch import nn

from wsolbench.nn.backbones.base import WSOLBackbone
from wsolbench.nn.backbones.registry import register_backbone
from wsolbench.nn.layers import BasicConv2d, init_weights


def _avg_pool3(x):
    return nn.functional.avg_pool2d(x, kernel_size=3, stride=1, padding=1)


class InceptionA(nn.Module):
    """35x35 block: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1 (torchvision names)."""

    def __init__(self, in_channels: int, pool_features: int):
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)

    def forward(self, x):
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch1x1(x), b5, b3, self.branch_pool(_avg_pool3(x))], 1)


class InceptionB(nn.Module):
    """Grid-reduction block (``Mixed_6a``); the WSOL variant runs it at stride 1, padding 1."""

    def __init__(self, in_channels: int, *, stride: int = 2, padding: int = 0):
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, kernel_size=3, stride=stride, padding=padding)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=stride, padding=padding)
        self.pool = nn.MaxPool2d(3, stride=stride, padding=padding)

    def forward(self, x):
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), b3, self.pool(x)], 1)


class InceptionC(nn.Module):
    """17x17 block with factorised 7x7 convolutions (torchvision names)."""

    def __init__(self, in_channels: int, channels_7x7: int):
        super().__init__()
        c = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_channels, c, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c, c, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c, c, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c, c, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c, c, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x):
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d = x
        for i in range(1, 6):
            d = getattr(self, f"branch7x7dbl_{i}")(d)
        return torch.cat([self.branch1x1(x), b7, d, self.branch_pool(_avg_pool3(x))], 1)


def build_trunk(module: nn.Module) -> None:
    """Create the WSOL trunk's modules on ``module``, in the reference's order (which fixes the
    random initial values): ``Conv2d_1a_3x3`` .. ``Mixed_6e`` (``Mixed_6a`` at stride 1) and the
    three max pools (the third is skipped in the forward pass with ``large_feature_map``)."""
    module.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2, padding=1)
    module.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
    module.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
    module.maxpool1 = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)
    module.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
    module.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
    module.maxpool2 = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)
    module.Mixed_5b = InceptionA(192, pool_features=32)
    module.Mixed_5c = InceptionA(256, pool_features=64)
    module.Mixed_5d = InceptionA(288, pool_features=64)
    module.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
    module.Mixed_6a = InceptionB(288, stride=1, padding=1)
    module.Mixed_6b = InceptionC(768, channels_7x7=128)
    module.Mixed_6c = InceptionC(768, channels_7x7=160)
    module.Mixed_6d = InceptionC(768, channels_7x7=160)
    module.Mixed_6e = InceptionC(768, channels_7x7=192)


def trunk_stage_names(large_feature_map: bool) -> list[str]:
    """The trunk's stages in forward order, up to ``Mixed_6e``."""
    names = ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1",
             "Conv2d_4a_3x3", "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d"]
    names += [] if large_feature_map else ["maxpool3"]
    return names + ["Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"]


TRUNK_PREFIXES = ("Conv2d_", "Mixed_")
IMAGENET_DISCARD = ("Mixed_7a.", "Mixed_7b.", "Mixed_7c.", "AuxLogits.", "fc.")


def conv_relu(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.ReLU(inplace=True))


class InceptionV3GAP(WSOLBackbone):
    """InceptionV3 WSOL variant; see the module docstring."""

    new_prefixes = ("SPG_A3_1b.", "SPG_A3_2b.", "SPG_A4.")
    pretrained_discard = IMAGENET_DISCARD
    classifier_prefixes = new_prefixes
    head_dropout = 0.5

    def __init__(self, *, num_classes: int, pool: str = "gap", large_feature_map: bool = False):
        super().__init__(num_classes=num_classes, pool=pool)
        self.large_feature_map = large_feature_map
        build_trunk(self)
        self.dropout_a = nn.Dropout(0.5)
        self.SPG_A3_1b = conv_relu(768, 1024)
        self.dropout_b = nn.Dropout(0.5)
        self.SPG_A3_2b = conv_relu(1024, 1024)
        self.SPG_A4 = nn.Conv2d(1024, num_classes, kernel_size=1)
        init_weights(self, conv="xavier")

    def stages(self):
        names = trunk_stage_names(self.large_feature_map) + ["dropout_a", "SPG_A3_1b", "dropout_b", "SPG_A3_2b"]
        return [(n, getattr(self, n)) for n in names]

    def head_params(self):
        return self.SPG_A4.weight.flatten(1), self.SPG_A4.bias


@register_backbone("inception_v3", family="inception", torchvision="inception_v3", aliases=("inceptionv3",),
                   summary="InceptionV3 (wsolevaluation): Mixed_7 removed, Mixed_6a stride 1, "
                           "2 new 3x3 convs (1024) + 1x1 class conv")
def inception_v3(*, num_classes: int, pool: str = "gap", large_feature_map: bool = False) -> InceptionV3GAP:
    return InceptionV3GAP(num_classes=num_classes, pool=pool, large_feature_map=large_feature_map)
