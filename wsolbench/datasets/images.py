"""Image and mask file reading (Pillow), with clear errors."""

from __future__ import annotations

import os

import numpy as np

from wsolbench.errors import AnnotationError, where


def read_gray(path, *, image_id: str | None = None) -> np.ndarray:
    """Read an image file as a 2-D uint8 grayscale array (rows, cols), like ``cv2.IMREAD_GRAYSCALE``
    for 8-bit grayscale PNGs."""
    from PIL import Image

    if not os.path.isfile(path):
        raise AnnotationError(f"{where(path, None, image_id)}mask file not found; check --mask-root "
                              "and the paths in localization.txt")
    try:
        with Image.open(path) as im:
            if im.mode not in ("L", "1", "P", "I;16", "I"):
                im = im.convert("L")
            elif im.mode in ("1", "P"):
                im = im.convert("L")
            arr = np.asarray(im)
    except OSError as e:
        raise AnnotationError(f"{where(path, None, image_id)}cannot decode image ({e})") from e
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    return arr


def image_size(path) -> tuple[int, int]:
    """``(width, height)`` of an image file from its header, without decoding the pixels."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, FileNotFoundError) as e:
        raise AnnotationError(f"{path}: cannot read image header ({e})") from e
