"""CAM (Zhou et al., CVPR 2016): train a GAP classifier with image labels; maps = classifier
weights applied to the last feature maps. Every hook is the base class's."""

from __future__ import annotations

from wsolbench.nn.methods.base import WSOLMethod
from wsolbench.nn.methods.registry import register_method


@register_method("cam")
class CAM(WSOLMethod):
    """Vanilla class activation mapping."""
