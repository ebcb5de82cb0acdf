"""Class activation maps (Zhou et al., CVPR 2016).

``CAM_c = sum_k w_{c,k} F_k``: the feature maps weighted by the classifier row of class ``c``
(no bias: a constant shift, removed by the protocol's min-max normalisation anyway). Maps are
returned RAW at the feature resolution; the evaluation protocol resizes them (bicubic) to its
frame and min-max normalises them, which is exact and keeps score-map files small.
"""

from __future__ import annotations

import torch


def class_activation_maps(feature_maps: torch.Tensor, weight: torch.Tensor,
                          labels: torch.Tensor) -> torch.Tensor:
    """CAMs of the requested classes.

    Args:
        feature_maps: (B, K, h, w) last feature maps before global pooling.
        weight: (C, K) classifier weights.
        labels: (B,) class index per image (the GT class for GT-known, the predicted class for top-1).

    Returns:
        (B, h, w) float32 raw CAMs.

    Example:
        >>> f = torch.ones(1, 2, 3, 3); w = torch.tensor([[1.0, 2.0], [0.0, -1.0]])
        >>> class_activation_maps(f, w, torch.tensor([0]))[0, 0, 0].item()
        3.0
    """
    with torch.autocast(feature_maps.device.type, enabled=False):  # full precision even under bf16 autocast
        rows = weight[labels].to(torch.float32)  # (B, K)
        return torch.einsum("bkhw,bk->bhw", feature_maps.to(torch.float32), rows)
