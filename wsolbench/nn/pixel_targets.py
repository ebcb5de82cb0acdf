"""Pixel-level targets of fully supervised images (the few-shot learning baseline trains on them).

An image's target at a square ``size x size`` frame (the frame its training image is resized to)
is two uint8 planes: ``foreground`` (1 inside the object) and ``valid`` (0 on pixels to ignore).
Mask datasets give both from their masks, brought to the frame exactly as the protocol brings GT
masks to its evaluation frame (:func:`wsolbench.metrics.gt.gt_mask`: nearest-neighbour resize,
union of the instances, ignore pixels outside the foreground). Box datasets fill their boxes,
scaled as the protocol scales GT boxes (:func:`wsolbench.metrics.gt.resize_boxes`; inclusive
corners), and ignore nothing.

Example:
    >>> import numpy as np
    >>> from wsolbench.datasets.records import ImageRecord
    >>> r = ImageRecord("a.png", (0,), image_size=(8, 8), boxes=np.array([[0.0, 0.0, 3.0, 3.0]]))
    >>> t = pixel_targets(r, size=4, image_path="a.png")
    >>> t.shape, t[0].tolist()
    ((2, 4, 4), [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
"""

from __future__ import annotations

import numpy as np

from wsolbench.datasets.images import image_size
from wsolbench.datasets.records import ImageRecord
from wsolbench.errors import DatasetError
from wsolbench.metrics.gt import gt_mask, resize_boxes

IGNORE = 255


def pixel_targets(record: ImageRecord, *, size: int, image_path) -> np.ndarray:
    """uint8 array (2, size, size): ``[foreground, valid]`` of one image (see the module docstring).

    Raises:
        DatasetError: the image has neither a mask nor a box (it is not fully supervised).
    """
    if record.masks is not None:
        frame = gt_mask(record.masks.load_at((size, size)), (size, size), image_id=record.image_id)
        return np.stack([frame == 1, frame != IGNORE]).astype(np.uint8)
    if len(record.boxes):
        size_wh = record.image_size or image_size(image_path)
        fg = np.zeros((size, size), np.uint8)
        for x0, y0, x1, y1 in resize_boxes(record.boxes, size_wh, (size, size), image_id=record.image_id):
            fg[y0:y1 + 1, x0:x1 + 1] = 1
        return np.stack([fg, np.ones_like(fg)])
    raise DatasetError(f"image '{record.image_id}' has no mask and no box: pixel-level training (the fsl "
                       "baseline) needs fully supervised images; train it on train-fullsup (val), which has them")
