"""AlexNet-GAP (Hide-and-Seek, Singh & Lee, ICCV 2017).

torchvision's AlexNet trunk up to conv5 + ReLU (pool5 and the fully connected layers removed;
13x13 maps at 224 input), batch norm after every convolution, then a new 3x3 convolution
(``conv6``, 256 -> 512) + BN + ReLU, global pooling and a linear ``fc``. The batch norms sit in
the ReLU positions of torchvision's ``features`` Sequential (``features.1.bn.weight``), so the
convolutions keep torchvision's keys (``features.0/3/6/8/10``) and ImageNet weights load.
"""

from __future__ import annotations

from torch import nn

from wsolbench.nn.backbones.base import WSOLBackbone
from wsolbench.nn.backbones.registry import register_backbone
from wsolbench.nn.layers import BNReLU, init_new_layer


def _alexnet_features() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), BNReLU(64),         # 0, 1
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

    def __init__(self, *, num_classes: int, pool: str = "gap", channels: int = 512):
        super().__init__(num_classes=num_classes, pool=pool)
        self._modules["features"] = _alexnet_features()  # torchvision name; `features` is the method
        self.conv6 = nn.Conv2d(256, channels, kernel_size=3, padding=1)
        self.bn6 = BNReLU(channels)
        self.fc = nn.Linear(channels, num_classes)
        init_new_layer(self)

    def stages(self):
        trunk = [(f"features.{i}", m) for i, m in enumerate(self._modules["features"])]
        return trunk + [("conv6", self.conv6), ("bn6", self.bn6)]

    def head_params(self):
        return self.fc.weight, self.fc.bias


@register_backbone("alexnet", family="alexnet", torchvision="alexnet",
                   summary="AlexNet-GAP (HaS): pool5+ removed, BN after convs, conv6 3x3 to 512, GAP (13x13 at 224)")
def alexnet(*, num_classes: int, pool: str = "gap") -> AlexNetGAP:
    return AlexNetGAP(num_classes=num_classes, pool=pool)
