"""Building blocks shared by the backbones (plain torch; torchvision's parameter names).

Module attribute names here are part of the checkpoint format: ``BasicConv2d`` has ``conv`` and
``bn`` exactly like torchvision's Inception/GoogLeNet blocks, so ImageNet weights load by name.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

POOLS = ("gap", "gmp")


class BasicConv2d(nn.Module):
    """Conv (no bias) -> BatchNorm(eps) -> ReLU, torchvision's Inception/GoogLeNet block.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        eps: batch-norm epsilon (torchvision uses 0.001 in Inception and GoogLeNet).
        **conv_kwargs: ``kernel_size``, ``stride``, ``padding`` of the convolution.
    """

    def __init__(self, in_channels: int, out_channels: int, *, eps: float = 1e-3, **conv_kwargs):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **conv_kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


class BNReLU(nn.Module):
    """BatchNorm -> ReLU; replaces a bare ReLU after a convolution that had no batch norm
    (AlexNet-GAP), keeping the position (and so the parameter names) of the layers around it."""

    def __init__(self, channels: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(x), inplace=True)


class ConvBNReLU(nn.Sequential):
    """``Conv2d(k, padding=k//2, bias=False) -> BatchNorm2d -> ReLU`` as a Sequential (keys 0, 1)."""

    def __init__(self, in_channels: int, out_channels: int, *, kernel_size: int = 3, stride: int = 1):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation gate (Hu et al. 2018) with 1x1 convolutions ``fc1``/``fc2`` (timm's names).

    Args:
        channels: channels of the gated tensor.
        reduction: bottleneck ratio (16 in SE-ResNet).
    """

    def __init__(self, channels: int, *, reduction: int = 16):
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        s = self.fc2(F.relu(self.fc1(s), inplace=True))
        return x * torch.sigmoid(s)


def global_pool(feature_maps: torch.Tensor, kind: str) -> torch.Tensor:
    """Pool (B, K, h, w) feature maps to (B, K): ``gap`` (average, CAM) or ``gmp`` (max)."""
    if kind == "gap":
        return feature_maps.mean((2, 3))
    if kind == "gmp":
        return feature_maps.amax((2, 3))
    raise ValueError(f"unknown pooling {kind!r}; use one of {POOLS}")


INIT_MODES = ("he", "xavier")


def init_weights(module: nn.Module, *, conv: str = "he") -> None:
    """wsolevaluation's ``initialize_weights`` over ``module.modules()`` in order: convolutions He
    (``kaiming_normal_``, fan-out, ReLU) or Xavier-uniform (``conv``), bias 0; batch norms (1, 0);
    linears N(0, 0.01), bias 0 (when there is one). The reference uses ``he`` for VGG16-CAM/ADL and
    ResNet50-ACoL, ``xavier`` everywhere else."""
    if conv not in INIT_MODES:
        raise ValueError(f"conv init must be one of {INIT_MODES}, got {conv!r}")
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            if conv == "he":
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            else:
                nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def init_new_layer(module: nn.Module) -> None:
    """He (fan-out) init for convolutions, N(0, 0.01) for linears, (1, 0) for batch norms."""
    init_weights(module, conv="he")
