"""Score-map post-processing: OpenCV-exact resizing without OpenCV, and min-max normalisation.

The wsolevaluation reference brings every CAM to the evaluation frame with
``cv2.resize(float64_cam, (W, H), interpolation=cv2.INTER_CUBIC)`` and then ``normalize_scoremap``
(min-max; NaN or constant maps become zeros). This module reproduces both **bit for bit** without
OpenCV: the taps (source indices and float32-evaluated weights) are computed here in NumPy, the
weighted sums and the normalisation run in the compiled engine (``engine.c``: ``wsb_resize``,
``wsb_normalize``), whose arithmetic is the same float64 operations in the same order (no fused
multiply-add). Hand-written because no library reproduces OpenCV's rounding without OpenCV.

* :func:`resize_bicubic` = ``cv2.resize(float64, INTER_CUBIC)``: half-pixel centres
  ``src = (dst + 0.5) * scale - 0.5`` rounded to float32, Keys kernel (a = -0.75) evaluated in float32
  (OpenCV keeps float32 coefficient tables for floating-point images), border replicate, a
  horizontal pass then a vertical pass, each a left-to-right float64 sum of four products. Down-sampling
  uses the same 4 taps (no antialiasing), as OpenCV does.
* :func:`resize_nearest` = ``cv2.resize(..., INTER_NEAREST)``: ``src = min(floor(dst * (1 / (dst_n /
  src_n))), src_n - 1)``.
* :func:`resize_bilinear` = OpenCV's portable ``INTER_LINEAR`` for float64 (the result of
  ``cv2.ipp.setUseIPP(False)``). OpenCV builds with Intel IPP (the PyPI wheels) route float64 linear
  resizing to IPP, whose double-precision coordinates differ by up to ~3e-4 on large down-sampling
  factors. Bicubic and nearest are not affected. The reference protocol never uses bilinear.
* :func:`normalize_minmax` = the reference ``normalize_scoremap``.

An axis whose length does not change is passed through untouched; OpenCV's weights are then exactly
(0, 1, 0, 0) so this is exact, and a 1-D map of shape (1, L) is resized along L only.

Example:
    >>> import numpy as np
    >>> cam = np.arange(49, dtype=np.float64).reshape(7, 7)
    >>> m = normalize_minmax(resize_bicubic(cam, (224, 224)))
    >>> m.shape, float(m.min()), float(m.max())
    ((224, 224), 0.0, 1.0)
"""

from __future__ import annotations

import functools

import numpy as np

from wsolbench.errors import FormatError, ProtocolError, where
from wsolbench.metrics.native import engine, ptr

_CUBIC_A = np.float32(-0.75)


def _check_2d(arr, *, image_id: str | None = None) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise FormatError(f"{where(image_id=image_id)}expected a non-empty 2-D score map (rows, cols), "
                          f"got an array of shape {arr.shape}; store one map per image (a 1-D signal as (1, L))")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise FormatError(f"{where(image_id=image_id)}expected a numeric map, got dtype {arr.dtype}")
    return arr


def _check_size(size_wh) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in size_wh)
    except (TypeError, ValueError) as e:
        raise ProtocolError(f"size must be (width, height), got {size_wh!r}") from e
    if w < 1 or h < 1:
        raise ProtocolError(f"size must be two positive integers (width, height), got {size_wh!r}")
    return w, h


def _source_coords(n_src: int, n_dst: int) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV's source coordinates: integer part ``s`` (int64) and float32 fraction ``f`` (n_dst,)."""
    scale = 1.0 / (n_dst / n_src)  # cv::resize: inv_scale = dst/src, scale = 1/inv_scale (float64)
    pos = ((np.arange(n_dst, dtype=np.float64) + 0.5) * scale - 0.5).astype(np.float32)
    s = np.floor(pos).astype(np.int64)
    f = pos - s.astype(np.float32)
    return s, f


def _cubic_coeffs(f: np.ndarray) -> np.ndarray:
    """OpenCV ``interpolateCubic`` in float32 for fractions ``f`` (n,); returns float64 (n, 4)."""
    a = _CUBIC_A
    one = np.float32(1.0)
    x1 = f + one
    c0 = ((a * x1 - np.float32(5.0) * a) * x1 + np.float32(8.0) * a) * x1 - np.float32(4.0) * a
    c1 = ((a + np.float32(2.0)) * f - (a + np.float32(3.0))) * f * f + one
    g = one - f
    c2 = ((a + np.float32(2.0)) * g - (a + np.float32(3.0))) * g * g + one
    c3 = one - c0 - c1 - c2
    return np.stack([c0, c1, c2, c3], axis=1).astype(np.float64)


