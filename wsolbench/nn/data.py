"""The torch Dataset over an :class:`~wsolbench.datasets.AnnotationSet` (no torchvision).

Transforms are the wsolevaluation ones, in numpy/Pillow: training images are resized to
``resize x resize`` (bilinear), randomly cropped to ``size x size`` and randomly flipped; evaluation
images are resized to ``size x size``. Both are normalised with the ImageNet mean and std by default
(:class:`InputNorm`: ``mean`` subtracts the mean only, ``none`` keeps pixels in [0, 1]). Grayscale
images (1.8% of Tiny ImageNet, some of ILSVRC) are replicated to RGB when they are read.

Randomness is a pure function of ``(seed, epoch, index)``: the same sample gets the same crop in an
interrupted-and-resumed run, with any number of DataLoader workers or processes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from wsolbench.datasets.records import AnnotationSet
from wsolbench.errors import DatasetError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class InputNorm:
    """How pixels in [0, 1] become network inputs: ``(x - mean) / std`` per channel.

    Example:
        >>> InputNorm.named("mean").value_of((0.485, 0.456, 0.406)).flatten().tolist()
        [0.0, 0.0, 0.0]
    """

    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    @classmethod
    def named(cls, kind: str) -> "InputNorm":
        """``mean-std`` (ImageNet mean and std), ``mean`` (mean only) or ``none``."""
        if kind == "mean-std":
            return cls()
        if kind == "mean":
            return cls(std=(1.0, 1.0, 1.0))
        if kind == "none":
            return cls(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
        raise ValueError(f"unknown input normalisation {kind!r}; use mean-std, mean or none")

    def value_of(self, rgb, *, device=None) -> torch.Tensor:
        """(1, 3, 1, 1): the network input of a pixel of colour ``rgb`` (three values in [0, 1])."""
        return self.apply(torch.tensor(rgb, dtype=torch.float32, device=device).view(1, 3, 1, 1))

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """(..., 3, H, W) pixels in [0, 1] -> network inputs."""
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(3, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(3, 1, 1)
        return (x - mean) / std


def load_rgb(path, *, size_wh: tuple[int, int], image_id: str) -> np.ndarray:
    """Read an image as RGB and resize it (bilinear); returns (H, W, 3) uint8."""
    from PIL import Image

    if not os.path.isfile(path):
        raise DatasetError(f"{path}: image '{image_id}' not found; check the dataset root "
                           "(--image-root) and the image ids of the annotations")
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if im.size != tuple(size_wh):
                im = im.resize(tuple(size_wh), Image.BILINEAR)
            return np.asarray(im)
    except OSError as e:
        raise DatasetError(f"{path}: cannot decode image '{image_id}' ({e})") from e


def require_image_root(annotations: AnnotationSet) -> None:
    """Raise :class:`DatasetError` when ``annotations`` name no image folder (pass ``--image-root``)."""
    if not annotations.root:
        raise DatasetError(f"{annotations.source or annotations.name}: the annotations name no image folder; "
                           "pass --image-root DIR (the folder the image ids are relative to)")


def to_tensor(rgb: np.ndarray, norm: InputNorm = InputNorm()) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, H, W) float32 normalised by ``norm`` (the ImageNet mean/std by default)."""
    x = torch.from_numpy(np.array(rgb, dtype=np.uint8)).permute(2, 0, 1).float().div_(255.0)
    return norm.apply(x)


class WSOLDataset(Dataset):
    """Images and labels of an annotation set: ``dataset[i] -> (image (3, S, S), label, image_id)``.

    Args:
        annotations: the split; ``annotations.root`` is the folder image ids resolve against.
        train: random crop + flip (training) or a plain resize (evaluation).
        size: crop size S (the network input).
        resize: training images are first resized to ``resize x resize``.
        seed: base seed of the augmentation.
        num_classes: when given, labels are returned as multi-hot float vectors (C,) over the
            image's label set (multi-label training with BCE); else the (first) class index.
        pixel_targets: also return each image's pixel-level target, cropped and flipped with the
            image: ``dataset[i] -> (image, label, image_id, target (2, S, S) float: foreground,
            valid)`` (:mod:`wsolbench.nn.pixel_targets`; the few-shot learning baseline).
        norm: input normalisation (:class:`InputNorm`; ImageNet mean/std by default).
        flip: probability of the horizontal flip of a training image.

    Raises:
        DatasetError: no image root, or an image that cannot be read (with its id).

    Example:
        >>> ds = WSOLDataset(annotations, train=False, size=224)   # doctest: +SKIP
        >>> image, label, image_id = ds[0]                          # doctest: +SKIP
    """

    def __init__(self, annotations: AnnotationSet, *, train: bool, size: int = 224, resize: int = 256,
                 seed: int = 0, num_classes: int | None = None, pixel_targets: bool = False,
                 norm: InputNorm = InputNorm(), flip: float = 0.5):
        require_image_root(annotations)
        if train and resize < size:
            raise DatasetError(f"resize ({resize}) must be >= the crop size ({size})")
        self.annotations = annotations
        self.train = train
        self.size = int(size)
        self.resize = int(resize)
        self.seed = int(seed)
        self.num_classes = None if num_classes is None else int(num_classes)
        self.pixel_targets = bool(pixel_targets)
        self.norm = norm
        self.flip = float(flip)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation stream of an epoch (call before iterating)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.annotations)

    def _target(self, record):
        if self.num_classes is None:
            return record.label
        target = torch.zeros(self.num_classes)
        target[list(record.labels)] = 1.0
        return target

    def __getitem__(self, index: int):
        record = self.annotations.records[index]
        path = os.path.join(self.annotations.root, record.image_id)
        if not self.train:
            rgb = load_rgb(path, size_wh=(self.size, self.size), image_id=record.image_id)
            return self._item(record, to_tensor(rgb, self.norm), path, side=self.size, crop=None, flip=False)
        rgb = load_rgb(path, size_wh=(self.resize, self.resize), image_id=record.image_id)
        rng = np.random.default_rng((self.seed, self.epoch, index))
        y, x = rng.integers(0, self.resize - self.size + 1, size=2)
        rgb = rgb[y:y + self.size, x:x + self.size]
        flip = rng.random() < self.flip
        if flip:
            rgb = rgb[:, ::-1]
        return self._item(record, to_tensor(rgb, self.norm), path, side=self.resize, crop=(y, x), flip=flip)

    def _item(self, record, image: torch.Tensor, path: str, *, side: int, crop, flip: bool) -> tuple:
        if not self.pixel_targets:
            return image, self._target(record), record.image_id
        from wsolbench.nn.pixel_targets import pixel_targets

        planes = pixel_targets(record, size=side, image_path=path)
        if crop is not None:
            planes = planes[:, crop[0]:crop[0] + self.size, crop[1]:crop[1] + self.size]
        if flip:
            planes = planes[:, :, ::-1]
        return image, self._target(record), record.image_id, torch.from_numpy(np.ascontiguousarray(planes)).float()


class EpochSampler(Sampler):
    """A seeded shuffling sampler (or the identity order) whose order depends only on (seed, epoch).

    The single-process counterpart of ``DistributedSampler``; call :meth:`set_epoch` each epoch.
    """

    def __init__(self, n: int, *, shuffle: bool, seed: int = 0):
        self.n, self.shuffle, self.seed, self.epoch = int(n), shuffle, int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self):
        if not self.shuffle:
            return iter(range(self.n))
        g = torch.Generator()
        g.manual_seed(self.seed * 1_000_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())

    def __len__(self) -> int:
        return self.n
