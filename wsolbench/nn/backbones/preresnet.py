"""PreResNet-18 for WSOL (pre-activation ResNet, He et al. 2016; used by the entropy-regularization
WSOL paper).

ImageNet stem (7x7/2 conv, 3x3/2 max pool), four stages of pre-activation basic blocks
(BN-ReLU-conv twice, 1x1 conv shortcut where the shape changes), the last strided stage made
non-strided (14x14 maps at 224 input), a final BN-ReLU, GAP/GMP and ``fc``. Not a torchvision
model: no ImageNet checkpoint has these exact names unless saved from this module.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from wsolbench.nn.backbones.base import WSOLBackbone
from wsolbench.nn.backbones.registry import register_backbone
from wsolbench.nn.layers import init_new_layer


class PreActBlock(nn.Module):
    """Pre-activation basic block: ``bn1, conv1 (strided), bn2, conv2`` + shortcut ``downsample``."""

    def __init__(self, inplanes: int, planes: int, *, stride: int = 1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False)

    def forward(self, x):
        out = F.relu(self.bn1(x))
        shortcut = x if self.downsample is None else self.downsample(out)
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


class PreResNetGAP(WSOLBackbone):
    """Pre-activation ResNet (basic blocks) with a stride-1 last stage, final BN-ReLU, GAP/GMP, ``fc``."""

    new_prefixes = ("fc.",)
    pretrained_discard = ("fc.",)
    classifier_prefixes = ("fc.",)

    def __init__(self, *, num_classes: int, pool: str = "gap", layers=(2, 2, 2, 2)):
        super().__init__(num_classes=num_classes, pool=pool)
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        ch = 64
        for i, (planes, n, s) in enumerate(zip((64, 128, 256, 512), layers, (1, 2, 2, 1)), 1):
            blocks = [PreActBlock(ch, planes, stride=s)] + [PreActBlock(planes, planes) for _ in range(1, n)]
            setattr(self, f"layer{i}", nn.Sequential(*blocks))
            ch = planes
        self.bn = nn.BatchNorm2d(ch)
        self.relu_out = nn.ReLU(inplace=True)
        self.fc = nn.Linear(ch, num_classes)
        init_new_layer(self)

    def stages(self):
        return [("conv1", self.conv1), ("bn1", self.bn1), ("relu", self.relu), ("maxpool", self.maxpool),
                ("layer1", self.layer1), ("layer2", self.layer2), ("layer3", self.layer3), ("layer4", self.layer4),
                ("bn", self.bn), ("relu_out", self.relu_out)]

    def head_params(self):
        return self.fc.weight, self.fc.bias


@register_backbone("preresnet18", family="preresnet", torchvision=None,
                   summary="PreResNet-18: pre-activation basic blocks, layer4 at stride 1 (14x14 at 224), GAP, linear")
def preresnet18(*, num_classes: int, pool: str = "gap") -> PreResNetGAP:
    return PreResNetGAP(num_classes=num_classes, pool=pool)