def _cubic_taps(n_src: int, n_dst: int) -> tuple[np.ndarray, np.ndarray]:
    """Source indices (n_dst, 4), clamped (border replicate), and float64 weights (n_dst, 4)."""
    s, f = _source_coords(n_src, n_dst)
    idx = np.clip(s[:, None] + np.arange(-1, 3)[None, :], 0, n_src - 1)
    return idx, _cubic_coeffs(f)


def _linear_taps(n_src: int, n_dst: int, *, clamp_coords: bool) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV INTER_LINEAR taps: indices (n_dst, 2) and float64 weights (n_dst, 2).

    OpenCV clamps the *coordinate* (fraction set to 0) on the horizontal axis but only the row
    *indices* on the vertical axis; ``clamp_coords`` selects the horizontal behaviour.
    """
    s, f = _source_coords(n_src, n_dst)
    if clamp_coords:
        low, high = s < 0, s >= n_src - 1
        f[low | high] = 0
        s = np.where(low, 0, np.where(high, n_src - 1, s))
    idx = np.clip(s[:, None] + np.arange(2)[None, :], 0, n_src - 1)
    w = np.stack([np.float32(1.0) - f, f], axis=1).astype(np.float64)
    return idx, w


@functools.lru_cache(maxsize=64)
def _taps(kind: str, n_src: int, n_dst: int) -> tuple[np.ndarray, np.ndarray]:
    """C-contiguous (indices int64, weights float64) of one axis, cached (maps of a file share sizes)."""
    if kind == "cubic":
        idx, w = _cubic_taps(n_src, n_dst)
    else:
        idx, w = _linear_taps(n_src, n_dst, clamp_coords=kind == "linear-x")
    return np.ascontiguousarray(idx, dtype=np.int64), np.ascontiguousarray(w, dtype=np.float64)


@functools.lru_cache(maxsize=64)
def tap_args(kind: str, n_src: int, n_dst: int) -> tuple[int | None, int | None, int, tuple]:
    """One axis's arguments of the engine's resize functions: ``(index pointer, weight pointer, taps
    per output value, the arrays)``, cached with the arrays they point into; no taps (``None, None,
    0``) when the length does not change (the axis is passed through)."""
    if n_src == n_dst:
        return None, None, 0, ()
    idx, w = _taps(kind, n_src, n_dst)
    return ptr(idx), ptr(w), idx.shape[1], (idx, w)


def _resize_call(arr: np.ndarray, size_wh, kind_x: str = "cubic", kind_y: str = "cubic"):
    """The output map and the leading arguments of ``wsb_resize`` / ``wsb_postprocess`` for ``arr``
    resized to ``size_wh``; the arrays the pointers refer to are kept alive in the returned tuple's
    last item."""
    out_w, out_h = _check_size(size_wh)
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    h, w = arr.shape
    pix, pwx, kx, _ = tap_args(kind_x, w, out_w)
    piy, pwy, ky, _ = tap_args(kind_y, h, out_h)
    out = np.empty((out_h, out_w))
    tmp = np.empty((h, out_w)) if kx else out
    args = (ptr(arr), h, w, out_h, out_w, pix, pwx, kx, piy, pwy, ky, ptr(tmp), ptr(out))
    return out, args, (arr, tmp)


def _separable(arr: np.ndarray, size_wh, kind_x: str, kind_y: str, *, normalize: bool = False):
    """Horizontal pass over every source row, then the vertical pass (the compiled engine's
    ``wsb_resize``: each value the left-to-right float64 sum of the 4 (or 2) products, as OpenCV).
    With ``normalize``, the reference min-max normalisation follows in the same call
    (``wsb_postprocess``) and ``(map, constant)`` is returned."""
    out, args, _keep = _resize_call(arr, size_wh, kind_x, kind_y)
    if normalize:
        return out, bool(engine().wsb_postprocess(*args))
    engine().wsb_resize(*args)
    return out



def resize_bicubic(arr, size_wh) -> np.ndarray:
    """Bicubic resize, bit-identical to ``cv2.resize(float64(arr), size_wh, interpolation=cv2.INTER_CUBIC)``.

    Args:
        arr: 2-D array (rows, cols), any real dtype; computed in float64 as the reference does.
        size_wh: output ``(width, height)`` (OpenCV's order).

    Returns:
        float64 array (height, width). May overshoot the input range (cubic kernel).

    Example:
        >>> resize_bicubic(np.eye(2), (4, 4)).shape
        (4, 4)
    """
    arr = _check_2d(arr)
    return _separable(arr, size_wh, "cubic", "cubic")


def resize_bilinear(arr, size_wh) -> np.ndarray:
    """Bilinear resize, bit-identical to OpenCV's portable ``INTER_LINEAR`` on float64 input.

    Matches ``cv2.resize(float64(arr), size_wh, interpolation=cv2.INTER_LINEAR)`` with
    ``cv2.ipp.setUseIPP(False)``, including OpenCV's switch to 2x2 area averaging for an exact
    factor-2 reduction on both axes. (IPP-enabled OpenCV builds differ slightly; see the module doc.)

    Args:
        arr: 2-D array (rows, cols).
        size_wh: output ``(width, height)``.

    Returns:
        float64 array (height, width).
    """
    arr = _check_2d(arr)
    out_w, out_h = _check_size(size_wh)
    h, w = arr.shape
    if 1.0 / (out_w / w) == 2.0 and 1.0 / (out_h / h) == 2.0:
        return _area_half(np.asarray(arr, dtype=np.float64))

    return _separable(arr, size_wh, "linear-x", "linear-y")


def _area_half(arr: np.ndarray) -> np.ndarray:
    """OpenCV's fast INTER_AREA for an exact factor 2: ((a + b) + c + d) * 0.25 over each 2x2 block."""
    total = arr[0::2, 0::2] + arr[0::2, 1::2]
    total = total + arr[1::2, 0::2]
    total = total + arr[1::2, 1::2]
    return total * 0.25


def nearest_index(n_src: int, n_dst: int) -> np.ndarray:
    """The source indices that ``cv2.INTER_NEAREST`` reads along one axis of ``n_src`` -> ``n_dst`` (int64,
    non-decreasing)."""
    inv = 1.0 / (n_dst / n_src)
    src = np.floor(np.arange(n_dst, dtype=np.float64) * inv).astype(np.int64)
    return np.minimum(src, n_src - 1)


def resize_nearest(arr, size_wh) -> np.ndarray:
    """Nearest-neighbour resize, identical to ``cv2.resize(arr, size_wh, interpolation=cv2.INTER_NEAREST)``.

    Source index ``min(floor(dst * (1 / (dst_n / src_n))), src_n - 1)`` per axis, in float64.

    Args:
        arr: 2-D array (rows, cols), any dtype.
        size_wh: output ``(width, height)``.

    Returns:
        array (height, width) of the input dtype.

    Example:
        >>> resize_nearest(np.array([[0, 1], [2, 3]], np.uint8), (4, 2)).tolist()
        [[0, 0, 1, 1], [2, 2, 3, 3]]
    """
    arr = np.asarray(arr)
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise FormatError(f"expected a non-empty 2-D array (rows, cols), got shape {arr.shape}")
    out_w, out_h = _check_size(size_wh)
    rows = nearest_index(arr.shape[0], out_h)
    cols = nearest_index(arr.shape[1], out_w)
    return arr[rows[:, None], cols[None, :]]


RESIZERS = {"bicubic": resize_bicubic, "bilinear": resize_bilinear, "nearest": resize_nearest}


def _normalize(cam: np.ndarray, *, in_place: bool = False) -> tuple[np.ndarray, bool]:
    """The reference normalisation (in the compiled engine, one pass for NaN/min/max and two more)."""
    if not (in_place and cam.dtype == np.float64 and cam.flags.c_contiguous and cam.flags.writeable):
        cam = np.array(cam, dtype=np.float64, copy=True, order="C")
    constant = engine().wsb_normalize(ptr(cam), cam.size)
    return cam, bool(constant)


def normalize_minmax(cam) -> np.ndarray:
    """The reference ``normalize_scoremap``: min-max normalisation to [0, 1].

    Any NaN, or a constant map, gives all zeros. Otherwise ``cam -= cam.min(); cam /= cam.max()``
    (the maximum is taken after the subtraction), so the result has minimum exactly 0.0 and
    maximum exactly 1.0. The input is not modified.

    Args:
        cam: array (rows, cols).

    Returns:
        float64 array of the same shape.

    Example:
        >>> normalize_minmax(np.array([[2.0, 4.0], [3.0, 6.0]])).tolist()
        [[0.0, 0.5], [0.25, 1.0]]
    """
    return _normalize(cam)[0]


def _check_finite_range(m: np.ndarray, *, normalized: bool, image_id: str | None) -> None:
    if normalized:
        bad = ~((m >= 0.0) & (m <= 1.0))  # also catches NaN
        if bad.any():
            first = tuple(int(v) for v in np.argwhere(bad)[0])
            raise FormatError(
                f"{where(image_id=image_id)}map is stored as normalized but has {int(bad.sum())} value(s) outside "
                f"[0, 1] (first at row, col {first}: {m[first]!r}); store the raw maps with normalized=False "
                "so that wsolbench normalises them, or clip/normalise them before writing")
    elif np.isinf(m).any():
        raise FormatError(f"{where(image_id=image_id)}map contains infinite values; a score map must be finite "
                          "(check the CAM computation for overflow)")


def check_raw_map(raw, *, image_id: str | None = None) -> np.ndarray:
    """A raw (not normalised) map as a 2-D array, or the :class:`FormatError` of :func:`postprocess_map`
    (wrong rank or dtype, infinite values)."""
    arr = _check_2d(raw, image_id=image_id)
    _check_finite_range(arr, normalized=False, image_id=image_id)
    return arr


def fuses_boxes(protocol, shape) -> bool:
    """Whether a raw map of ``shape`` is post-processed by the engine itself under ``protocol``
    (min-max normalisation after a bicubic resize or none), so that the box engine can take the
    raw map (:func:`wsolbench.metrics.boxes.postprocess_best_ious`)."""
    at_size = tuple(shape) == (protocol.height, protocol.width)
    return protocol.normalization == "minmax" and (at_size or protocol.interpolation == "bicubic")


def postprocess_map(raw, protocol, *, normalized: bool, image_id: str | None = None) -> tuple[np.ndarray, bool]:
    """Bring one stored map into the protocol's evaluation frame.

    Raw maps (``normalized=False``) follow the reference ``CAMComputer``: resize to
    ``protocol.resolution`` with ``protocol.interpolation`` (skipped when already that size), then
    min-max normalise (``protocol.normalization == "minmax"``; NaN or constant maps become zeros).
    Normalised maps (``normalized=True``, or ``protocol.normalization == "none"``) must already lie in
    [0, 1]; they are only resized when not at the resolution (then clipped to [0, 1], since bicubic
    overshoots) and never re-normalised. A 1-D map (1, L) under a ``(L', 1)`` resolution is resized
    along L only.

    Args:
        raw: array (rows, cols), any real dtype.
        protocol: a :class:`wsolbench.protocol.Protocol`.
        normalized: whether the stored map is already a [0, 1] score map.
        image_id: used in error messages.

    Returns:
        ``(map, was_constant)``: float64 (height, width) in [0, 1], and whether the map was constant
        (or, for raw maps, contained NaN) and therefore scores as all zeros / one value.

    Raises:
        FormatError: wrong rank, infinite values, or a normalised map outside [0, 1].

    Example:
        >>> from wsolbench.protocol import get_protocol
        >>> m, const = postprocess_map(np.random.default_rng(0).random((7, 7)), get_protocol(), normalized=False)
        >>> m.shape, const
        ((224, 224), False)
    """
    arr = _check_2d(raw, image_id=image_id)
    size = (protocol.width, protocol.height)
    at_size = arr.shape == (protocol.height, protocol.width)
    resize = RESIZERS[protocol.interpolation]
    if normalized or protocol.normalization == "none":
        m = np.asarray(arr, dtype=np.float64)
        _check_finite_range(m, normalized=True, image_id=image_id)
        m = np.array(m, copy=True) if at_size else np.clip(np.asarray(resize(m, size), np.float64), 0.0, 1.0)
        return m, bool(m.min() == m.max())
    _check_finite_range(arr, normalized=False, image_id=image_id)
    if at_size:
        return _normalize(arr)
    if resize is resize_bicubic:                  # resize and normalise in one pass of the engine
        return _separable(_check_2d(arr, image_id=image_id), size, "cubic", "cubic", normalize=True)
    return _normalize(resize(arr, size), in_place=True)     # the resized map is a fresh array
