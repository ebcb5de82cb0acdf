"""VGG16-GAP (Zhou et al. 2016; wsolevaluation's ``vgg16`` CAM variant).

torchvision's ``vgg16`` trunk with pool5 removed (14x14 maps at 224 input), then ``conv6``
(3x3, 512 -> 1024) + ReLU, global pooling and a linear classifier ``fc``. Trunk keys are
torchvision's (``features.0.weight`` ... ``features.28.bias``); the checkpoint's ``classifier.*``
is discarded. ``large_feature_map=True`` also removes pool4 (28x28 maps) as wsolevaluation
does; the convolutions after it then sit at ``features.23/25/27`` (torchvision: 24/26/28) and
``--pretrained`` re-indexes the checkpoint's ``features`` by order, as wsolevaluation's
``adjust_pretrained_model`` does. Convolutions are He-initialised (the reference's VGG16-CAM).
"""

from __future__ import annotations

from torch import nn

from wsolbench.nn.backbones.base import WSOLBackbone
from wsolbench.nn.backbones.registry import register_backbone
from wsolbench.nn.layers import init_new_layer

# torchvision's vgg16 configuration ("D") without the final 'M' (pool5).
VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)


def make_features(cfg) -> nn.Sequential:
    """A VGG ``features`` Sequential from a configuration: channels = 3x3 conv + ReLU, ``M`` = 2x2
    max pool, ``M1`` = 3x3 max pool stride 2 (padding 1), ``M2`` = 3x3 max pool stride 1 (padding 1),
    the reference's ACoL pools."""
    layers, in_ch = [], 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        elif v == "M1":
            layers.append(nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        elif v == "M2":
            layers.append(nn.MaxPool2d(kernel_size=3, stride=1, padding=1))
        else:
            layers += [nn.Conv2d(in_ch, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            in_ch = v
    return nn.Sequential(*layers)


class VGGGAP(WSOLBackbone):
    """VGG16 with pool5 removed, conv6 (1024) + ReLU, GAP/GMP, linear ``fc``.

    Args:
        num_classes: number of classes.
        pool: ``gap`` or ``gmp``.
        large_feature_map: also remove pool4 (28x28 maps at 224 input).
    """

    new_prefixes = ("conv6.", "fc.")
    pretrained_discard = ("classifier.",)
    indexed_containers = ("features",)
    classifier_prefixes = ("conv6.", "fc.")

    def __init__(self, *, num_classes: int, pool: str = "gap", large_feature_map: bool = False):
        super().__init__(num_classes=num_classes, pool=pool)
        cfg = list(VGG16_CFG)
        if large_feature_map:
            del cfg[cfg.index("M", 10)]
        # Registered under torchvision's name; the ``features`` attribute itself is the method.
        self._modules["features"] = make_features(cfg)
        self.conv6 = nn.Conv2d(512, 1024, kernel_size=3, padding=1)
        self.relu6 = nn.ReLU(inplace=True)
        self.fc = nn.Linear(1024, num_classes)
        init_new_layer(self._modules["features"])
        init_new_layer(self.conv6)
        init_new_layer(self.fc)

    def stages(self):
        trunk = [(f"features.{i}", m) for i, m in enumerate(self._modules["features"])]
        return trunk + [("conv6", self.conv6), ("relu6", self.relu6)]

    def head_params(self):
        return self.fc.weight, self.fc.bias


@register_backbone("vgg16", family="vgg", torchvision="vgg16",
                   summary="VGG16-GAP: pool5 removed, conv6 3x3 to 1024 + ReLU, GAP, linear (14x14 at 224)")
def vgg16(*, num_classes: int, pool: str = "gap", large_feature_map: bool = False) -> VGGGAP:
    return VGGGAP(num_classes=num_classes, pool=pool, large_feature_map=large_feature_map)
