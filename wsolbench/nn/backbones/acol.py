"""ACoL models (Zhang et al., "Adversarial Complementary Learning for WSOL", CVPR 2018), as
wsolevaluation defines them (``wsol/method/acol.py`` and the ``*Acol`` classes of its backbones).

A trunk gives feature maps F (B, K, h, w). Classifier A (3x3 conv to 1024, ReLU, 3x3 conv 1024,
ReLU, 1x1 conv to C classes) maps F to class maps A; its logits are their spatial means. The
attention of the label's map (A[label], min-max normalised per image) marks where A looks; F is
erased (set to 0) where that attention is ``>= drop_threshold`` (the method's ``acol_threshold``,
0.7), and classifier B (same layers, own weights) sees the erased F: its class maps B and logits
must find the object elsewhere. Training adds both cross-entropies. The CAM of class c is
``max(norm(A_c), norm(B_c))``, each class map min-max normalised, the reference's
``return_cam`` (a map made constant by the normalisation's 0/0 is returned as zeros, as the
reference's evaluation treats such maps).

Trunks, with the reference's layer names (so its checkpoints load) and initialisation:

* VGG16: ``features`` with 3x3 max pools (stride 2, padding 1) instead of torchvision's 2x2 ones,
  and a 3x3 stride-1 max pool at the end (28x28 maps with ``large_feature_map``: the fourth pool
  at stride 1), then a 3x3 stride-1 average pool; Xavier-uniform initialisation;
* ResNet50: the CAM trunk (``layer4`` at stride 1); He initialisation; as the reference's
  optimiser groups are name patterns, ``layer4`` trains at 10x the lr and the classifiers at 1x;
* InceptionV3: the trunk up to ``Mixed_6e`` (no new convolutions, no dropout); Xavier-uniform;
* the small CNN (wsolbench's, by analogy, for the synthetic studies): its three stages, then
  classifiers of width ``2 x`` its last stage's channels (the reference: 1024 after 512) whose 3x3
  convolutions are conv-BN-ReLU like every layer of the small CNN (trained from scratch at lr 0.1,
  the BN-free heads diverge), He.

ImageNet checkpoints load into the trunk (VGG16's ``classifier``, ResNet50's ``fc``, Inception's
``Mixed_7*``/``AuxLogits``/``fc`` are dropped: ACoL never keeps the ImageNet classifier).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from wsolbench.nn.backbones import inception, resnet, smallcnn, vgg
from wsolbench.nn.backbones.base import WSOLBackbone
from wsolbench.nn.backbones.registry import register_variant
from wsolbench.nn.layers import ConvBNReLU, init_weights

ACOL_CFG = {False: (64, 64, "M1", 128, 128, "M1", 256, 256, 256, "M1", 512, 512, 512, "M1", 512, 512, 512, "M2"),
            True: (64, 64, "M1", 128, 128, "M1", 256, 256, 256, "M1", 512, 512, 512, "M2", 512, 512, 512, "M2")}


def normalize_maps(maps: torch.Tensor) -> torch.Tensor:
    """Min-max normalise every (B, C) map of a (B, C, h, w) tensor over its h x w positions
    (the reference's ``normalize_tensor``; a constant map gives NaN, as there)."""
    flat = maps.flatten(2)
    low, high = flat.min(-1, keepdim=True).values, flat.max(-1, keepdim=True).values
    return ((flat - low) / (high - low)).view_as(maps)


def class_logits(class_maps: torch.Tensor) -> torch.Tensor:
    """(B, C) logits of (B, C, h, w) class maps: their spatial means (ACoL's and SPG's)."""
    return F.adaptive_avg_pool2d(class_maps, 1).flatten(1)


def label_maps(class_maps: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(B, h, w): each image's map of its label (B,) in (B, C, h, w) class maps, detached."""
    return class_maps.detach()[torch.arange(class_maps.shape[0], device=class_maps.device), labels]


def label_attention(class_maps: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(B, 1, h, w) normalised map of each image's label, detached (the reference's ``get_attention``)."""
    return normalize_maps(label_maps(class_maps, labels).unsqueeze(1))


def classifier(in_channels: int, num_classes: int, hidden: int = 1024) -> nn.Sequential:
    """ACoL's classifier: 3x3 conv to ``hidden`` (1024), ReLU, 3x3 conv, ReLU, 1x1 conv to the classes."""
    return nn.Sequential(nn.Conv2d(in_channels, hidden, kernel_size=3, stride=1, padding=1), nn.ReLU(inplace=False),
                         nn.Conv2d(hidden, hidden, kernel_size=3, stride=1, padding=1), nn.ReLU(inplace=False),
                         nn.Conv2d(hidden, num_classes, kernel_size=1, stride=1, padding=0))


class ACoLNet(WSOLBackbone):
    """A trunk and the two adversarial classifiers; subclasses build the trunk (:meth:`stages`).

    ``forward(images)`` gives classifier A's logits; ``forward(images, labels, outputs=True)``
    the training outputs (``logits``, ``logit_b``, ``feat_map_a``, ``feat_map_b``), erasing with
    ``labels`` (the predicted class when ``None``).
    """

    new_prefixes = ("classifier_A.", "classifier_B.")
    drop_threshold = 0.7

    def _heads(self, channels: int, hidden: int = 1024, builder=None) -> None:
        if self.pool != "gap":
            raise ValueError("ACoL's logits are the spatial means of its class maps: pool must be 'gap'")
        builder = builder or classifier
        self.classifier_A = builder(channels, self.num_classes, hidden)
        self.classifier_B = builder(channels, self.num_classes, hidden)

    def trunk(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> the (B, K, h, w) features both classifiers read."""
        return self.features(images)

    def head_params(self):
        raise NotImplementedError("ACoL has two convolutional classifiers, no linear head; use cams_and_logits")

    def acol_outputs(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> dict:
        feature = self.trunk(images)
        feat_map_a = self.classifier_A(feature)
        logits = class_logits(feat_map_a)
        labels = logits.argmax(1) if labels is None else labels
        attention = label_attention(feat_map_a, labels)
        keep = (~(attention >= self.drop_threshold)).to(feature.dtype)  # erased where attention >= threshold
        feat_map_b = self.classifier_B(feature * keep)
        return {"logits": logits, "logit_b": class_logits(feat_map_b),
                "feat_map_a": feat_map_a, "feat_map_b": feat_map_b}

    def forward(self, images, labels=None, *, outputs: bool = False):
        out = self.acol_outputs(images, labels)
        return out if outputs else out["logits"]

    def cams_and_logits(self, images: torch.Tensor, labels: torch.Tensor | None = None):
        out = self.acol_outputs(images, labels)
        labels = out["logits"].argmax(1) if labels is None else labels
        both = torch.max(normalize_maps(out["feat_map_a"].detach()), normalize_maps(out["feat_map_b"].detach()))
        cams = label_maps(both, labels)
        nan = torch.isnan(cams).flatten(1).any(1)
        return torch.where(nan[:, None, None], torch.zeros_like(cams), cams).float(), out["logits"]

    def cams(self, images, labels):
        return self.cams_and_logits(images, labels)[0]


class VGGACoL(ACoLNet):
    """VGG16 ACoL (the reference's ``VggAcol``)."""

    pretrained_discard = ("classifier.",)
    indexed_containers = ("features",)
    classifier_prefixes = ("classifier_A.", "classifier_B.")

    def __init__(self, *, num_classes: int, pool: str = "gap", large_feature_map: bool = False):
        super().__init__(num_classes=num_classes, pool=pool)
        self._modules["features"] = vgg.make_features(ACOL_CFG[bool(large_feature_map)])
        self._heads(512)
        init_weights(self, conv="xavier")

    def stages(self):
        return [(f"features.{i}", m) for i, m in enumerate(self._modules["features"])]

    def trunk(self, images):
        return F.avg_pool2d(self.features(images), kernel_size=3, stride=1, padding=1)


class ResNetACoL(ACoLNet):
    """ResNet50 ACoL (the reference's ``ResNetAcol``: He initialisation)."""

    pretrained_discard = ("fc.",)
    indexed_containers = ("layer1", "layer2", "layer3", "layer4")
    classifier_prefixes = ("layer4.", "fc.")  # the reference's name patterns for ResNet

    def __init__(self, *, num_classes: int, pool: str = "gap", large_feature_map: bool = False):
        super().__init__(num_classes=num_classes, pool=pool)
        channels = resnet.build_trunk(self, large_feature_map=large_feature_map)
        self._heads(channels)
        init_weights(self, conv="he")

    def stages(self):
        return [(n, getattr(self, n)) for n in (*resnet.STEM, "layer1", "layer2", "layer3", "layer4")]


class InceptionACoL(ACoLNet):
    """InceptionV3 ACoL (the reference's ``InceptionAcol``)."""

    pretrained_discard = inception.IMAGENET_DISCARD
    classifier_prefixes = ("classifier_A.", "classifier_B.")

    def __init__(self, *, num_classes: int, pool: str = "gap", large_feature_map: bool = False):
        super().__init__(num_classes=num_classes, pool=pool)
        self.large_feature_map = large_feature_map
        inception.build_trunk(self)
        self._heads(768)
        init_weights(self, conv="xavier")

    def stages(self):
        return [(n, getattr(self, n)) for n in inception.trunk_stage_names(self.large_feature_map)]


def bn_classifier(in_channels: int, num_classes: int, hidden: int) -> nn.Sequential:
    """ACoL's classifier with conv-BN-ReLU layers (the small CNN's)."""
    return nn.Sequential(ConvBNReLU(in_channels, hidden), ConvBNReLU(hidden, hidden),
                         nn.Conv2d(hidden, num_classes, kernel_size=1))


class SmallCNNACoL(ACoLNet):
    """The small CNN's ACoL model (wsolbench's, for the synthetic studies)."""

    classifier_prefixes = ("classifier_A.", "classifier_B.")

    def __init__(self, *, num_classes: int, pool: str = "gap", width: int = 16, stem_stride: int = 2):
        super().__init__(num_classes=num_classes, pool=pool)
        trunk = smallcnn.SmallCNN(num_classes=num_classes, width=width, stem_stride=stem_stride)
        self.stage1, self.stage2, self.stage3 = trunk.stage1, trunk.stage2, trunk.stage3
        self._heads(4 * width, hidden=8 * width, builder=bn_classifier)
        init_weights(self, conv="he")

    def stages(self):
        return [("stage1", self.stage1), ("stage2", self.stage2), ("stage3", self.stage3)]


@register_variant("smallcnn", "acol")
def smallcnn_acol(*, num_classes: int, pool: str = "gap", width: int = 16, stem_stride: int = 2) -> SmallCNNACoL:
    return SmallCNNACoL(num_classes=num_classes, pool=pool, width=width, stem_stride=stem_stride)


@register_variant("vgg16", "acol")
def vgg16_acol(*, num_classes: int, pool: str = "gap", large_feature_map: bool = False) -> VGGACoL:
    return VGGACoL(num_classes=num_classes, pool=pool, large_feature_map=large_feature_map)


@register_variant("resnet50", "acol")
def resnet50_acol(*, num_classes: int, pool: str = "gap", large_feature_map: bool = False) -> ResNetACoL:
    return ResNetACoL(num_classes=num_classes, pool=pool, large_feature_map=large_feature_map)


@register_variant("inception_v3", "acol")
def inception_v3_acol(*, num_classes: int, pool: str = "gap", large_feature_map: bool = False) -> InceptionACoL:
    return InceptionACoL(num_classes=num_classes, pool=pool, large_feature_map=large_feature_map)
