"""Test-time multi-crop: CAMs and class scores averaged over 10 crops, in the full image's frame.

The classic 10-crop test (Krizhevsky et al. 2012; the CAM and Hide-and-Seek papers): the image is
resized so that a network-sized crop covers ``ratio`` of its side (``full = round(size / ratio)``,
256 for 224 crops at ratio 0.875), and the 4 corner crops, the centre crop and (``flips``) their
horizontal mirrors are classified. The class score is the mean of the crops' softmax
probabilities (returned as its log, so ``argmax`` is the predicted class); the map of a class is
the mean, at every pixel of the full image, of the maps of the crops that cover it (each crop's
map upsampled bilinearly to the crop, mirrored back). The map is returned at the feature stride of
the crops (``round(h * full / size)`` cells), covering the whole image, as raw maps are.

The Hide-and-Seek reproduction (CS4240) found that multi-crop testing hurts localisation on small
images; ``wsolbench study multicrop`` measures it on the synthetic benchmark.

Example:
    >>> mc = MultiCrop(ratio=0.875)
    >>> mc.full_size(224), mc.offsets(256, 224)
    (256, [(0, 0), (0, 32), (32, 0), (32, 32), (16, 16)])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

#: ``source(images (N, 3, S, S), labels (N,) or None) -> (maps (N, h, w), logits (N, C))``
MapSource = Callable[[torch.Tensor, torch.Tensor | None], tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class MultiCrop:
    """The 10-crop (or 5-crop without ``flips``) test.

    Attributes:
        ratio: crop side / full image side, in [0.5, 1] (0.875 = 224 of 256); at least 0.5 so
            that the corner crops cover every pixel.
        flips: add the mirror of every crop (10 crops instead of 5).
    """

    ratio: float = 0.875
    flips: bool = True

    def __post_init__(self):
        if not 0.5 <= float(self.ratio) <= 1.0:
            raise ValueError(f"multi-crop ratio must be in [0.5, 1] (crop side / image side), got {self.ratio}")

    @property
    def n_crops(self) -> int:
        return 10 if self.flips else 5

    def tag(self) -> str:
        """Short name for file names and attributes: ``multicrop10-0.875``."""
        return f"multicrop{self.n_crops}-{self.ratio:g}"

    def full_size(self, crop: int) -> int:
        """Side the images are resized to so that a ``crop``-pixel crop covers ``ratio`` of it."""
        return max(crop, round(crop / float(self.ratio)))

    def offsets(self, full: int, crop: int) -> list[tuple[int, int]]:
        """``(y, x)`` of the top-left corners: 4 corners, then the centre."""
        far, mid = full - crop, (full - crop) // 2
        return [(0, 0), (0, far), (far, 0), (far, far), (mid, mid)]

    def cams_and_logits(self, source: MapSource, images: torch.Tensor, labels: torch.Tensor | None, *,
                        crop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Maps and class scores of full images from their crops.

        Args:
            source: computes maps and logits of network-sized crops (a method's CAM, an explainer).
            images: (B, 3, F, F) images at ``full_size(crop)``.
            labels: (B,) classes whose maps are wanted; ``None`` = the class predicted from the
                averaged scores.
            crop: the network input side S.

        Returns:
            ``(maps (B, h', w'), log mean probabilities (B, C))``.
        """
        b, full = images.shape[0], images.shape[-1]
        crops, boxes = self._crops(images, crop)
        if labels is None:
            _, logits = source(crops, None)
            labels = _mean_log_prob(logits, b).argmax(1)
        maps, logits = source(crops, labels.repeat(len(boxes)))
        canvas = self._paste(maps.float(), boxes, b, full, crop)
        out = max(1, round(maps.shape[-1] * full / crop))
        return F.adaptive_avg_pool2d(canvas[:, None], out)[:, 0], _mean_log_prob(logits, b)

    def _crops(self, images: torch.Tensor, crop: int):
        boxes, pieces = [], []
        for y, x in self.offsets(images.shape[-1], crop):
            for flip in ((False, True) if self.flips else (False,)):
                piece = images[..., y:y + crop, x:x + crop]
                pieces.append(piece.flip(-1) if flip else piece)
                boxes.append((y, x, flip))
        return torch.cat(pieces), boxes

    @staticmethod
    def _paste(maps: torch.Tensor, boxes, b: int, full: int, crop: int) -> torch.Tensor:
        up = F.interpolate(maps[:, None], size=(crop, crop), mode="bilinear", align_corners=False)[:, 0]
        total = maps.new_zeros(b, full, full)
        count = maps.new_zeros(1, full, full)
        for k, (y, x, flip) in enumerate(boxes):
            piece = up[k * b:(k + 1) * b]
            total[:, y:y + crop, x:x + crop] += piece.flip(-1) if flip else piece
            count[:, y:y + crop, x:x + crop] += 1
        return total / count.clamp(min=1)


def _mean_log_prob(logits: torch.Tensor, b: int) -> torch.Tensor:
    """(K*B, C) logits of K crops (crop-major) -> (B, C) log of the mean softmax probability."""
    probs = torch.softmax(logits.float(), dim=1).view(-1, b, logits.shape[1]).mean(0)
    return probs.clamp(min=1e-30).log()
