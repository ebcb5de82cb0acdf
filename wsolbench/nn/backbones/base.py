"""The common interface of every WSOL backbone: ``features``, ``classify``, ``cams``.

A backbone is a trunk (ImageNet layers, named like torchvision's) followed by the WSOL head:
feature maps (B, K, h, w) -> global pooling (GAP, or GMP) -> linear classifier (C, K). The CAM of
class c is the classifier row c applied to the feature maps at every position.

Methods (``wsolbench.nn.methods``) may insert parameter-free or parametric modules after any
named stage, or after any child of a stage that is an ``nn.Sequential`` (``layer3.0``: the first
block of ResNet's ``layer3``), with ``insert_after``, e.g. an attention-based dropout layer,
without changing the trunk's parameter names (inserted modules live in ``inserted``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from wsolbench.nn.cam import class_activation_maps
from wsolbench.nn.layers import POOLS, global_pool


class WSOLBackbone(nn.Module):
    """Base class of the backbones.

    Subclasses build their modules, then implement :meth:`stages` and :meth:`head_params`, and
    set three class attributes (state-dict key prefixes):

    * ``new_prefixes``: layers added for WSOL (absent from ImageNet checkpoints).
    * ``pretrained_discard``: layers of the ImageNet checkpoint the WSOL variant dropped
      (e.g. VGG's ``classifier.``); ignored when loading ``--pretrained``.
    * ``pretrained_head``: the ImageNet classifier when the WSOL head has its shape (ResNet50's
      ``fc.``): wsolevaluation keeps it when training on ILSVRC (its 1000 classes) and replaces
      it elsewhere; these keys are also in ``new_prefixes``.
    * ``pretrained_renames``: ``(checkpoint prefix, model prefix)`` pairs applied to ImageNet keys
      whose layers the WSOL variant moved (SPG's ``features.17.`` -> ``SPG_A_1.0.``).
    * ``indexed_containers``: ``nn.Sequential`` attributes whose children are numbered (VGG's
      ``features``, ResNet's ``layer1``..``layer4``); a checkpoint whose numbering differs (pool4
      removed, ADL layers inside the Sequential in wsolevaluation) is re-indexed by order.
    * ``classifier_prefixes``: parameters trained at ``lr * lr_classifier_ratio`` (the field's
      x10 for new layers; for ResNet50 wsolevaluation also includes ``layer4.``).

    Args:
        num_classes: number of classes C.
        pool: ``gap`` (global average pooling, CAM) or ``gmp`` (global max pooling).
    """

    new_prefixes: tuple[str, ...] = ()
    pretrained_discard: tuple[str, ...] = ()
    pretrained_head: tuple[str, ...] = ()
    pretrained_renames: tuple[tuple[str, str], ...] = ()
    indexed_containers: tuple[str, ...] = ()
    classifier_prefixes: tuple[str, ...] = ()
    head_dropout: float = 0.0

    def __init__(self, *, num_classes: int, pool: str = "gap"):
        super().__init__()
        if pool not in POOLS:
            raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
        if int(num_classes) < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = int(num_classes)
        self.pool = pool
        self.inserted = nn.ModuleDict()

    # -- to implement -------------------------------------------------------------------
    def stages(self) -> list[tuple[str, nn.Module]]:
        """The feature extractor as an ordered list of ``(name, module)``; names are insertion points."""
        raise NotImplementedError

    def head_params(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Classifier ``(weight (C, K), bias (C,) or None)``."""
        raise NotImplementedError

    # -- the interface ------------------------------------------------------------------
    def features(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised images -> (B, K, h, w) feature maps before pooling."""
        x = images
        for name, module in self.stages():
            x = self._run_stage(name, module, x)
            x = self._run_inserted(name, x)
        return x

    def _run_stage(self, name: str, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        prefix = _point_key(name) + "__"
        if isinstance(module, nn.Sequential) and any(k.startswith(prefix) for k in self.inserted):
            for i, child in enumerate(module):
                x = self._run_inserted(f"{name}.{i}", child(x))
            return x
        return module(x)

    def _run_inserted(self, point: str, x: torch.Tensor) -> torch.Tensor:
        key = _point_key(point)
        return self.inserted[key](x) if key in self.inserted else x

    def classify(self, feature_maps: torch.Tensor) -> torch.Tensor:
        """(B, K, h, w) feature maps -> (B, C) logits: pool, then the linear classifier."""
        if self.head_dropout and self.training:
            feature_maps = F.dropout(feature_maps, self.head_dropout, training=True)
        weight, bias = self.head_params()
        return F.linear(global_pool(feature_maps, self.pool), weight, bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, C) logits."""
        return self.classify(self.features(images))

    def cams(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Raw class activation maps (B, h, w) of ``labels`` (B,) at the feature resolution."""
        return class_activation_maps(self.features(images), self.head_params()[0], labels)

    def cams_and_logits(self, images: torch.Tensor, labels: torch.Tensor | None = None):
        """One forward pass giving ``(cams (B, h, w), logits (B, C))``; ``labels=None`` = predicted class."""
        feature_maps = self.features(images)
        logits = self.classify(feature_maps)
        if labels is None:
            labels = logits.argmax(1)
        return class_activation_maps(feature_maps, self.head_params()[0], labels), logits

    # -- method hooks -------------------------------------------------------------------
    def insertion_points(self) -> list[str]:
        """Where a method may insert a module: every stage name, and ``STAGE.i`` for the children
        of stages that are ``nn.Sequential`` (e.g. ``layer4.0``, ``stage3.1``)."""
        points = []
        for name, module in self.stages():
            points.append(name)
            if isinstance(module, nn.Sequential):
                points += [f"{name}.{i}" for i in range(len(module))]
        return points

    def insert_after(self, point: str, module: nn.Module) -> None:
        """Run ``module`` on the output of stage ``point`` (see :meth:`insertion_points`)."""
        if point not in self.insertion_points():
            raise ValueError(f"no stage {point!r}; insertion points: {', '.join(self.insertion_points())}")
        self.inserted[_point_key(point)] = module

    # -- parameters ---------------------------------------------------------------------
    def pretrained_keys(self) -> list[str]:
        """State-dict keys an ImageNet checkpoint must provide (the trunk)."""
        return [k for k in self.state_dict() if not k.startswith(self.new_prefixes + ("inserted.",))]

    def param_groups(self, *, lr: float, classifier_ratio: float) -> list[dict]:
        """SGD parameter groups: trunk at ``lr``, ``classifier_prefixes`` at ``lr * classifier_ratio``.

        Inserted modules (methods' layers) count as new layers.
        """
        fast_prefixes = self.classifier_prefixes + ("inserted.",)
        slow, fast = [], []
        for name, p in self.named_parameters():
            (fast if name.startswith(fast_prefixes) else slow).append(p)
        groups = [{"params": slow, "lr": lr, "name": "trunk"},
                  {"params": fast, "lr": lr * classifier_ratio, "name": "classifier"}]
        return [g for g in groups if g["params"]]


def _point_key(name: str) -> str:
    return name.replace(".", "__")
