"""AlexNet-GAP (CAM, Zhou et al. CVPR 2016; Hide-and-Seek, Singh & Lee, ICCV 2017).

torchvision's AlexNet trunk up to conv5 + ReLU (pool5 and the fully connected layers removed;
13x13 maps at 224 input), batch norm after every convolution, then a new 3x3 convolution
(``conv6``, 256 -> ``channels``, 512 by default) + BN + ReLU, global pooling and a linear ``fc``.
The batch norms sit in the ReLU positions of torchvision's ``features`` Sequential
(``features.1.bn.weight``), so the convolutions keep torchvision's keys (``features.0/3/6/8/10``)
and ImageNet weights load.

Options for the Hide-and-Seek reproductions (``baselines/*-tinyimagenet.toml``,
``*-ilsvrc-has2017.toml``): ``conv1_padding = 0`` is the original (Caffe) AlexNet's conv1, whose
arithmetic is why its input is 227 pixels (227 -> 55 -> 27 -> 13: 13x13 maps; a 64x64 Tiny
ImageNet image without upscaling gives 2x2 maps); torchvision's conv1 pads by 2 (13x13 at 224,
3x3 at 64). ``pool5_stride1 = True`` keeps AlexNet's pool5 (3x3 max) at stride 1 with padding 1
before conv6: the trunk is cut after a pooling layer, as the Hide-and-Seek reproduction describes
the HaS paper's AlexNet-GAP, and the map keeps its size (13x13 at 227, 2x2 at 64 without padding).
``fc_bias = False`` is a classifier without bias. The parameter shapes do not depend on any option.
"""

from __future__ import annotations

from torch import nn

from wsolbench.nn.backbones.base import WSOLBackbone
from wsolbench.nn.backbones.registry import register_backbone
from wsolbench.nn.layers import BNReLU, init_new_layer


def _alexnet_features(conv1_padding: int = 2) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=conv1_padding), BNReLU(64),  # 0, 1
        nn.MaxPool2d(kernel_size=3, stride=2),                                       # 2
        nn.Conv2d(64, 192, kernel_size=5, padding=2), BNReLU(192),                   # 3, 4
        nn.MaxPool2d(kernel_size=3, stride=2),                                       # 5
        nn.Conv2d(192, 384, kernel_size=3, padding=1), BNReLU(384),                  # 6, 7
        nn.Conv2d(384, 256, kernel_size=3, padding=1), BNReLU(256),                  # 8, 9
        nn.Conv2d(256, 256, kernel_size=3, padding=1), BNReLU(256),                  # 10, 11
    )


class AlexNetGAP(WSOLBackbone):
    """AlexNet-GAP; see the module docstring."""

    new_prefixes = ("features.1.", "features.4.", "features.7.", "features.9.", "features.11.",
                    "conv6.", "bn6.", "fc.")
    pretrained_discard = ("classifier.",)
    classifier_prefixes = ("conv6.", "bn6.", "fc.")

    def __init__(self, *, num_classes: int, pool: str = "gap", channels: int = 512, conv1_padding: int = 2,
                 pool5_stride1: bool = False, fc_bias: bool = True):
        super().__init__(num_classes=num_classes, pool=pool)
        self._modules["features"] = _alexnet_features(conv1_padding)  # torchvision name; `features` is the method
        self.pool5 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1) if pool5_stride1 else None
        self.conv6 = nn.Conv2d(256, channels, kernel_size=3, padding=1)
        self.bn6 = BNReLU(channels)
        self.fc = nn.Linear(channels, num_classes, bias=fc_bias)
        init_new_layer(self)

    def stages(self):
        trunk = [(f"features.{i}", m) for i, m in enumerate(self._modules["features"])]
        trunk += [("pool5", self.pool5)] if self.pool5 is not None else []
        return trunk + [("conv6", self.conv6), ("bn6", self.bn6)]

    def head_params(self):
        return self.fc.weight, self.fc.bias


@register_backbone("alexnet", family="alexnet", torchvision="alexnet", aliases=("alexnet-gap",),
                   summary="AlexNet-GAP (HaS): pool5+ removed, BN after convs, conv6 3x3 to 512, GAP (13x13 at 224)")
def alexnet(*, num_classes: int, pool: str = "gap", channels: int = 512, conv1_padding: int = 2,
            pool5_stride1: bool = False, fc_bias: bool = True) -> AlexNetGAP:
    return AlexNetGAP(num_classes=num_classes, pool=pool, channels=channels, conv1_padding=conv1_padding,
                      pool5_stride1=pool5_stride1, fc_bias=fc_bias)


class AlexNetSmallGAP(AlexNetGAP):
    """AlexNet-GAP adapted to 64x64 inputs (``alexnet-small``): AlexNet's five convolutions and two max
    pools with their widths, but conv1 5x5 at stride 1 (pad 2) and conv2 5x5, so a 64x64 image keeps
    15x15 maps (64 -> 31 -> 15) instead of being upscaled to 227; BN after every conv, conv6 3x3 to
    ``channels``, GAP, linear ``fc`` (no bias by default). The Hide-and-Seek reproduction on Tiny
    ImageNet names an "AlexNet adapted to 64x64" without its layers: this design is wsolbench's.
    Trained from scratch (no torchvision checkpoint has these conv1/conv2 shapes).
    """

    new_prefixes = ("features.", "conv6.", "bn6.", "fc.")
    pretrained_discard = ()

    def __init__(self, *, num_classes: int, pool: str = "gap", channels: int = 512, fc_bias: bool = False):
        super().__init__(num_classes=num_classes, pool=pool, channels=channels, fc_bias=fc_bias)
        self._modules["features"] = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=5, stride=1, padding=2), BNReLU(64),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2), BNReLU(192),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1), BNReLU(384),
            nn.Conv2d(384, 256, kernel_size=3, padding=1), BNReLU(256),
            nn.Conv2d(256, 256, kernel_size=3, padding=1), BNReLU(256),
        )
        init_new_layer(self)


@register_backbone("alexnet-small", family="alexnet", torchvision=None, aliases=("alexnet-small-gap",),
                   summary="AlexNet-GAP adapted to 64x64: conv1/conv2 5x5 at stride 1, BN, conv6 to 512, GAP, "
                           "no fc bias (15x15 at 64)")
def alexnet_small(*, num_classes: int, pool: str = "gap", channels: int = 512, fc_bias: bool = False) -> AlexNetSmallGAP:
    return AlexNetSmallGAP(num_classes=num_classes, pool=pool, channels=channels, fc_bias=fc_bias)
