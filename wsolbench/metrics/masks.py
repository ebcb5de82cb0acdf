"""Mask metrics: PxAP, PIoU and per-class mPxAP, as mergeable histogram accumulators.

Semantics are those of wsolevaluation's ``MaskEvaluator`` (commit 96f4b88):

* Bin edges ``np.append(np.arange(0, 1, step), [1.0, 2.0, 3.0])`` (float64, T + 3 values, T + 2
  bins). A score ``s`` lands in bin ``j`` iff ``e_j <= s < e_{j+1}``; the last bin ``[2, 3]`` is
  closed, so a score of exactly 1.0 lands in ``[1, 2)``. This is ``np.histogram``'s rule; here the
  bin is computed arithmetically (``floor(s / step)``), corrected by one comparison with the exact
  float64 edge on each side and counted bincount-style, fused with the foreground / background /
  ignore split into one pass per map (the compiled engine, ``engine.c``; ``np.arange`` edges are exactly
  ``i * step``, which is checked, with a NumPy ``np.bincount`` path for any other edges). The counts
  equal ``np.histogram``'s exactly.
* Pixels with mask 1 (foreground) and 0 (background) are histogrammed; any other value (255 =
  ignore) is dropped. The histograms are summed over the set (micro average over pixels).
* ``tp = fg_hist[::-1].cumsum()``, ``fp = bg_hist[::-1].cumsum()``: index 0 is "score >= 2.0",
  index 1 "score >= 1.0", ..., the last index "score >= 0.0"; the threshold of index ``i`` is
  ``edges[T + 1 - i]``. ``precision = tp / (tp + fp)`` (NaN at 0/0), ``recall = tp / num_fg``.
* ``PxAP = 100 * sum_{i >= 1, tp_i + fp_i != 0} precision[i] * (recall[i] - recall[i - 1])``.
* ``iou_curve = tp / (num_fg + fp)`` (mask IoU at each threshold, a fraction);
  ``PIoU = 100 * max(iou_curve)``, at the highest threshold attaining it (first index).

The state is two int64 arrays that add: accumulators over shards merge exactly.

Example:
    >>> import numpy as np
    >>> score = np.array([[0.9, 0.8], [0.2, 0.1]])
    >>> mask = np.array([[1, 1], [0, 255]], np.uint8)
    >>> pixel_ap([score], [mask], step=0.01).pxap
    100.0
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wsolbench.errors import AnnotationError, FormatError, NoForegroundError, ProtocolError, where
from wsolbench.metrics.native import engine, ptr


def bin_edges(step: float) -> np.ndarray:
    """The reference's histogram edges ``np.append(np.arange(0, 1, step), [1.0, 2.0, 3.0])``.

    Args:
        step: CAM-threshold spacing in (0, 1), e.g. 0.01 or 0.001.

    Returns:
        float64 array (T + 3,).
    """
    if not (0 < step < 1):
        raise ProtocolError(f"the threshold step must lie in (0, 1), got {step}; the field uses 0.01 or 0.001")
    edges = np.append(np.arange(0, 1, step), [1.0, 2.0, 3.0])
    if not (np.diff(edges) > 0).all():
        raise ProtocolError(f"the threshold step {step!r} gives non-increasing bin edges (np.arange(0, 1, step) "
                            "reaches 1.0 by rounding); use a step such as 0.01 or 0.001")
    return edges


def bin_index(scores, edges) -> np.ndarray:
    """Histogram bin of every score, exactly as ``np.histogram(scores, bins=edges)`` assigns it.

    Args:
        scores: float array, any shape (compared in float64).
        edges: the edges from :func:`bin_edges` (T + 3,).

    Returns:
        int64 array of the scores' shape: the bin in ``[0, T + 1]``, or -1 for a score outside
        ``[0, 3]`` or NaN (``np.histogram`` drops those).

    Example:
        >>> bin_index(np.array([0.0, 0.07, 0.999, 1.0, 2.5, -0.1]), bin_edges(0.01)).tolist()
        [0, 7, 99, 100, 101, -1]
    """
    s = np.asarray(scores, dtype=np.float64)
    inside = (s >= 0.0) & (s <= 3.0)
    j = _regular_bins(np.where(inside, s, 0.0), edges)
    j = np.where(s >= 2.0, len(edges) - 2, j)
    return np.where(inside, j, -1)


def _regular_bins(s: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bins of finite scores in [0, 2): estimate ``floor(s / step)``, clip, then correct once each way.

    The estimate is off by at most one next to an edge (the relative error of ``s / step`` and of
    the ``np.arange`` edges is ~1e-16), so one comparison with the exact float64 edge below and one
    with the edge above fixes it. Clipping to T - 1 and the upward correction against
    ``edges[T] = 1.0`` send [1, 2) to bin T.
    """
    t = len(edges) - 3
    j = np.minimum(s / edges[1], t - 1).astype(np.int64)
    j -= s < edges[j]
    j += s >= edges[j + 1]
    return j


