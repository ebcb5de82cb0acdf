"""Images without ground truth: an error by default, skipped only when asked, and then recorded.

An evaluation image with neither a box nor a mask cannot be localised against anything. Counted
as a miss it silently lowers every box metric (the 24-image example: MaxBoxAcc 95.83 -> 91.67 with
one box line deleted); the reference stops with a ``KeyError`` on it. wsolbench stops too, with a
message naming the images, unless the caller asks to skip them; a skipped image is left out of the
evaluation entirely (its map, if any, is ignored) and the result lists it
(``dataset.skipped_without_gt``), so the numbers say what they cover.

A split with no ground truth at all (a training split) is not affected: evaluation refuses it as
a whole elsewhere.

Example:
    >>> import numpy as np
    >>> from wsolbench.datasets.records import AnnotationSet, ImageRecord
    >>> gt = AnnotationSet([ImageRecord("a.jpg", (0,), (10, 10), np.array([[0., 0., 5., 5.]])),
    ...                     ImageRecord("b.jpg", (1,), (10, 10))], name="toy")
    >>> images_without_gt(gt)
    ['b.jpg']
    >>> kept, skipped = require_ground_truth(gt, skip=True)
    >>> len(kept), skipped
    (1, ['b.jpg'])
"""

from __future__ import annotations

import dataclasses

from wsolbench.datasets.records import AnnotationSet
from wsolbench.errors import AnnotationError

SKIP_OPTION = "--skip-images-without-gt"
SHOWN = 5


def images_without_gt(annotations: AnnotationSet) -> list[str]:
    """Ids of the images that have neither a box nor a mask, in a split that has ground truth."""
    if not (annotations.has_boxes or annotations.has_masks):
        return []
    return [r.image_id for r in annotations if len(r.boxes) == 0 and r.masks is None]


def missing_gt_message(annotations: AnnotationSet, missing: list[str]) -> str:
    """The one-line error for images without ground truth (also used by ``datasets check``)."""
    shown = ", ".join(repr(i) for i in missing[:SHOWN]) + (f" (and {len(missing) - SHOWN} more)"
                                                         if len(missing) > SHOWN else "")
    return (f"{annotations.source or annotations.name}: {len(missing)} image(s) have no ground-truth box or mask: "
            f"{shown}; counted as misses they would lower every metric (the reference stops on them): add their "
            f"annotations (boxes to localization.txt), or pass {SKIP_OPTION} (skip_images_without_gt=True) to leave "
            "them out (the result lists them)")


def require_ground_truth(annotations: AnnotationSet, *, skip: bool = False) -> tuple[AnnotationSet, list[str]]:
    """Refuse images without ground truth, or drop them when ``skip`` is set.

    Returns:
        ``(annotations to evaluate, ids left out)``; the first is ``annotations`` itself when nothing
        is missing.

    Raises:
        AnnotationError: images without ground truth and ``skip`` not set (naming them and the fix).
    """
    missing = images_without_gt(annotations)
    if not missing:
        return annotations, []
    if not skip:
        raise AnnotationError(missing_gt_message(annotations, missing))
    left_out = set(missing)
    kept = dataclasses.replace(annotations, records=[r for r in annotations if r.image_id not in left_out])
    return kept, missing
