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
from wsolbench.nn.backbones.base import WSOLBackbone
from wsolbench.nn.backbones.registry import (BackboneInfo, canonical_backbone, create_backbone, list_backbones,
                                             register_backbone)

__all__ = ["WSOLBackbone", "BackboneInfo", "canonical_backbone", "create_backbone", "list_backbones",
           "register_backbone"]
