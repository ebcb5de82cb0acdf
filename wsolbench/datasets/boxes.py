"""Validation of ground-truth boxes against their image size."""

from __future__ import annotations

import numpy as np

from wsolbench.errors import AnnotationError, where


def check_box(box, image_size, *, path=None, line: int | None = None, image_id: str | None = None) -> None:
    """Check an ``x0, y0, x1, y1`` box (original pixels, inclusive corners).

    A box may touch the far border (``x1 == width`` is tolerated, a common "one past" convention),
    but must not start before 0, end beyond the image or have ``x1 < x0`` / ``y1 < y0``.
    """
    x0, y0, x1, y1 = box
    loc = where(path, line, image_id)
    if x1 < x0 or y1 < y0:
        raise AnnotationError(f"{loc}box {list(box)} has x1 < x0 or y1 < y0; boxes are x0,y0,x1,y1 "
                              "(if your file has x,y,w,h, convert it: x1 = x + w, y1 = y + h)")
    if x0 < 0 or y0 < 0:
        raise AnnotationError(f"{loc}box {list(box)} has a negative coordinate; clip it to the image")
    if image_size is not None:
        w, h = image_size
        if x1 > w or y1 > h:
            raise AnnotationError(f"{loc}box {list(box)} lies outside the {w}x{h} image; "
                                  "check the image size or clip the box")


def checked_xml_boxes(boxes, image_size, *, xml_path, image_id: str, problems: list | None) -> np.ndarray:
    """The boxes of one XML annotation that pass :func:`check_box`, as float64 (K, 4).

    A bad box raises, or is reported to ``problems`` and left out when the caller collects problems
    (``wsolbench datasets check``). Messages name the file and the object's position in it.
    """
    from wsolbench.datasets.textfiles import report

    kept = []
    for k, box in enumerate(boxes):
        try:
            check_box(box, image_size, path=f"{xml_path} (object {k + 1})", image_id=image_id)
            kept.append(box)
        except AnnotationError as e:
            report(e, problems)
    return np.asarray(kept, np.float64).reshape(-1, 4)
