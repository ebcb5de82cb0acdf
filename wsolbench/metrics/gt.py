"""Ground truth into the evaluation frame: GT boxes and GT masks, exactly as the reference does it.

* :func:`resize_boxes` is wsolevaluation's ``resize_bbox``: each coordinate becomes
  ``int(x * new_w / w)`` (float64, multiply first, then divide, then truncate).
* :func:`gt_mask` is wsolevaluation's ``get_mask``: every instance mask as float32 ->
  nearest-neighbour resize (OpenCV ``INTER_NEAREST`` semantics) -> ``> 0.5``, OR-ed into the
  foreground; the ignore mask likewise; ``ignore = ignore & ~foreground``. Output: 1 = foreground,
  255 = ignore, 0 = background.

Example:
    >>> import numpy as np
    >>> resize_boxes(np.array([[60., 27., 385., 331.]]), (500, 335), (224, 224)).tolist()
    [[26, 18, 172, 221]]
"""

from __future__ import annotations

import numpy as np

from wsolbench.errors import AnnotationError, BoxConventionError, where
from wsolbench.metrics.resize import resize_nearest

FOREGROUND = 1
IGNORE = 255
BACKGROUND = 0


def _check_boxes(boxes, *, image_id: str | None) -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float64)
    if b.size == 0:
        return b.reshape(0, 4)
    if b.ndim != 2 or b.shape[1] != 4:
        raise BoxConventionError(f"{where(image_id=image_id)}expected boxes of shape (K, 4) as x0, y0, x1, y1, "
                                 f"got shape {b.shape}")
    bad = ~np.isfinite(b).all(axis=1) | (b < 0).any(axis=1) | (b[:, 2] < b[:, 0]) | (b[:, 3] < b[:, 1])
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise BoxConventionError(
            f"{where(image_id=image_id)}box {k} = {b[k].tolist()} is invalid: boxes must be finite, "
            "non-negative x0, y0, x1, y1 with x1 >= x0 and y1 >= y0 (inclusive corners, original pixels); "
            "fix the localization file")
    return b


def _check_size_wh(size_wh, what: str, *, image_id: str | None) -> np.ndarray:
    s = np.asarray(size_wh, dtype=np.float64).reshape(-1)
    if s.shape != (2,) or not np.isfinite(s).all() or (s <= 0).any():
        raise AnnotationError(f"{where(image_id=image_id)}{what} must be a positive (width, height), "
                              f"got {size_wh!r}; check image_sizes.txt")
    return s


_NUMBER = (int, float, np.integer, np.floating)
_SMALL = 2 ** 30       # integer coordinates below this in magnitude keep every int64 step exact in Python


def few_small_boxes(boxes: np.ndarray) -> list | None:
    """An image's few int64 (m, 4) boxes (m <= 16) as Python lists when every coordinate is below 2^30 in
    magnitude (then sums and products of them computed with Python ints equal NumPy's int64 ones), else
    ``None`` (use the array path)."""
    if len(boxes) > 16:
        return None
    few = boxes.tolist()
    return few if all(-_SMALL < v < _SMALL for box in few for v in box) else None
_EXACT = 2.0 ** 52          # floats and results below this convert to and from int64 exactly


def _size(size_wh) -> tuple[float, float] | None:
    """A positive finite (width, height) of plain numbers as floats, else ``None``."""
    if type(size_wh) not in (tuple, list) or len(size_wh) != 2:
        return None
    w, h = size_wh
    if not (isinstance(w, _NUMBER) and isinstance(h, _NUMBER)):
        return None
    w, h = float(w), float(h)
    return (w, h) if 0 < w < _EXACT and 0 < h < _EXACT else None


def _resize_few(boxes, image_size_wh, resolution_wh) -> np.ndarray | None:
    """:func:`resize_boxes` of an image's few valid boxes, in Python floats: the same IEEE float64
    operations (multiply, then divide, then truncate) without array overhead (3 instead of 20 us per
    image); ``None`` for anything else, which the array path checks and names."""
    if type(boxes) is not np.ndarray or boxes.dtype.kind not in "fi" or boxes.ndim != 2 or boxes.shape[1] != 4 \
            or len(boxes) > 16:
        return None
    old, new = _size(image_size_wh), _size(resolution_wh)
    if old is None or new is None:
        return None
    (ow, oh), (nw, nh) = old, new
    out = []
    for x0, y0, x1, y1 in boxes.tolist():
        # valid (finite, non-negative, ordered) and small enough that every step is exact as in NumPy
        if not (0 <= x0 <= x1 < _EXACT and 0 <= y0 <= y1 < _EXACT):
            return None
        out.append((int(float(x0) * nw / ow), int(float(y0) * nh / oh), int(float(x1) * nw / ow),
                    int(float(y1) * nh / oh)))
    if any(v >= _EXACT for box in out for v in box):
        return None
    return np.array(out, np.int64).reshape(-1, 4)


