"""Fit and held-out parts of a split: ``val[fit]`` and ``val[holdout]``.

A method that trains on the small fully supervised split (``train-fullsup``, wsolevaluation's
``val``), the few-shot learning baseline, cannot be selected on that same split. Its search trains
on ``SPLIT[fit]`` and scores on ``SPLIT[holdout]``: per class (the first label of each image), in
the split's own order, every :data:`HOLDOUT_EVERY`-th image (positions 4, 9, ...) is held out, the
others are fit. The rule is deterministic and needs no seed: CUB's 5 images per class give 4 + 1,
ImageNet's 10 give 8 + 2, OpenImages' 25 give 20 + 5, the synthetic benchmark's 10 give 8 + 2.

Example:
    >>> from wsolbench.datasets.records import AnnotationSet, ImageRecord
    >>> full = AnnotationSet([ImageRecord(f"{i}.png", (i % 2,)) for i in range(20)], split="val")
    >>> held = split_part(full, "holdout")
    >>> held.split, len(held), len(split_part(full, "fit"))
    ('val[holdout]', 4, 16)
"""

from __future__ import annotations

import dataclasses
import re

from wsolbench.datasets.records import AnnotationSet
from wsolbench.errors import DatasetError

HOLDOUT_EVERY = 5
PARTS = ("fit", "holdout")
_PATTERN = re.compile(r"^(?P<base>[^\[\]]+)\[(?P<part>[^\[\]]*)\]$")


def parse_split(split: str) -> tuple[str, str | None]:
    """``"val[fit]"`` -> ``("val", "fit")``; ``"val"`` -> ``("val", None)``."""
    if "[" not in split and "]" not in split:
        return split, None
    m = _PATTERN.match(split)
    if not m or m["part"] not in PARTS:
        raise DatasetError(f"split {split!r}: write SPLIT or SPLIT[PART] with PART one of {', '.join(PARTS)} "
                           "(e.g. val[fit], val[holdout])")
    return m["base"], m["part"]


def is_held_out(position: int) -> bool:
    """Whether the image at 0-based ``position`` within its class is held out."""
    return position % HOLDOUT_EVERY == HOLDOUT_EVERY - 1


def split_part(annotations: AnnotationSet, part: str) -> AnnotationSet:
    """The ``fit`` or ``holdout`` part of a split (see the module docstring)."""
    if part not in PARTS:
        raise DatasetError(f"unknown part {part!r} of split {annotations.split!r}; use one of {', '.join(PARTS)}")
    seen: dict[int, int] = {}
    chosen = []
    for record in annotations.records:
        position = seen.get(record.label, 0)
        seen[record.label] = position + 1
        if is_held_out(position) == (part == "holdout"):
            chosen.append(record)
    if not chosen:
        raise DatasetError(f"{annotations.source or annotations.name}: split {annotations.split!r} has no image for "
                           f"its {part} part (every {HOLDOUT_EVERY}th image of a class is held out; a class needs "
                           f"{HOLDOUT_EVERY} images to have one)")
    return dataclasses.replace(annotations, records=chosen, split=f"{annotations.split}[{part}]")
