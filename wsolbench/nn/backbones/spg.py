"""SPG models (Zhang et al., "Self-produced Guidance for Weakly-supervised Object Localization",
ECCV 2018), as wsolevaluation defines them (``wsol/method/spg.py`` and the ``*Spg`` classes).

The classification path ("SPG-A") ends in a 1x1 class convolution ``SPG_A4`` whose spatial means
are the logits; its map of the label (the predicted class when no label is given) is the CAM.
Two side branches ("SPG-B", sharing ``SPG_B_shared``) predict one-channel foreground maps from an
early stage (``logits_b1``) and a middle stage (``logits_b2``), and ``SPG_C`` predicts one from the
last features (``logits_c``). For the loss (:mod:`wsolbench.nn.methods.spg`) every map is upsampled
bilinearly to ``mask_size`` x ``mask_size`` (224, the reference's fixed size, whatever the input):
``attention`` is the label's class map, min-max normalised, and ``fused_attention`` the mean of the
two B maps' sigmoids; both are detached.

Architectures, with the reference's layer names and Xavier-uniform initialisation:

* VGG16: ``features`` up to pool3, then ``SPG_A_1`` (torchvision's conv4_1-4_3, re-named), a 3x3
  stride-2 max pool (none with ``large_feature_map``), ``SPG_A_2`` (conv5_1-5_3), ``SPG_A_3`` (two new
  3x3 convolutions), ``SPG_A_4``; B1 after ``SPG_A_1``, B2 after ``SPG_A_2``, C after ``SPG_A_3``;
* ResNet50: ``layer3`` split into ``SPG_A1`` (its first block) and ``SPG_A2`` (the other five);
  B1 after ``SPG_A1``, B2 after ``SPG_A2``; ``layer4`` then ``SPG_A4``; C on ``layer4``'s output;
* InceptionV3: the CAM model (dropout 0.5 before and after the two new convolutions); B1 after
  ``Mixed_5d`` (and its pool), B2 on ``Mixed_6d``'s output, C on the last (dropped-out) features;
* the small CNN (wsolbench's, by analogy with ResNet50's, for the synthetic studies): B1 after
  ``stage2``, B2 and C after ``stage3``, side branches as wide as ``stage3`` whose 3x3 convolutions
  are conv-BN-ReLU like the small CNN's layers; the maps are upsampled to the input's size (the
  reference's 224 is its input size), He initialisation.

Loading ImageNet weights renames VGG16's ``features.17/19/21/24/26/28`` and ResNet50's
``layer3.N`` to the SPG names (the reference's ``batch_replace_layer``) and drops the classifiers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from wsolbench.nn.backbones import inception, resnet, smallcnn, vgg
from wsolbench.nn.backbones.acol import class_logits, label_maps, normalize_maps
from wsolbench.nn.backbones.base import WSOLBackbone
from wsolbench.nn.backbones.registry import register_variant
from wsolbench.nn.layers import ConvBNReLU, init_weights

MASK_SIZE = 224  # the reference upsamples every SPG map to 224 x 224 (its crop size)


def conv_relu(in_ch: int, out_ch: int, n: int = 1) -> nn.Sequential:
    """``n`` x (3x3 conv, padding 1, ReLU)."""
    layers = []
    for i in range(n):
        layers += [nn.Conv2d(in_ch if i == 0 else out_ch, out_ch, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


def side_map(in_ch: int, mid: int) -> nn.Sequential:
    """3x3 conv + ReLU, then a 1x1 conv to one channel (``SPG_B_shared``, ``SPG_C``)."""
    return nn.Sequential(nn.Conv2d(in_ch, mid, kernel_size=3, padding=1), nn.ReLU(inplace=True),
                         nn.Conv2d(mid, 1, kernel_size=1))


def upsample(maps: torch.Tensor, size: int = MASK_SIZE) -> torch.Tensor:
    """Bilinear upsampling to ``size x size`` (``nn.Upsample(mode='bilinear')``, align_corners False)."""
    return F.interpolate(maps, size=(size, size), mode="bilinear", align_corners=False)


class SPGNet(WSOLBackbone):
    """The SPG model; subclasses build the layers and implement :meth:`branches`.

    ``forward(images)`` gives the logits; ``forward(images, labels, outputs=True)`` the training
    outputs (``logits``, ``logits_b1``, ``logits_b2``, ``logits_c``, ``feat_map``, ``attention``,
    ``fused_attention``).
    """

    mask_size: int | None = MASK_SIZE  # None: the input's size

    def __init__(self, *, num_classes: int, pool: str = "gap"):
        super().__init__(num_classes=num_classes, pool=pool)
        if self.pool != "gap":
            raise ValueError("SPG's logits are the spatial means of its class maps: pool must be 'gap'")

    def branches(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, 3, H, W) -> ``(feat_map (B, C, h, w), logits_b1, logits_b2, logits_c)`` (B, 1, ., .)."""
        raise NotImplementedError

    def head_params(self):
        raise NotImplementedError("SPG's classifier is the 1x1 convolution SPG_A4; use cams_and_logits")

    def spg_outputs(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> dict:
        feat_map, b1, b2, c = self.branches(images)
        logits = class_logits(feat_map)
        labels = logits.argmax(1) if labels is None else labels
        size = self.mask_size or images.shape[-1]
        chosen = label_maps(feat_map, labels).unsqueeze(1)
        attention = normalize_maps(upsample(chosen, size))  # = the label's map of the upsampled maps
        fused = (torch.sigmoid(upsample(b1.detach(), size)) + torch.sigmoid(upsample(b2.detach(), size))) / 2.0
        return {"logits": logits, "logits_b1": b1, "logits_b2": b2, "logits_c": c, "feat_map": feat_map,
                "attention": attention, "fused_attention": fused}

    def forward(self, images, labels=None, *, outputs: bool = False):
        if outputs:
            return self.spg_outputs(images, labels)
        return class_logits(self.branches(images)[0])

    def cams_and_logits(self, images: torch.Tensor, labels: torch.Tensor | None = None):
        feat_map = self.branches(images)[0]
        logits = class_logits(feat_map)
        labels = logits.argmax(1) if labels is None else labels
        cams = label_maps(feat_map, labels)
        return cams.float(), logits

    def cams(self, images, labels):
        return self.cams_and_logits(images, labels)[0]


class VGGSPG(SPGNet):
    """VGG16 SPG (the reference's ``VggSpg``)."""

    new_prefixes = ("SPG_A_3.", "SPG_A_4.", "SPG_B_", "SPG_C.")
    pretrained_discard = ("classifier.",)
    pretrained_renames = (("features.17.", "SPG_A_1.0."), ("features.19.", "SPG_A_1.2."),
                          ("features.21.", "SPG_A_1.4."), ("features.24.", "SPG_A_2.0."),
                          ("features.26.", "SPG_A_2.2."), ("features.28.", "SPG_A_2.4."))
    indexed_containers = ("features",)
    classifier_prefixes = ("SPG_",)  # the reference: everything but features.* at 10x

    def __init__(self, *, num_classes: int, pool: str = "gap", large_feature_map: bool = False):
        super().__init__(num_classes=num_classes, pool=pool)
        self.large_feature_map = large_feature_map
        self._modules["features"] = vgg.make_features(vgg.VGG16_CFG[:10])
        self.SPG_A_1 = conv_relu(256, 512, 3)
        self.SPG_A_2 = conv_relu(512, 512, 3)
        self.SPG_A_3 = conv_relu(512, 512, 2)
        self.SPG_A_4 = nn.Conv2d(512, num_classes, kernel_size=1, padding=0)
        self.SPG_B_1a = conv_relu(512, 512)
        self.SPG_B_2a = conv_relu(512, 512)
        self.SPG_B_shared = side_map(512, 512)
        self.SPG_C = side_map(512, 512)
        init_weights(self, conv="xavier")

    def stages(self):
        return [(f"features.{i}", m) for i, m in enumerate(self._modules["features"])]

    def branches(self, images):
        x = self.SPG_A_1(self.features(images))
        if not self.large_feature_map:
            x = F.max_pool2d(x, kernel_size=3, stride=2, padding=1)
        b1 = self.SPG_B_shared(self.SPG_B_1a(x))
        x = self.SPG_A_2(x)
        b2 = self.SPG_B_shared(self.SPG_B_2a(x))
        x = self.SPG_A_3(x)
        return self.SPG_A_4(x), b1, b2, self.SPG_C(x)


class ResNetSPG(SPGNet):
    """ResNet50 SPG (the reference's ``ResNetSpg``)."""

    new_prefixes = ("SPG_A4.", "SPG_B_", "SPG_C.")
    pretrained_discard = ("fc.",)
    pretrained_renames = (("layer3.0.", "SPG_A1.0."),) + tuple((f"layer3.{i}.", f"SPG_A2.{i - 1}.")
                                                              for i in range(1, 6))
    classifier_prefixes = ("layer4.", "fc.")  # the reference's name patterns for ResNet: the SPG layers at 1x

    def __init__(self, *, num_classes: int, pool: str = "gap", large_feature_map: bool = False):
        super().__init__(num_classes=num_classes, pool=pool)
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1, ch = resnet.make_layer(64, 64, 3, stride=1)
        self.layer2, ch = resnet.make_layer(ch, 128, 4, stride=2)
        layer3, ch = resnet.make_layer(ch, 256, 6, stride=1 if large_feature_map else 2)
        self.SPG_A1, self.SPG_A2 = nn.Sequential(layer3[0]), nn.Sequential(*layer3[1:])
        self.layer4, ch = resnet.make_layer(ch, 512, 3, stride=1)
        self.SPG_A4 = nn.Conv2d(ch, num_classes, kernel_size=1)
        self.SPG_B_1a = conv_relu(1024, 1024)
        self.SPG_B_2a = conv_relu(1024, 1024)
        self.SPG_B_shared = side_map(1024, 1024)
        self.SPG_C = side_map(2048, 512)
        init_weights(self, conv="xavier")

    def stages(self):
        return [(n, getattr(self, n)) for n in (*resnet.STEM, "layer1", "layer2", "SPG_A1", "SPG_A2", "layer4")]

    def branches(self, images):
        x = images
        for name in (*resnet.STEM, "layer1", "layer2", "SPG_A1"):
            x = getattr(self, name)(x)
        b1 = self.SPG_B_shared(self.SPG_B_1a(x))
        x = self.SPG_A2(x)
        b2 = self.SPG_B_shared(self.SPG_B_2a(x))
        x = self.layer4(x)
        return self.SPG_A4(x), b1, b2, self.SPG_C(x)


class InceptionSPG(SPGNet):
    """InceptionV3 SPG (the reference's ``InceptionSpg``)."""

    new_prefixes = ("SPG_",)
    pretrained_discard = inception.IMAGENET_DISCARD
    classifier_prefixes = ("SPG_",)

    def __init__(self, *, num_classes: int, pool: str = "gap", large_feature_map: bool = False):
        super().__init__(num_classes=num_classes, pool=pool)
        self.large_feature_map = large_feature_map
        inception.build_trunk(self)
        self.SPG_A3_1b = inception.conv_relu(768, 1024)
        self.SPG_A3_2b = inception.conv_relu(1024, 1024)
        self.SPG_A4 = nn.Conv2d(1024, num_classes, kernel_size=1, padding=0)
        self.SPG_B_1a = conv_relu(288, 512)
        self.SPG_B_2a = conv_relu(768, 512)
        self.SPG_B_shared = side_map(512, 512)
        self.SPG_C = side_map(1024, 512)
        init_weights(self, conv="xavier")

    def stages(self):
        return [(n, getattr(self, n)) for n in inception.trunk_stage_names(self.large_feature_map)]

    def branches(self, images):
        names = inception.trunk_stage_names(self.large_feature_map)
        x = images
        for name in names[:names.index("Mixed_6a")]:
            x = getattr(self, name)(x)
        b1 = self.SPG_B_shared(self.SPG_B_1a(x))
        for name in ("Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d"):
            x = getattr(self, name)(x)
        feat = self.Mixed_6e(x)
        b2 = self.SPG_B_shared(self.SPG_B_2a(x))
        x = self.SPG_A3_1b(F.dropout(feat, 0.5, self.training))
        x = F.dropout(self.SPG_A3_2b(F.dropout(x, 0.5, self.training)), 0.5, self.training)
        return self.SPG_A4(x), b1, b2, self.SPG_C(x)


class SmallCNNSPG(SPGNet):
    """The small CNN's SPG model (wsolbench's, for the synthetic studies)."""

    mask_size = None
    classifier_prefixes = ("SPG_",)

    def __init__(self, *, num_classes: int, pool: str = "gap", width: int = 16, stem_stride: int = 2):
        super().__init__(num_classes=num_classes, pool=pool)
        trunk = smallcnn.SmallCNN(num_classes=num_classes, width=width, stem_stride=stem_stride)
        self.stage1, self.stage2, self.stage3 = trunk.stage1, trunk.stage2, trunk.stage3
        w2, w3 = 2 * width, 4 * width
        self.SPG_A4 = nn.Conv2d(w3, num_classes, kernel_size=1)
        self.SPG_B_1a = ConvBNReLU(w2, w3)
        self.SPG_B_2a = ConvBNReLU(w3, w3)
        self.SPG_B_shared = nn.Sequential(ConvBNReLU(w3, w3), nn.Conv2d(w3, 1, kernel_size=1))
        self.SPG_C = nn.Sequential(ConvBNReLU(w3, w3), nn.Conv2d(w3, 1, kernel_size=1))
        init_weights(self, conv="he")

    def stages(self):
        return [("stage1", self.stage1), ("stage2", self.stage2), ("stage3", self.stage3)]

    def branches(self, images):
        x = self.stage2(self.stage1(images))
        b1 = self.SPG_B_shared(self.SPG_B_1a(x))
        x = self.stage3(x)
        b2 = self.SPG_B_shared(self.SPG_B_2a(x))
        return self.SPG_A4(x), b1, b2, self.SPG_C(x)


@register_variant("smallcnn", "spg")
def smallcnn_spg(*, num_classes: int, pool: str = "gap", width: int = 16, stem_stride: int = 2) -> SmallCNNSPG:
    return SmallCNNSPG(num_classes=num_classes, pool=pool, width=width, stem_stride=stem_stride)


@register_variant("vgg16", "spg")
def vgg16_spg(*, num_classes: int, pool: str = "gap", large_feature_map: bool = False) -> VGGSPG:
    return VGGSPG(num_classes=num_classes, pool=pool, large_feature_map=large_feature_map)


@register_variant("resnet50", "spg")
def resnet50_spg(*, num_classes: int, pool: str = "gap", large_feature_map: bool = False) -> ResNetSPG:
    return ResNetSPG(num_classes=num_classes, pool=pool, large_feature_map=large_feature_map)


@register_variant("inception_v3", "spg")
def inception_v3_spg(*, num_classes: int, pool: str = "gap", large_feature_map: bool = False) -> InceptionSPG:
    return InceptionSPG(num_classes=num_classes, pool=pool, large_feature_map=large_feature_map)
