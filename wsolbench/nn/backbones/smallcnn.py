"""A small, fast CNN for the synthetic benchmark (trains on 2 CPU cores in about a minute).

Three stages of two 3x3 conv-BN-ReLU layers (widths ``w, 2w, 4w``): a stride-2 first convolution
(``stem_stride=2``, the default; 1 = a 2x2 max pool after stage 1 instead, 2x slower) and a 2x2 max
pool after stage 2, so the maps are 1/4 of the input (16x16 at 64x64); GAP/GMP and a linear ``fc``.
Trained from scratch.
"""

from __future__ import annotations

from torch import nn

from wsolbench.nn.backbones.base import WSOLBackbone
from wsolbench.nn.backbones.registry import register_backbone
from wsolbench.nn.layers import ConvBNReLU, init_new_layer


class SmallCNN(WSOLBackbone):
    """Small CNN; ``width`` = channels of the first stage (doubled per stage); see the module docstring."""

    new_prefixes = ("stage1.", "stage2.", "stage3.", "fc.")
    classifier_prefixes = ("fc.",)

    def __init__(self, *, num_classes: int, pool: str = "gap", width: int = 16, stem_stride: int = 2):
        super().__init__(num_classes=num_classes, pool=pool)
        w1, w2, w3 = width, 2 * width, 4 * width
        if stem_stride not in (1, 2):
            raise ValueError(f"stem_stride must be 1 or 2, got {stem_stride}")
        if stem_stride == 1:
            self.stage1 = nn.Sequential(ConvBNReLU(3, w1), ConvBNReLU(w1, w1), nn.MaxPool2d(2))
        else:
            self.stage1 = nn.Sequential(ConvBNReLU(3, w1, stride=2), ConvBNReLU(w1, w1))
        self.stage2 = nn.Sequential(ConvBNReLU(w1, w2), ConvBNReLU(w2, w2), nn.MaxPool2d(2))
        self.stage3 = nn.Sequential(ConvBNReLU(w2, w3), ConvBNReLU(w3, w3))
        self.fc = nn.Linear(w3, num_classes)
        init_new_layer(self)

    def stages(self):
        return [("stage1", self.stage1), ("stage2", self.stage2), ("stage3", self.stage3)]

    def head_params(self):
        return self.fc.weight, self.fc.bias


@register_backbone("smallcnn", family="smallcnn", torchvision=None,
                   summary="small fast CNN for the synthetic benchmark (6 conv-BN-ReLU, maps at 1/4 input)")
def smallcnn(*, num_classes: int, pool: str = "gap", width: int = 16, stem_stride: int = 2) -> SmallCNN:
    return SmallCNN(num_classes=num_classes, pool=pool, width=width, stem_stride=stem_stride)
