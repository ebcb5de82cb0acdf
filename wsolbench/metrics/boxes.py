"""Boxes from thresholded score maps and their IoU with ground-truth boxes, exactly as the
wsolevaluation reference (clovaai/wsolevaluation ``evaluation.py``) computes them, fast.

Conventions (the reference's, quirks included):

* The map is quantised ``u8 = (float64(map) * 255).astype(uint8)`` (truncation). At CAM threshold
  ``tau`` the foreground is ``u8 > int(tau * u8.max())``.
* Regions are the 8-connected foreground components and, in ``all`` mode, the holes (4-connected
  background components off the image border). A component's box is
  ``[min_x, min_y, min(max_x + 1, W - 1), min(max_y + 1, H - 1)]`` (OpenCV ``boundingRect`` plus the
  reference's off-by-one); a hole's box is that of the foreground ring around it.
* ``largest`` mode keeps the one component whose outer contour has the largest ``cv2.contourArea``;
  ties go to the component that comes last in raster order of its first pixel.
* An empty foreground (only when ``u8.max() == 0``) gives the single box ``[0, 0, 0, 0]``.
* IoU uses inclusive +1 pixel arithmetic; the best IoU of an image at a threshold is the max over
  its extracted boxes and its GT boxes.

:func:`best_ious` evaluates every threshold of a grid in two union-find sweeps over the uint8
levels (the compiled engine, :mod:`wsolbench.metrics.boxkernel`), so its cost does not grow with
the grid; ``docs/engine.md`` has its cost model and measured speed.

Example:
    >>> import numpy as np
    >>> from wsolbench.metrics.boxes import best_ious, extract_boxes
    >>> m = np.zeros((8, 8)); m[2:5, 1:4] = 1.0
    >>> extract_boxes(m, 0.5).tolist()
    [[1, 2, 4, 5]]
    >>> r = best_ious(m, np.array([[1, 2, 3, 4]]), np.array([0.0, 0.5]))
    >>> r.largest.tolist()
    [0.5625, 0.5625]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wsolbench.errors import BoxConventionError, FormatError, ProtocolError
from wsolbench.metrics import boxkernel
from wsolbench.metrics.native import engine, ptr, raw_entry
from wsolbench.metrics.resize import check_raw_map, fuses_boxes, postprocess_map, tap_args

REGIONS = ("largest", "all")
_F64, _F32, _I64 = np.dtype(np.float64), np.dtype(np.float32), np.dtype(np.int64)
_new = object.__new__


@dataclass(frozen=True, eq=False)
class BestIoU:
    """Per-threshold best IoU of one image.

    Attributes:
        largest: float64 (T,) best IoU per CAM threshold, largest region only (MaxBoxAcc).
        all: float64 (T,) best IoU over all regions, holes included (MaxBoxAccV2); ``None`` if not
            requested.
        thresholds: float64 (T,) the CAM-threshold grid they were computed on (set by
            :func:`best_ious`; accumulators refuse IoUs of another grid), or ``None`` if unknown.
    """

    largest: np.ndarray
    all: np.ndarray | None
    thresholds: np.ndarray | None = None


def _engine_best(rows: np.ndarray, all_regions: bool, thresholds: np.ndarray) -> BestIoU:
    """The :class:`BestIoU` of the engine's (2, 1, T) result: ``largest`` and ``all`` are the rows
    ``rows[0, 0]`` and ``rows[1, 0]``, and the object keeps ``rows`` (see :func:`iou_rows`). Built
    without the frozen dataclass's ``__init__`` (three ``object.__setattr__``: 0.65 instead of 0.2 us)."""
    best = _new(BestIoU)
    d = best.__dict__
    d["largest"] = rows[0, 0]
    d["all"] = rows[1, 0] if all_regions else None
    d["thresholds"] = thresholds
    d["_rows"] = rows
    return best


def iou_rows(best: BestIoU, n_modes: int) -> np.ndarray:
    """The best IoUs of the first ``n_modes`` region modes (``largest``, then ``all``) as one
    (n_modes, 1, T) array, for comparing both modes with the IoU thresholds at once: a view of the
    engine's result where ``best`` came from it unchanged, else a new array."""
    rows = best.__dict__.get("_rows")
    # only _engine_best sets _rows, with largest = rows[0, 0] and all = rows[1, 0]; a copy, pickle or
    # replace() of the object has arrays of their own (another base) or no _rows
    if rows is not None and best.largest.base is rows and (n_modes == 1 or best.all.base is rows):
        return rows if n_modes == 2 else rows[:1]
    return np.stack([best.largest, best.all][:n_modes])[:, None, :]


