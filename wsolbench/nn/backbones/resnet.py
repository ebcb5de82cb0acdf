"""ResNet50 for WSOL (wsolevaluation's ``resnet50`` CAM variant).

torchvision's ResNet-50 (v1.5: stride on the 3x3 conv) with ``layer4`` at stride 1, so the maps
are 14x14 at 224 input (28x28 with ``large_feature_map``: ``layer3`` at stride 1 too); GAP (or
GMP) and a linear ``fc``. Keys are torchvision's. As in wsolevaluation, the ImageNet ``fc`` is
kept when the model is trained on ILSVRC (same 1000 classes; ``--pretrained`` then loads it) and
replaced otherwise; ``layer4`` and ``fc`` train at the larger learning rate; convolutions are
Xavier-uniform initialised (``init``; SE-ResNet keeps He).
"""

from __future__ import annotations

from torch import nn

from wsolbench.nn.backbones.base import WSOLBackbone
from wsolbench.nn.backbones.registry import register_backbone
from wsolbench.nn.layers import SqueezeExcite, init_weights


class Bottleneck(nn.Module):
    """torchvision's Bottleneck (conv1/bn1, conv2/bn2 (strided), conv3/bn3, downsample.{0,1})."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, *, stride: int = 1, downsample: nn.Module | None = None,
                 se_reduction: int | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.se = SqueezeExcite(planes * 4, reduction=se_reduction) if se_reduction else None

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.se is not None:
            out = self.se(out)
        return self.relu(out + identity)


def make_layer(inplanes: int, planes: int, blocks: int, *, stride: int, se_reduction: int | None = None):
    """A torchvision-named ``nn.Sequential`` of bottlenecks; returns ``(layer, out_channels)``."""
    out = planes * Bottleneck.expansion
    downsample = None
    if stride != 1 or inplanes != out:
        downsample = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))
    layers = [Bottleneck(inplanes, planes, stride=stride, downsample=downsample, se_reduction=se_reduction)]
    layers += [Bottleneck(out, planes, se_reduction=se_reduction) for _ in range(1, blocks)]
    return nn.Sequential(*layers), out


def build_trunk(module: nn.Module, layers=(3, 4, 6, 3), *, large_feature_map: bool = False,
                se_reduction: int | None = None) -> int:
    """Create ``conv1``, ``bn1``, ``relu``, ``maxpool``, ``layer1`` .. ``layer4`` on ``module`` (the
    reference's order; ``layer4`` at stride 1, ``layer3`` too with ``large_feature_map``); returns
    the output channels."""
    module.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
    module.bn1 = nn.BatchNorm2d(64)
    module.relu = nn.ReLU(inplace=True)
    module.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
    strides = (1, 2, 1 if large_feature_map else 2, 1)
    ch = 64
    for i, (planes, n, s) in enumerate(zip((64, 128, 256, 512), layers, strides), 1):
        layer, ch = make_layer(ch, planes, n, stride=s, se_reduction=se_reduction)
        setattr(module, f"layer{i}", layer)
    return ch


STEM = ("conv1", "bn1", "relu", "maxpool")


class ResNetGAP(WSOLBackbone):
    """Bottleneck ResNet with the last stage at stride 1, GAP/GMP and a linear ``fc``.

    Args:
        num_classes: number of classes.
        pool: ``gap`` or ``gmp``.
        layers: blocks per stage ((3, 4, 6, 3) = ResNet-50).
        large_feature_map: also run layer3 at stride 1 (28x28 maps at 224 input).
        se_reduction: add squeeze-and-excitation gates (SE-ResNet) with this reduction.
        init: convolution initialisation, ``xavier`` (wsolevaluation's ResNet50) or ``he``.
    """

    new_prefixes = ("fc.",)
    pretrained_head = ("fc.",)
    indexed_containers = ("layer1", "layer2", "layer3", "layer4")
    classifier_prefixes = ("layer4.", "fc.")

    def __init__(self, *, num_classes: int, pool: str = "gap", layers=(3, 4, 6, 3),
                 large_feature_map: bool = False, se_reduction: int | None = None, init: str = "xavier"):
        super().__init__(num_classes=num_classes, pool=pool)
        ch = build_trunk(self, layers, large_feature_map=large_feature_map, se_reduction=se_reduction)
        self.fc = nn.Linear(ch, num_classes)
        init_weights(self, conv=init)

    def stages(self):
        return [(n, getattr(self, n)) for n in (*STEM, "layer1", "layer2", "layer3", "layer4")]

    def head_params(self):
        return self.fc.weight, self.fc.bias


@register_backbone("resnet50", family="resnet", torchvision="resnet50",
                   summary="ResNet50: layer4 at stride 1 (14x14 at 224), GAP, linear; layer4+fc at x10 lr; "
                           "ImageNet fc kept on ILSVRC")
def resnet50(*, num_classes: int, pool: str = "gap", large_feature_map: bool = False) -> ResNetGAP:
    return ResNetGAP(num_classes=num_classes, pool=pool, large_feature_map=large_feature_map)
