"""ACoL (Zhang et al., "Adversarial Complementary Learning for Weakly Supervised Object
Localization", CVPR 2018), as wsolevaluation trains it (``wsol/method/acol.py``).

The model (:mod:`wsolbench.nn.backbones.acol`: VGG16, ResNet50, InceptionV3) has two classifiers;
the second sees the features erased where the first one's attention on the label reaches
``acol_threshold`` (0.7, the reference's ``--acol_threshold``). The loss is the cross-entropy of
classifier A plus that of classifier B (on the same labels); accuracy and top-1 use A's logits.
Maps: ``max(norm(A_c), norm(B_c))`` of the class, as the reference computes them.

ACoL trains on single-label data (the erasing needs one class per image).
"""

from __future__ import annotations

import torch.nn.functional as F

from wsolbench.nn.methods.base import StepOutput, WSOLMethod
from wsolbench.nn.methods.registry import register_method


def single_labels(targets, method: str):
    """The (B,) class indices of ``targets``; multi-hot targets are an error for this method."""
    if not hasattr(targets, "ndim") or targets.ndim != 1:
        raise ValueError(f"{method} trains with one class per image (class indices); this dataset gives "
                         "multi-label targets: use --recipe with loss = \"ce\" (first label of each image)")
    return targets


@register_method("acol")
class ACoL(WSOLMethod):
    """Adversarial complementary learning; option ``acol_threshold`` (0.7)."""

    defaults = {"acol_threshold": 0.7}
    architecture = "acol"
    keeps_imagenet_head = False

    def check_options(self) -> None:
        if not 0.0 <= float(self.options["acol_threshold"]) <= 1.0:
            raise ValueError(f"acol: acol_threshold must be in [0, 1], got {self.options['acol_threshold']}")

    def prepare_model(self, model):
        model.drop_threshold = float(self.options["acol_threshold"])
        return model

    def training_step(self, model, images, labels, *, generator):
        labels = single_labels(labels, "acol")
        out = model(images, labels, outputs=True)
        loss = F.cross_entropy(out["logits"].float(), labels) + F.cross_entropy(out["logit_b"].float(), labels)
        return StepOutput(loss=loss, logits=out["logits"])