def _check_scoremap(scoremap) -> np.ndarray:
    """The map as an array, or a :class:`FormatError` saying what is wrong and how to fix it."""
    arr = np.asarray(scoremap)
    if arr.dtype.kind not in "biuf":
        raise FormatError(f"a score map must hold real numbers, got dtype {arr.dtype}; "
                          "store maps as float32 or float64 in [0, 1]")
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise FormatError(f"a score map must be a non-empty 2-D array (H, W), got shape {arr.shape}; "
                          "pass one map at a time (a 1-D signal as a (1, L) array)")
    if not np.isfinite(arr).all():
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise FormatError(f"a score map has {bad} NaN or infinite values; replace them (the reference "
                          "normalisation turns a map with NaN into zeros) before evaluating")
    lo, hi = arr.min(), arr.max()
    if lo < 0 or hi > 1:
        raise FormatError(f"score map values must lie in [0, 1], found [{lo}, {hi}]; "
                          "min-max normalise the map (the protocol's 'minmax' normalization)")
    return arr


def quantize(scoremap: np.ndarray) -> np.ndarray:
    """The reference quantisation of a score map.

    Args:
        scoremap: (H, W) real map with values in [0, 1].

    Returns:
        uint8 (H, W) ``(float64(map) * 255).astype(uint8)`` (truncation, not rounding).

    Raises:
        FormatError: the map is not 2-D, not finite or not within [0, 1].

    Example:
        >>> quantize(np.array([[0.0, 0.5, 1.0]])).tolist()
        [[0, 127, 255]]
    """
    arr = _check_scoremap(scoremap)
    return (arr.astype(np.float64) * 255).astype(np.uint8)


def _check_thresholds(thresholds) -> np.ndarray:
    t = np.asarray(thresholds, dtype=np.float64)
    if t.ndim == 0:
        t = t.reshape(1)
    if t.ndim != 1 or t.size == 0:
        raise ProtocolError(f"CAM thresholds must be a non-empty 1-D array, got shape {t.shape}; "
                            "use Protocol.cam_thresholds() (np.arange(0, 1, step))")
    if not (t.min() >= 0 and t.max() < 1):              # a NaN minimum or maximum fails the comparison
        raise ProtocolError(f"CAM thresholds must lie in [0, 1), found [{t.min()}, {t.max()}]; "
                            "use Protocol.cam_thresholds() (np.arange(0, 1, step))")
    return t


def _as_int_boxes(boxes, name: str, error) -> np.ndarray:
    """(n, 4) int64 boxes, or ``error`` (an exception class) explaining the problem."""
    arr = np.asarray(boxes)
    if arr.ndim == 1 and arr.size == 4:
        arr = arr.reshape(1, 4)
    if arr.size == 0:
        return np.zeros((0, 4), np.int64)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise error(f"{name} must be an (n, 4) array of x0, y0, x1, y1 boxes, got shape {arr.shape}")
    if arr.dtype.kind not in "iuf" or (arr.dtype.kind == "f" and not np.array_equal(arr, np.trunc(arr))):
        raise error(f"{name} must hold integer pixel coordinates, got {arr.dtype} values such as "
                    f"{arr.reshape(-1)[:4].tolist()}; bring GT boxes to the evaluation frame with "
                    "int() truncation (the reference resize_bbox)")
    out = arr.astype(np.int64)
    if len(out) <= 16:       # an image's few boxes: checked in Python, faster than four array operations
        first = next((b for b in out.tolist() if b[0] < 0 or b[1] < 0 or b[2] < b[0] or b[3] < b[1]), None)
    else:
        bad = (out < 0).any(axis=1) | (out[:, 2] < out[:, 0]) | (out[:, 3] < out[:, 1])
        first = out[np.argmax(bad)].tolist() if bad.any() else None
    if first is not None:
        raise error(f"{name}: box {first} has a negative coordinate or x1 < x0 "
                    "or y1 < y0; boxes are x0, y0, x1, y1 with inclusive corners")
    return out