def _check_shapes(scoremap, gt_mask, *, image_id: str | None) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scoremap)
    m = np.asarray(gt_mask)
    if s.shape != m.shape or s.ndim != 2:
        raise FormatError(f"{where(image_id=image_id)}score map of shape {s.shape} does not match the GT mask of "
                          f"shape {m.shape}; both must be (rows, cols) in the evaluation frame "
                          "(use postprocess_map and gt_mask)")
    if s.dtype not in (np.float32, np.float64):
        s = s.astype(np.float64)
    if m.dtype != np.uint8:
        m = np.where(m == 1, 1, np.where(m == 0, 0, 2)).astype(np.uint8)
    return np.ascontiguousarray(s).ravel(), np.ascontiguousarray(m).ravel()


def _raise_out_of_range(s: np.ndarray, n_bad: int, image_id: str | None) -> None:
    bad = ~((s >= 0.0) & (s <= 1.0))
    first = float(s[np.flatnonzero(bad)[0]]) if bad.any() else float("nan")
    raise FormatError(f"{where(image_id=image_id)}score map has {n_bad} value(s) outside [0, 1] or NaN "
                      f"(e.g. {first!r}); normalise it first (postprocess_map)")


def _hist_kernel(scores: np.ndarray, category: np.ndarray, step: float, t: int) -> tuple[int, np.ndarray]:
    """Joint histogram of (category, bin) for scores in [0, 1] on arithmetic edges ``i * step``.

    The compiled engine's ``wsb_pxap_hist`` (one pass per map). ``scores`` is float32 or float64,
    ``category`` uint8 (0 background, 1 foreground, >= 2 dropped), both flat and C-contiguous.
    Returns ``(n_bad, hist)`` with ``hist`` int64 (3 * (t + 2),): background bins, foreground bins,
    dropped bins. Invalid scores (NaN, outside [0, 1]) are counted in ``n_bad`` (the caller raises).
    """
    hist = np.empty(3 * (t + 2), np.int64)
    n_bad = engine().wsb_pxap_hist(ptr(scores), int(scores.dtype == np.float32), ptr(category), scores.size,
                                   float(step), int(t), ptr(hist))
    if n_bad < 0:
        raise MemoryError("the PxAP histogram could not allocate its buffer")
    return int(n_bad), hist


def _edges_are_arithmetic(edges: np.ndarray) -> bool:
    """True when ``edges[i] == i * edges[1]`` for every regular edge (``np.arange``'s own formula)."""
    t = len(edges) - 3
    return t >= 1 and np.array_equal(edges[:t], np.arange(t) * edges[1]) and edges[t] == 1.0


