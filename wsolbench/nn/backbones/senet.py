"""SE-ResNet-50 for WSOL (as used by the entropy-regularization WSOL paper).

ResNet-50 bottlenecks with a squeeze-and-excitation gate (reduction 16) after ``bn3``, the last
strided stage (``layer4``) made non-strided (14x14 maps at 224 input), GAP/GMP and ``fc``.
Parameter names follow timm's ``seresnet50`` (``layer1.0.se.fc1.weight``), so its ImageNet
weights load with ``--pretrained``.
"""

from __future__ import annotations

from wsolbench.nn.backbones.registry import register_backbone
from wsolbench.nn.backbones.resnet import ResNetGAP


class SEResNetGAP(ResNetGAP):
    """ResNet-50 with SE gates; see :class:`~wsolbench.nn.backbones.resnet.ResNetGAP`."""

    def __init__(self, *, num_classes: int, pool: str = "gap", reduction: int = 16,
                 large_feature_map: bool = False):
        super().__init__(num_classes=num_classes, pool=pool, layers=(3, 4, 6, 3),
                         large_feature_map=large_feature_map, se_reduction=reduction, init="he")


@register_backbone("se_resnet50", family="senet", torchvision=None,
                   summary="SE-ResNet-50: SE gates (r=16), layer4 at stride 1 (14x14 at 224), GAP, linear")
def se_resnet50(*, num_classes: int, pool: str = "gap", large_feature_map: bool = False) -> SEResNetGAP:
    return SEResNetGAP(num_classes=num_classes, pool=pool, large_feature_map=large_feature_map)
