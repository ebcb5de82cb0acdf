"""WSOL backbones: one family per file, registered with :func:`register_backbone`.

Every backbone is a :class:`WSOLBackbone` with ``features``, ``classify`` and ``cams``.

Example:
    >>> from wsolbench.nn.backbones import create_backbone
    >>> model = create_backbone("smallcnn", num_classes=3)
    >>> model.num_classes
    3
"""

from wsolbench.nn.backbones import (alexnet, googlenet, inception, preresnet, resnet, senet,  # noqa: F401
                                    smallcnn, squeezenet, vgg)
from wsolbench.nn.backbones import acol, spg  # noqa: F401  (the ACoL and SPG models of vgg16/resnet50/inception_v3)
from wsolbench.nn.backbones.base import WSOLBackbone
from wsolbench.nn.backbones.registry import (BackboneInfo, backbone_info, canonical_backbone, check_backbone_options,
                                             create_backbone, list_backbones, register_backbone)

__all__ = ["WSOLBackbone", "BackboneInfo", "backbone_info", "canonical_backbone", "check_backbone_options",
           "create_backbone", "list_backbones", "register_backbone"]