def _pxap_update(scoremap, gt_mask, edges: np.ndarray, *, image_id: str | None = None,
                 arithmetic: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Histogram increments of one map: ``(fg_inc, bg_inc)``, int64 (T + 2,) each.

    Args:
        scoremap: (rows, cols) in [0, 1].
        gt_mask: (rows, cols), 1 = foreground, 0 = background, any other value dropped.
        edges: (T + 3,) bin edges from :func:`bin_edges`.
        image_id: used in error messages.
        arithmetic: whether ``edges`` satisfy :func:`_edges_are_arithmetic` (computed if ``None``).

    Raises:
        FormatError: shape mismatch, NaN or values outside [0, 1].
    """
    s, m = _check_shapes(scoremap, gt_mask, image_id=image_id)
    nb = len(edges) - 1
    if arithmetic is None:
        arithmetic = _edges_are_arithmetic(edges)
    if arithmetic:
        n_bad, hist = _hist_kernel(s, m, float(edges[1]), nb - 2)
    else:  # generic edges: the same binning in NumPy (gathers of the exact edges), then np.bincount
        n_bad = int(np.count_nonzero(~((s >= 0.0) & (s <= 1.0))))
        code = _regular_bins(np.where((s >= 0.0) & (s <= 1.0), s, 0.0), edges)
        hist = np.bincount(code + nb * np.minimum(m, 2).astype(np.int64), minlength=3 * nb)
    if n_bad:
        _raise_out_of_range(s, int(n_bad), image_id)
    return hist[nb:2 * nb].astype(np.int64), hist[:nb].astype(np.int64)


@dataclass(frozen=True)
class MaskResult:
    """PxAP, PIoU and their curves.

    Attributes:
        pxap: PxAP in percent.
        piou: best mask IoU over the thresholds, in percent.
        piou_threshold: the score threshold (``score >= t``) attaining it.
        thresholds: float64 (T + 3,) histogram bin edges.
        precision: float64 (T + 2,), index 0 = "score >= 2" (NaN), last = "score >= 0".
        recall: float64 (T + 2,), same indexing.
        iou_curve: float64 (T + 2,) mask IoU (fraction) per index.
        fg_hist, bg_hist: int64 (T + 2,) the summed histograms.
    """

    pxap: float
    piou: float
    piou_threshold: float
    thresholds: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    iou_curve: np.ndarray
    fg_hist: np.ndarray
    bg_hist: np.ndarray

    @property
    def num_foreground(self) -> int:
        return int(self.fg_hist.sum())

    @property
    def num_background(self) -> int:
        return int(self.bg_hist.sum())

    def to_dict(self) -> dict:
        """The ``mask`` section of the result JSON (``docs/result-json.md``) without ``per_class``."""
        return {
            "thresholds": self.thresholds.tolist(),
            "precision": [None if np.isnan(p) else float(p) for p in self.precision],
            "recall": self.recall.tolist(),
            "iou_curve": self.iou_curve.tolist(),
            "pxap": float(self.pxap),
            "piou": float(self.piou),
            "piou_threshold": float(self.piou_threshold),
        }


def _pxap_compute(fg_hist: np.ndarray, bg_hist: np.ndarray, edges: np.ndarray, *, what: str = "the set") -> MaskResult:
    """Turn summed histograms into :class:`MaskResult` (the reference ``MaskEvaluator.compute``)."""
    num_fg = fg_hist.sum()
    if num_fg <= 0:
        raise NoForegroundError(f"PxAP needs at least one foreground pixel, but {what} has none in the evaluation "
                              "frame (all GT masks are empty or ignored); check the masks and --mask-root")
    tp = fg_hist[::-1].cumsum()
    fp = bg_hist[::-1].cumsum()
    non_zero = (tp + fp) != 0
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = tp / (tp + fp)
    recall = tp / num_fg
    auc = (precision[1:] * np.diff(recall))[non_zero[1:]].sum()
    auc *= 100
    iou = tp / (num_fg + fp)
    best = int(np.argmax(iou))
    return MaskResult(pxap=float(auc), piou=float(100 * iou[best]), piou_threshold=float(edges[len(iou) - 1 - best]),
                      thresholds=edges.copy(), precision=precision, recall=recall, iou_curve=iou,
                      fg_hist=fg_hist.copy(), bg_hist=bg_hist.copy())


class PixelAP:
    """Accumulator of PxAP / PIoU over a set of (score map, GT mask) pairs.

    State: ``fg_hist`` and ``bg_hist``, int64 (T + 2,), summed over images; shards merge by addition.

    Args:
        step: the threshold spacing (0.01 or 0.001 in the field).

    Example:
        >>> import numpy as np
        >>> metric = PixelAP(0.01)
        >>> metric.update(np.array([[1.0, 0.0]]), np.array([[1, 0]], np.uint8))
        >>> metric.compute().pxap
        100.0
    """

    def __init__(self, step: float = 0.01):
        self.step = float(step)
        self.edges = bin_edges(self.step)
        self._arithmetic = _edges_are_arithmetic(self.edges)
        nb = len(self.edges) - 1
        self.fg_hist = np.zeros(nb, dtype=np.int64)
        self.bg_hist = np.zeros(nb, dtype=np.int64)
        self.n_images = 0

    @classmethod
    def from_protocol(cls, protocol) -> "PixelAP":
        """An accumulator on the protocol's threshold step."""
        return cls(protocol.cam_step)

    def _update(self, scoremap, gt_mask, *, image_id: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The increments ``(fg_inc, bg_inc)`` of one image, without changing the state."""
        return _pxap_update(scoremap, gt_mask, self.edges, image_id=image_id, arithmetic=self._arithmetic)

    def update(self, scoremap, gt_mask, *, image_id: str | None = None) -> None:
        """Add one image.

        Args:
            scoremap: (rows, cols) in [0, 1] in the evaluation frame.
            gt_mask: (rows, cols) from :func:`wsolbench.metrics.gt.gt_mask` (1 fg, 0 bg, 255 ignore).
            image_id: used in error messages.

        Raises:
            FormatError: shape mismatch, NaN or values outside [0, 1].
        """
        fg, bg = self._update(scoremap, gt_mask, image_id=image_id)
        self.fg_hist += fg
        self.bg_hist += bg
        self.n_images += 1

    def state(self) -> dict:
        """The named state arrays (copies); they reduce by sum."""
        return {"fg_hist": self.fg_hist.copy(), "bg_hist": self.bg_hist.copy(),
                "n_images": np.int64(self.n_images)}

    def merge(self, other: "PixelAP") -> "PixelAP":
        """Add another accumulator's state into this one (same step required); returns ``self``."""
        if not isinstance(other, PixelAP) or not np.array_equal(other.edges, self.edges):
            raise ProtocolError(f"cannot merge PxAP accumulators with different threshold steps "
                                f"({self.step} and {getattr(other, 'step', other)!r}); evaluate every shard "
                                "with the same protocol")
        self.fg_hist += other.fg_hist
        self.bg_hist += other.bg_hist
        self.n_images += other.n_images
        return self

    def compute(self) -> MaskResult:
        """PxAP and PIoU of everything added so far.

        Raises:
            NoForegroundError: no foreground pixel was added (an AnnotationError and a RuntimeError).
        """
        return _pxap_compute(self.fg_hist, self.bg_hist, self.edges, what=f"the {self.n_images} image(s)")

    def to_dict(self) -> dict:
        """The ``mask`` section of the result JSON without ``per_class``."""
        return self.compute().to_dict()


def pixel_ap(maps, masks, *, step: float = 0.01) -> MaskResult:
    """One-call PxAP over paired iterables of score maps and GT masks (see :class:`PixelAP`).

    Example:
        >>> import numpy as np
        >>> r = pixel_ap([np.full((2, 2), 0.5)], [np.array([[1, 0], [0, 0]], np.uint8)])
        >>> r.pxap
        25.0
    """
    metric = PixelAP(step)
    for scoremap, mask in zip(maps, masks, strict=True):
        metric.update(scoremap, mask)
    return metric.compute()


@dataclass(frozen=True)
class PerClassMaskResult:
    """Per-class PxAP and their mean.

    Attributes:
        pxap: float64 (C,) per-class PxAP in percent; NaN for classes without foreground pixels.
        n_images: int64 (C,) images scored for each class.
        mpxap: mean of ``pxap`` over the classes with foreground pixels.
    """

    pxap: np.ndarray
    n_images: np.ndarray
    mpxap: float

    def to_dict(self) -> dict:
        """``{"<class index>": {"pxap": float|None, "n_images": int}}`` for classes with images."""
        return {str(c): {"pxap": None if np.isnan(self.pxap[c]) else float(self.pxap[c]),
                         "n_images": int(self.n_images[c])}
                for c in np.flatnonzero(self.n_images)}


class PerClassPixelAP:
    """Per-class PxAP and mPxAP (multi-label data, e.g. PASCAL VOC).

    Definition: for class ``c``, PxAP_c is the PxAP of class ``c``'s score maps over the images whose
    labels contain ``c``, each against class ``c``'s GT mask (``gt_mask(..., class_index=c)``: ``c``'s
    instances are foreground, other classes' pixels background, void ignored). Histograms are summed
    over those images (micro average within a class). mPxAP is the unweighted mean of PxAP_c over
    the classes that have at least one foreground pixel.

    State: ``fg_hist``, ``bg_hist`` int64 (C, T + 2) and ``n_images`` int64 (C,); they add.

    Args:
        step: the threshold spacing.
        num_classes: C.
    """

    def __init__(self, step: float = 0.01, num_classes: int = 1):
        if int(num_classes) < 1:
            raise ProtocolError(f"num_classes must be a positive integer, got {num_classes!r}")
        self.step = float(step)
        self.num_classes = int(num_classes)
        self.edges = bin_edges(self.step)
        self._arithmetic = _edges_are_arithmetic(self.edges)
        nb = len(self.edges) - 1
        self.fg_hist = np.zeros((self.num_classes, nb), dtype=np.int64)
        self.bg_hist = np.zeros((self.num_classes, nb), dtype=np.int64)
        self.n_images = np.zeros(self.num_classes, dtype=np.int64)

    def _check_class(self, class_index, image_id: str | None) -> int:
        c = int(class_index)
        if not 0 <= c < self.num_classes:
            raise AnnotationError(f"{where(image_id=image_id)}class index {class_index} is outside "
                                  f"[0, {self.num_classes - 1}]; check the class labels and num_classes")
        return c

    def update(self, scoremap, gt_mask, class_index: int, *, image_id: str | None = None) -> None:
        """Add class ``class_index``'s map and mask of one image.

        Args:
            scoremap: (rows, cols) in [0, 1], the map of class ``class_index``.
            gt_mask: (rows, cols) class ``class_index``'s mask (1 fg, 0 bg, 255 ignore).
            class_index: the class.
            image_id: used in error messages.
        """
        c = self._check_class(class_index, image_id)
        fg, bg = _pxap_update(scoremap, gt_mask, self.edges, image_id=image_id, arithmetic=self._arithmetic)
        self.fg_hist[c] += fg
        self.bg_hist[c] += bg
        self.n_images[c] += 1

    def state(self) -> dict:
        """The named state arrays (copies); they reduce by sum."""
        return {"fg_hist": self.fg_hist.copy(), "bg_hist": self.bg_hist.copy(), "n_images": self.n_images.copy()}

    def merge(self, other: "PerClassPixelAP") -> "PerClassPixelAP":
        """Add another accumulator's state (same step and class count); returns ``self``."""
        if (not isinstance(other, PerClassPixelAP) or other.num_classes != self.num_classes
                or not np.array_equal(other.edges, self.edges)):
            raise ProtocolError("cannot merge per-class PxAP accumulators with different threshold steps or "
                                "class counts; evaluate every shard with the same protocol and dataset")
        self.fg_hist += other.fg_hist
        self.bg_hist += other.bg_hist
        self.n_images += other.n_images
        return self

    def class_result(self, class_index: int) -> MaskResult:
        """The full :class:`MaskResult` of one class (raises if it has no foreground pixel)."""
        c = self._check_class(class_index, None)
        return _pxap_compute(self.fg_hist[c], self.bg_hist[c], self.edges, what=f"class {c}")

    def _class_pxap(self) -> np.ndarray:
        """float64 (C,) per-class PxAP; NaN for classes without foreground pixels."""
        pxap = np.full(self.num_classes, np.nan)
        for c in np.flatnonzero(self.fg_hist.sum(axis=1) > 0):
            pxap[c] = _pxap_compute(self.fg_hist[c], self.bg_hist[c], self.edges).pxap
        return pxap

    def compute_per_class(self) -> dict:
        """The ``mask.per_class`` section of the result JSON, ``{"<c>": {"pxap": float|None, "n_images": int}}``
        for every class with images (``pxap`` is ``None`` for a class without foreground pixels). Never raises."""
        pxap = self._class_pxap()
        valid = ~np.isnan(pxap)
        mean = float(pxap[valid].mean()) if valid.any() else float("nan")
        return PerClassMaskResult(pxap=pxap, n_images=self.n_images.copy(), mpxap=mean).to_dict()

    def compute(self) -> PerClassMaskResult:
        """Per-class PxAP and mPxAP.

        Raises:
            NoForegroundError: no class has a foreground pixel.
        """
        pxap = self._class_pxap()
        valid = ~np.isnan(pxap)
        if not valid.any():
            raise NoForegroundError("mPxAP needs at least one class with a foreground pixel, but no class has one; "
                                  "check the masks and the class labels")
        return PerClassMaskResult(pxap=pxap, n_images=self.n_images.copy(), mpxap=float(pxap[valid].mean()))


def per_class_pixel_ap(maps, masks, class_indices, *, step: float = 0.01, num_classes: int) -> PerClassMaskResult:
    """One-call per-class PxAP / mPxAP over paired (map, mask, class index) iterables."""
    metric = PerClassPixelAP(step, num_classes)
    for scoremap, mask, c in zip(maps, masks, class_indices, strict=True):
        metric.update(scoremap, mask, class_index=c)
    return metric.compute()
