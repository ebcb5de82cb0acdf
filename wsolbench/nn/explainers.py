"""Alternative map sources: torchcam's explainers (Grad-CAM, Grad-CAM++, Score-CAM, Layer-CAM, ...)
on any trained baseline, instead of the method's own CAM.

``--explainer torchcam:GradCAMpp`` computes, for every evaluation image, the explainer's map of
the GT class (and the logits) at the backbone's last feature layer, the layer CAM reads. Maps are
raw (``normalized=False``; Grad-CAM-style explainers apply their ReLU), so the protocol's min-max
normalisation treats them like CAMs. torchcam is an optional extra: ``pip install torchcam``
(``pip install 'wsolbench[torchcam]'``); it needs no torchvision.

Example:
    >>> source = make_map_source("torchcam:GradCAM", model)     # doctest: +SKIP
    >>> maps, logits = source(images, labels)                    # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from wsolbench.errors import MissingDependencyError, WsolbenchError

#: torchcam extractors that work with any backbone from its feature layer alone (CAM itself is the
#: method's own map; the others need the classifier layer and give the same maps).
TORCHCAM_EXPLAINERS = ("GradCAM", "GradCAMpp", "SmoothGradCAMpp", "XGradCAM", "LayerCAM", "ScoreCAM", "SSCAM",
                       "ISCAM")


def parse_explainer(spec: str) -> tuple[str, str]:
    """``torchcam:NAME`` -> ``("torchcam", NAME)``; a bad spec raises :class:`WsolbenchError`."""
    library, sep, name = spec.partition(":")
    if library != "torchcam" or not sep:
        raise WsolbenchError(f"explainer {spec!r}: expected torchcam:NAME, e.g. torchcam:GradCAMpp "
                             f"(names: {', '.join(TORCHCAM_EXPLAINERS)})")
    if name not in TORCHCAM_EXPLAINERS:
        raise WsolbenchError(f"explainer {spec!r}: unknown torchcam explainer {name!r}; "
                             f"choose one of {', '.join(TORCHCAM_EXPLAINERS)}")
    return library, name


def require_torchcam():
    try:
        import torchcam.methods as methods
    except ImportError as e:
        raise MissingDependencyError("--explainer torchcam:... needs torchcam: pip install torchcam "
                                     "(or pip install 'wsolbench[torchcam]')") from e
    return methods


def feature_layer(model) -> str:
    """Name (in ``model.named_modules()``) of the module whose output is the feature map the
    classifier pools: the last stage, or the module a method inserted after it."""
    from wsolbench.nn.backbones.base import _point_key

    last = model.stages()[-1][0]
    key = _point_key(last)
    if key in model.inserted:
        return f"inserted.{key}"
    return next(name for name, m in model.named_modules() if m is model.stages()[-1][1])


def make_map_source(spec: str, model, *, batch_size: int = 32) -> Callable:
    """A map source ``(images (B, 3, S, S), labels (B,) or None) -> (maps (B, h, w), logits (B, C))``.

    Args:
        spec: ``torchcam:NAME`` (see :data:`TORCHCAM_EXPLAINERS`).
        model: a trained backbone (eval mode).
        batch_size: Score-CAM family: masked inputs per forward pass.

    Raises:
        WsolbenchError: bad spec; MissingDependencyError: torchcam is not installed.
    """
    _, name = parse_explainer(spec)
    cls = getattr(require_torchcam(), name)
    kwargs = {"batch_size": batch_size} if name in ("ScoreCAM", "SSCAM", "ISCAM") else {}
    extractor = cls(model, target_layer=feature_layer(model), **kwargs)

    def source(images: torch.Tensor, labels: torch.Tensor | None):
        with torch.enable_grad():
            logits = model(images)
            classes = logits.argmax(1) if labels is None else labels
            maps = extractor(class_idx=[int(c) for c in classes], scores=logits, normalized=False)[0]
        return maps.detach().float(), logits.detach()

    source.extractor = extractor
    return source