def resize_boxes(boxes, image_size_wh, resolution_wh, *, image_id: str | None = None) -> np.ndarray:
    """Rescale GT boxes from the original image to the evaluation frame (the reference ``resize_bbox``).

    Each coordinate becomes ``int(x * new_w / w)`` (``y`` with the heights): float64 multiply, then
    divide, then truncation toward zero, so both corners shrink toward the origin by up to 1 px.

    Args:
        boxes: array (K, 4) of ``x0, y0, x1, y1`` in original pixels (inclusive corners).
        image_size_wh: original ``(width, height)``.
        resolution_wh: evaluation frame ``(width, height)``, e.g. ``(224, 224)``.
        image_id: used in error messages.

    Returns:
        int64 array (K, 4) of ``x0, y0, x1, y1`` in the evaluation frame.

    Raises:
        BoxConventionError: negative or non-finite coordinates, ``x1 < x0`` or ``y1 < y0`` (the
            reference's ``check_box_convention``). AnnotationError: a non-positive size.
    """
    few = _resize_few(boxes, image_size_wh, resolution_wh)
    if few is not None:
        return few
    b = _check_boxes(boxes, image_id=image_id)
    old_w, old_h = _check_size_wh(image_size_wh, "the image size", image_id=image_id)
    new_w, new_h = _check_size_wh(resolution_wh, "the evaluation resolution", image_id=image_id)
    new = np.array([new_w, new_h, new_w, new_h])
    old = np.array([old_w, old_h, old_w, old_h])
    return np.trunc(b * new / old).astype(np.int64)


def _binary_at(mask, size_wh, *, image_id: str | None, what: str) -> np.ndarray:
    """``resize_nearest(float32(mask)) > 0.5`` as bool (rows, cols) of the frame."""
    m = np.asarray(mask)
    if m.ndim != 2 or m.shape[0] < 1 or m.shape[1] < 1:
        raise AnnotationError(f"{where(image_id=image_id)}{what} must be a non-empty 2-D array (rows, cols), "
                              f"got shape {m.shape}; masks are single-channel images")
    # Nearest resizing is a gather, so gathering first and converting after is the same computation;
    # a mask already in the frame is its own resize (MaskSource.load_at), and uint8 v > 0.5 is v != 0.
    if m.shape != (size_wh[1], size_wh[0]):
        m = resize_nearest(m, size_wh)
    return m != 0 if m.dtype in (np.uint8, np.bool_) else m.astype(np.float32) > 0.5


def _counts_for(label, class_index: int | None) -> bool:
    return class_index is None or label is None or label == class_index


def gt_mask(masks, resolution_wh, *, class_index: int | None = None,
            image_id: str | None = None) -> np.ndarray:
    """The GT mask of one image in the evaluation frame (the reference ``get_mask``).

    Every instance mask is converted to float32, resized with nearest neighbour to the frame and
    binarised with ``> 0.5`` (so 0/255 PNGs and 0/1 arrays give the same result); the foreground is
    their union. The ignore mask is resized and binarised the same way, minus the foreground.

    With ``class_index``, only instances whose label equals it (or is ``None``: an unlabelled
    instance belongs to the image's class) are foreground; other classes' instances are background
    for this class and the ignore (void) mask stays ignore. This is the mask of class ``c`` for
    per-class PxAP (multi-label data such as PASCAL VOC).

    Args:
        masks: a :class:`wsolbench.datasets.records.GTMasks` (arrays at original resolution).
        resolution_wh: evaluation frame ``(width, height)``.
        class_index: restrict the foreground to this class's instances.
        image_id: used in error messages.

    Returns:
        uint8 array (height, width): 1 = foreground, 255 = ignore, 0 = background. An image without
        instances is all background (plus ignore).

    Example:
        >>> from wsolbench.datasets.records import GTMasks
        >>> inst = np.zeros((4, 4), np.uint8); inst[:2, :2] = 255
        >>> ign = np.zeros((4, 4), np.uint8); ign[:, :3] = 1
        >>> gt_mask(GTMasks([inst], [None], ign), (4, 4)).tolist()
        [[1, 1, 255, 0], [1, 1, 255, 0], [255, 255, 255, 0], [255, 255, 255, 0]]
    """
    out_w, out_h = (int(v) for v in _check_size_wh(resolution_wh, "the evaluation resolution", image_id=image_id))
    labels = list(masks.instance_labels) + [None] * (len(masks.instances) - len(masks.instance_labels))
    fg = np.zeros((out_h, out_w), dtype=bool)
    for k, (inst, label) in enumerate(zip(masks.instances, labels)):
        if _counts_for(label, class_index):
            fg |= _binary_at(inst, (out_w, out_h), image_id=image_id, what=f"instance mask {k}")
    out = fg.astype(np.uint8)
    if masks.ignore is not None:
        ignore = _binary_at(masks.ignore, (out_w, out_h), image_id=image_id, what="the ignore mask") & ~fg
        out[ignore] = IGNORE
    return out