def _engine_thresholds(thresholds) -> np.ndarray:
    """The thresholds for the engine: a non-empty C-contiguous float64 (T,) array as it is (the
    engine checks the values and refuses with ``BAD_THRESHOLDS``), anything else through
    :func:`_check_thresholds`."""
    t = thresholds
    if type(t) is np.ndarray and t.dtype is _F64 and t.ndim == 1 and t.size and t.flags.c_contiguous:
        return t
    return np.ascontiguousarray(_check_thresholds(thresholds))


def _engine_boxes(gt_boxes) -> np.ndarray:
    """The GT boxes for the engine: a C-contiguous int64 (m, 4) array as it is (the engine checks
    the values and refuses with ``BAD_GT``), anything else through :func:`_as_int_boxes`."""
    b = gt_boxes
    if type(b) is np.ndarray and b.dtype is _I64 and b.ndim == 2 and b.shape[1] == 4 and b.flags.c_contiguous:
        return b
    return np.ascontiguousarray(_as_int_boxes(gt_boxes, "GT boxes", BoxConventionError))


def _engine_args(gt_boxes, thresholds) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_engine_boxes` and :func:`_engine_thresholds`; the boxes' errors come first, as ever."""
    gt = _engine_boxes(gt_boxes)
    try:
        t = _engine_thresholds(thresholds)
    except Exception:
        if gt is gt_boxes:                     # values not checked yet (the engine would have)
            _as_int_boxes(gt_boxes, "GT boxes", BoxConventionError)
        raise
    return gt, t


def _refused(rc: int, *, raw=None, gt_boxes=None, thresholds=None, image_id: str | None = None):
    """Raise the error of an argument the engine refused (``rc`` < 0): the Python check of that
    argument names the problem, with the message it always had."""
    if rc == boxkernel.BAD_SOURCE:
        check_raw_map(raw, image_id=image_id)
    elif rc == boxkernel.BAD_GT:
        _as_int_boxes(gt_boxes, "GT boxes", BoxConventionError)
    elif rc == boxkernel.BAD_THRESHOLDS:
        _check_thresholds(thresholds)
    raise RuntimeError(f"the box engine refused its arguments (code {rc}) but their checks pass; "
                       "were the arrays changed by another thread during the call?")


def box_iou(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """IoU of every pair of boxes, the reference ``calculate_multiple_iou``.

    Args:
        boxes_a: int (n, 4) boxes ``x0, y0, x1, y1`` (inclusive corners); a single (4,) box is allowed.
        boxes_b: int (m, 4) boxes.

    Returns:
        float64 (n, m) ``inter / (area_a + area_b - inter)`` with ``area = (x1-x0+1)(y1-y0+1)``.

    Raises:
        BoxConventionError: a box has a negative coordinate or ``x1 < x0`` / ``y1 < y0``, or a bad shape
            (a ``ValueError`` and, as in wsolevaluation, a ``RuntimeError``).

    Example:
        >>> box_iou(np.array([[0, 0, 0, 0]]), np.array([[0, 0, 1, 0]])).tolist()
        [[0.5]]
    """
    a = _as_int_boxes(boxes_a, "boxes_a", BoxConventionError)[:, None, :]
    b = _as_int_boxes(boxes_b, "boxes_b", BoxConventionError)[None, :, :]
    iw = np.maximum(0, np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]) + 1)
    ih = np.maximum(0, np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]) + 1)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0] + 1) * (a[..., 3] - a[..., 1] + 1)
    area_b = (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def _levels(u8: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """The reference's integer threshold ``int(tau * u8.max())`` for each tau (int64 (T,))."""
    return np.floor(thresholds * int(u8.max())).astype(np.int64)


def _engine_map(scoremap) -> np.ndarray:
    """The map as a C-contiguous float32/float64 2-D array for the engine (other dtypes and bad
    shapes go through :func:`_check_scoremap`, which explains what is wrong)."""
    arr = np.asarray(scoremap)
    if arr.dtype not in (np.float32, np.float64) or arr.ndim != 2 or 0 in arr.shape:
        arr = _check_scoremap(arr).astype(np.float64)
    return np.ascontiguousarray(arr)


def best_ious(scoremap: np.ndarray, gt_boxes: np.ndarray, thresholds: np.ndarray, *,
              all_regions: bool = True) -> BestIoU:
    """Best IoU of the extracted boxes with the GT boxes at every CAM threshold.

    Args:
        scoremap: (H, W) map in [0, 1], already in the evaluation frame.
        gt_boxes: int (m, 4) GT boxes ``x0, y0, x1, y1`` in that frame. With m == 0 every IoU is 0.
        thresholds: float64 (T,) CAM thresholds in [0, 1) (the reference grid ``np.arange(0, 1, step)``).
        all_regions: also compute the all-regions (holes included) IoUs for MaxBoxAccV2.

    Returns:
        :class:`BestIoU` with float64 (T,) arrays.

    Raises:
        FormatError: bad map. BoxConventionError (an AnnotationError): bad GT boxes. ProtocolError: bad
            thresholds.
    """
    arr = _engine_map(scoremap)
    gt, t = _engine_args(gt_boxes, thresholds)
    rows, rc = boxkernel.best_ious_levels(arr, t, gt, all_regions)
    if rc > 0:
        _check_scoremap(arr)                   # raises the FormatError that names the problem
    if rc < 0:
        _refused(rc, gt_boxes=gt_boxes, thresholds=thresholds)
    return _engine_best(rows, all_regions, t)


def postprocess_best_ious(raw, protocol, gt_boxes: np.ndarray, thresholds: np.ndarray, *, all_regions: bool = True,
                          image_id: str | None = None) -> tuple[np.ndarray, bool, BestIoU]:
    """A raw map's post-processing and its best IoUs, in one engine call where the protocol allows.

    The same results as ``m, constant = postprocess_map(raw, protocol, normalized=False)`` followed by
    ``best_ious(m, gt_boxes, thresholds)``, bit for bit. Under min-max normalisation after a bicubic
    resize (or none: the reference protocol) the engine resizes, normalises and quantises the map in
    one call (``wsb_raw_best_ious``): the quantisation happens in the normalisation's pass, so the
    float64 map is written once and not read back; otherwise the two functions run one after the
    other.

    Args:
        raw: (rows, cols) raw map, any real dtype (as :func:`~wsolbench.metrics.resize.postprocess_map`).
        protocol: a :class:`wsolbench.protocol.Protocol`.
        gt_boxes, thresholds, all_regions: as :func:`best_ious` (boxes in the evaluation frame).
        image_id: used in error messages.

    Returns:
        ``(map, constant, best)``: the post-processed float64 map (the evaluator's other metrics use
        it), whether the raw map was constant or had NaN, and the :class:`BestIoU`.

    Example:
        >>> from wsolbench.protocol import get_protocol
        >>> cam = np.zeros((7, 7)); cam[2:5, 2:5] = 1.0
        >>> m, constant, best = postprocess_best_ious(cam, get_protocol(), np.array([[64, 64, 160, 160]]),
        ...                                           np.array([0.5]))
        >>> m.shape, constant, round(float(best.largest[0]), 3)
        ((224, 224), False, 1.0)
    """
    arr = raw
    if type(arr) is np.ndarray and (arr.dtype is _F64 or arr.dtype is _F32) and arr.ndim == 2 and arr.size \
            and fuses_boxes(protocol, arr.shape):
        arr = np.ascontiguousarray(arr, dtype=np.float64)    # its values are checked by the engine
    else:
        arr = check_raw_map(raw, image_id=image_id)
        if not fuses_boxes(protocol, arr.shape):
            m, constant = postprocess_map(arr, protocol, normalized=False, image_id=image_id)
            return m, constant, best_ious(m, gt_boxes, thresholds, all_regions=all_regions)
        arr = np.ascontiguousarray(arr, dtype=np.float64)
    try:
        gt, t = _engine_args(gt_boxes, thresholds)
    except Exception:
        check_raw_map(arr, image_id=image_id)  # the map's error comes first, as it is checked first
        raise
    (h, w), out_w, out_h, nt = arr.shape, protocol.width, protocol.height, len(t)
    pix, pwx, kx, _ = tap_args("cubic", w, out_w)       # cached with the arrays they point into
    piy, pwy, ky, _ = tap_args("cubic", h, out_h)
    out, rows = np.empty((out_h, out_w)), np.empty((2, 1, nt))
    entry = raw_entry()
    if entry is not None:                      # the built extension: arrays passed as they are
        rc = entry(arr, out, t, gt, rows, h, w, out_h, out_w, pix, pwx, kx, piy, pwy, ky, int(all_regions))
    else:
        rc = engine().wsb_raw_best_ious(ptr(arr), h, w, out_h, out_w, pix, pwx, kx, piy, pwy, ky, ptr(out), ptr(t),
                                        nt, ptr(gt), len(gt), int(all_regions), ptr(rows))
    if rc < 0:
        if rc == boxkernel.OUT_OF_MEMORY:
            raise MemoryError(f"the box engine could not allocate its buffers for a {out_h}x{out_w} map")
        _refused(rc, raw=arr, gt_boxes=gt_boxes, thresholds=thresholds, image_id=image_id)
    if rc > 1:
        _check_scoremap(out)                   # raises the FormatError that names the problem
    return out, bool(rc & 1), _engine_best(rows, all_regions, t)


def extract_boxes(scoremap: np.ndarray, threshold: float, *, regions: str = "largest") -> np.ndarray:
    """Boxes of the regions of a map at one CAM threshold.

    Args:
        scoremap: (H, W) map in [0, 1].
        threshold: CAM threshold tau in [0, 1).
        regions: ``largest`` (the largest-contour component) or ``all`` (every component, then
            every hole, each in raster order of its first pixel).

    Returns:
        int64 (n, 4) boxes ``x0, y0, x1, y1`` in the reference convention; ``[[0, 0, 0, 0]]`` when the
        foreground is empty.

    Example:
        >>> m = np.zeros((6, 6)); m[1:5, 1:5] = 1.0; m[2:4, 2:4] = 0.0
        >>> extract_boxes(m, 0.5, regions="all").tolist()
        [[1, 1, 5, 5], [1, 1, 5, 5]]
    """
    if regions not in REGIONS:
        raise ValueError(f"regions must be one of {REGIONS}, got {regions!r}")
    u8 = quantize(scoremap)
    tau = float(_check_thresholds(threshold)[0])
    H, W = u8.shape
    thr = int(_levels(u8, np.array([tau]))[0])
    if thr >= int(u8.max()):
        return np.zeros((1, 4), np.int64)
    flat = np.ascontiguousarray(u8).reshape(-1)
    extents, _, largest = boxkernel.components_at(flat, W, H, None, None, thr)
    if regions == "largest":
        return _component_boxes(extents[largest:largest + 1], W, H)
    holes = boxkernel.holes_at(flat, W, H, None, None, thr)
    return np.concatenate([_component_boxes(extents, W, H), _hole_boxes(holes, W, H)])


def _component_boxes(extents: np.ndarray, W: int, H: int) -> np.ndarray:
    """(n, 4) pixel extents -> reference boxes ``[x0, y0, min(x1+1, W-1), min(y1+1, H-1)]``."""
    out = extents.copy()
    out[:, 2] = np.minimum(extents[:, 2] + 1, W - 1)
    out[:, 3] = np.minimum(extents[:, 3] + 1, H - 1)
    return out


def _hole_boxes(extents: np.ndarray, W: int, H: int) -> np.ndarray:
    """Hole extents -> boxes of the foreground ring around each hole, reference convention."""
    grown = extents + np.array([-1, -1, 1, 1], np.int64)
    return _component_boxes(grown, W, H)


def best_boxes(scoremap: np.ndarray, threshold: float, gt_boxes: np.ndarray, *,
               regions: str = "largest") -> tuple[np.ndarray, float]:
    """The extracted box that best matches the GT at one threshold, and its IoU (for overlays).

    Args:
        scoremap: (H, W) map in [0, 1].
        threshold: CAM threshold in [0, 1).
        gt_boxes: int (m, 4) GT boxes in the map's frame.
        regions: ``largest`` or ``all``.

    Returns:
        (int64 (4,) box ``x0, y0, x1, y1``, best IoU); the first best box if several tie.
    """
    boxes = extract_boxes(scoremap, threshold, regions=regions)
    gt = _as_int_boxes(gt_boxes, "GT boxes", BoxConventionError)
    if len(gt) == 0:
        return boxes[0], 0.0
    ious = box_iou(boxes, gt).max(axis=1)
    i = int(np.argmax(ious))
    return boxes[i], float(ious[i])
