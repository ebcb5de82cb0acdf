"""COCO segmentations: checking them, decoding them to masks and encoding masks, with pycocotools.

A COCO ``segmentation`` is one of three things:

* polygons: ``[[x1, y1, x2, y2, ...], ...]`` in pixel coordinates, one list per part;
* uncompressed RLE: ``{"size": [height, width], "counts": [int, ...]}`` (column-major run lengths,
  starting with a run of zeros), COCO's form for ``iscrowd`` regions;
* compressed RLE: the same with ``counts`` as COCO's ASCII string (what ``pycocotools.mask.encode`` writes).

Decoding and encoding are pycocotools' (``frPyObjects``, ``merge``, ``decode``, ``encode``), the
field's implementation of exactly this format. What is written here is only the checking that
pycocotools does not do: it turns a polygon with an odd number of values into an empty mask, runs
that do not add up to ``height * width`` into a wrong mask, and a truncated compressed string into
arbitrary pixels, all without an error. :func:`check_segmentation` refuses those before they reach
it; :func:`rle_string_counts` reads a compressed string back into run lengths (the inverse of
pycocotools' ``rleToString``) so that its runs can be added up.

pycocotools is imported only when a mask is decoded or encoded (the ``[coco]`` extra).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from wsolbench.errors import AnnotationError
from wsolbench.optional import import_optional


def mask_utils():
    """``pycocotools.mask``, or a :class:`MissingDependencyError` saying how to install it."""
    return import_optional("pycocotools.mask", feature="reading COCO masks (polygons, RLE)", extra="coco",
                           alternative="or pass masks=false to read boxes only")


def has_segmentation(seg) -> bool:
    """Whether an annotation's ``segmentation`` holds anything (missing, ``None`` and ``[]`` do not)."""
    return seg is not None and seg != [] and seg != {}


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_polygons(seg: list) -> str | None:
    for k, poly in enumerate(seg):
        if not isinstance(poly, list) or not all(_is_number(v) for v in poly):
            return f"polygon {k} is not a list of numbers"
        if len(poly) < 6 or len(poly) % 2:
            return (f"polygon {k} has {len(poly)} values; a polygon is x1, y1, x2, y2, ... with at least 3 points "
                    "(an even number of values, at least 6)")
    return None


def rle_string_counts(text: str) -> list[int]:
    """The run lengths of a compressed COCO RLE string (pycocotools' ``rleFrString``).

    Each run is a little-endian sequence of 5-bit groups in characters ``'0' + value`` (bit 0x20:
    more groups follow; bit 0x10 of the last group: negative); from the fourth run on, a run is
    stored as its difference from the run two places before.

    Raises:
        ValueError: a character outside the alphabet, or a string that ends inside a run.
    """
    counts: list[int] = []
    p, n = 0, len(text)
    while p < n:
        x = k = 0
        more = True
        while more:
            if p >= n:
                raise ValueError("the string ends inside a run (truncated?)")
            c = ord(text[p]) - 48
            if not 0 <= c < 64:
                raise ValueError(f"character {text[p]!r} at position {p} is not part of COCO's RLE alphabet")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def _check_counts(counts: list, height: int, width: int) -> str | None:
    if any(c < 0 for c in counts):
        return "it has a negative run length"
    if sum(counts) != height * width:
        return (f"its runs cover {sum(counts):,} pixels, but the image has {height}x{width} = {height * width:,}; "
                "the RLE belongs to another image size or is truncated")
    return None


def _check_rle(seg: dict, height: int, width: int, *, full: bool) -> str | None:
    size, counts = seg.get("size"), seg.get("counts")
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) for v in size)):
        return f"RLE 'size' is {size!r}; it must be [height, width]"
    if size != [height, width]:
        return f"RLE 'size' {size} differs from the image's [height, width] = [{height}, {width}]"
    if isinstance(counts, list):
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in counts):
            return "RLE 'counts' must be whole numbers (uncompressed) or a string (compressed)"
        return _check_counts(counts, height, width)
    if not isinstance(counts, str):
        return f"RLE 'counts' is a {type(counts).__name__}; it must be a list of run lengths or COCO's string"
    if not full:
        return None
    try:
        return _check_counts(rle_string_counts(counts), height, width)
    except ValueError as e:
        return f"compressed RLE 'counts' cannot be read: {e}"


def check_segmentation(seg, height: int, width: int, *, full: bool = True) -> str | None:
    """What is wrong with one annotation's ``segmentation`` for a ``height`` x ``width`` image, or ``None``.

    Args:
        seg: the ``segmentation`` value (polygons, uncompressed or compressed RLE).
        height, width: the image's size.
        full: also read a compressed RLE string (costs time; listing skips it, decoding does it).
    """
    if isinstance(seg, list):
        return _check_polygons(seg)
    if isinstance(seg, dict):
        return _check_rle(seg, height, width, full=full)
    return f"'segmentation' is a {type(seg).__name__}; COCO allows polygons (a list of lists) or RLE (an object)"


def decode_segmentation(seg, height: int, width: int) -> np.ndarray:
    """A checked ``segmentation`` as a uint8 mask (height, width), 1 inside, with pycocotools.

    Raises:
        AnnotationError: a broken segmentation (see :func:`check_segmentation`); the caller adds
            the annotation id.
        MissingDependencyError: pycocotools is not installed.
    """
    problem = check_segmentation(seg, height, width, full=True)
    if problem:
        raise AnnotationError(problem)
    mask = mask_utils()
    if isinstance(seg, list):
        rle = mask.merge(mask.frPyObjects(seg, height, width))
    elif isinstance(seg["counts"], list):
        rle = mask.frPyObjects(seg, height, width)
    else:
        rle = {"size": [height, width], "counts": seg["counts"].encode("ascii")}
    with warnings.catch_warnings():      # pycocotools' compiled decode trips numpy 2's __array__(copy=) notice
        warnings.simplefilter("ignore", DeprecationWarning)
        decoded = mask.decode(rle)
    return np.ascontiguousarray(decoded, dtype=np.uint8)


def encode_mask(binary: np.ndarray) -> dict:
    """A boolean mask (height, width) as compressed RLE ``{"size": [h, w], "counts": str}`` (JSON-ready)."""
    rle = mask_utils().encode(np.asfortranarray(np.asarray(binary, dtype=np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}
