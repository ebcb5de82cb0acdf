"""Bootstrap intervals and paired bootstrap tests of every headline number, from per-image state.

A resample draws the evaluated *images* with replacement (all maps of an image go together on
multi-label data); its numbers are the protocol's numbers on that multiset of images, **threshold
selection included**: MaxBoxAcc, MaxBoxAccV2's three maxima and PIoU pick their best threshold
inside each resample, and top-1 loc is read at the resample's MaxBoxAcc threshold, because the
selection is part of the metric. No map is evaluated again: a resample's per-threshold counts are
the weighted sums ``W @ bits`` of the images' correctness bits and PxAP histograms
(:class:`~wsolbench.metrics.imagestate.ImageState`), one matrix product for all resamples.

* Interval: the percentile interval (``np.percentile``, linear) of the resampled values at the
  given confidence (95% by default), with the bootstrap standard deviation.
* Paired test of two evaluations of the same images (A, then B): the same resamples for both, the
  percentile interval of the resampled differences ``d* = B* - A*``, and the two-sided bootstrap
  p-value of "no difference" ``min(1, 2 min(1 + #{d* <= 0}, 1 + #{d* >= 0}) / (1 + n_resamples))``:
  the smallest level at which the percentile interval would exclude 0, so the p-value and the
  interval always agree (identical results give p = 1). The difference is *not distinguishable*
  when its interval covers 0.

Resampling is seeded (``np.random.default_rng(seed)``): resample ``b`` draws ``n`` indices into the
sorted unique image ids, so the resamples depend only on the seed and the set of images, not on
the order of evaluation.

Hand-written: bootstrap libraries (``scipy.stats.bootstrap``) resample by calling the statistic once
per resample; here the statistic is a max over hundreds of thresholds of sums over images, and the
vectorised form (one weight matrix, products with the bit matrices) is what makes 1,000 resamples
of 50,000 images cost seconds instead of hours.

Example:
    >>> import numpy as np
    >>> from wsolbench.metrics.imagestate import ImageState
    >>> bits = np.array([[[[1]]], [[[0]]]], bool)          # 2 images, 1 mode, 1 IoU, 1 threshold
    >>> s = ImageState(image_ids=["a", "b"], labels=np.zeros(2, int), predicted=-np.ones(2, int),
    ...                thresholds=np.array([0.2]), iou_thresholds=(50,), modes=("largest",),
    ...                fixed_threshold=True, correct=np.packbits(bits, axis=-1))
    >>> resampled_metrics(s, np.array([[2, 0], [1, 1]]))["gt_known_loc"].tolist()
    [100.0, 50.0]
"""

from __future__ import annotations

import math

import numpy as np

from wsolbench.errors import NoForegroundError, ProtocolError
from wsolbench.metrics.imagestate import ImageState
from wsolbench.metrics.masks import _pxap_compute, bin_edges

CHUNK_ROWS = 2048           # maps whose bits / histograms are unpacked at once
WEIGHT_DRAWS = 1 << 21      # indices drawn at once (bounds the memory of drawing)
EXACT_FLOAT32 = 2 ** 24     # float32 sums of integer weights are exact below this

#: Order of the numbers a bootstrap reports (the headline metrics, then the pointing games).
INTERVAL_KEYS = ("maxboxacc", "maxboxacc_v2", "maxboxacc_iou30", "maxboxacc_iou50", "maxboxacc_iou70",
                 "gt_known_loc", "top1_loc", "top1_cls", "pxap", "piou", "mpxap",
                 "pointing_game", "energy_pointing_game")


def image_units(state: ImageState) -> tuple[np.ndarray, int]:
    """The resampling unit of every map (its image's index among the sorted unique ids) and their count."""
    uniques, units = np.unique(np.asarray(state.image_ids, dtype=str), return_inverse=True)
    return units.reshape(-1).astype(np.int64), len(uniques)


def resample_weights(n_units: int, n_resamples: int, seed: int) -> np.ndarray:
    """How often each unit is drawn in each resample.

    Args:
        n_units: images to draw from (n).
        n_resamples: B.
        seed: ``np.random.default_rng`` seed.

    Returns:
        (B, n) unsigned counts, each row summing to n (uint8 unless a count exceeds 255).
    """
    if n_units < 1 or n_resamples < 1:
        raise ValueError(f"need at least one image and one resample, got {n_units} and {n_resamples}")
    rng = np.random.default_rng(seed)
    out = np.empty((n_resamples, n_units), np.uint8)
    block = max(1, WEIGHT_DRAWS // n_units)
    for start in range(0, n_resamples, block):
        size = min(block, n_resamples - start)
        draws = rng.integers(0, n_units, size=(size, n_units))
        draws += (np.arange(size, dtype=np.int64) * n_units)[:, None]
        counts = np.bincount(draws.ravel(), minlength=size * n_units).reshape(size, n_units)
        if counts.max() > 255 and out.dtype == np.uint8:     # only for tiny n: a unit drawn > 255 times
            out = out.astype(np.uint32)
        out[start:start + size] = counts
    return out


def _weighted_sums(state: ImageState, weights: np.ndarray, units: np.ndarray) -> dict:
    """Per resample: box counts (B, modes, IoUs, T), top-1 counts (B, T), histograms, and the sums
    of the per-map values, all as exact integers / float64."""
    n_res, n_maps = len(weights), state.n_maps
    dtype = np.float32 if n_maps < EXACT_FLOAT32 else np.float64
    sums: dict = {"maps": np.zeros(n_res)}
    if state.correct is not None:
        m, i = len(state.modes), len(state.iou_thresholds)
        sums["correct"] = np.zeros((n_res, m * i * state.n_thresholds))
        sums["top1"] = np.zeros((n_res, state.n_thresholds))
    right = (state.predicted == state.labels).astype(np.float64)
    vectors = {"right": right}
    if state.pointing_hit is not None:
        vectors["hits"] = state.pointing_hit.astype(np.float64)
    if state.energy is not None:
        vectors["energy"] = state.energy.astype(np.float64)
    for name in vectors:
        sums[name] = np.zeros(n_res)
    if state.fg_hist is not None:
        classes = np.unique(state.labels) if state.multilabel else np.array([-1])
        nb = state.fg_hist.shape[1]
        sums["hist_classes"] = classes
        sums["fg"] = np.zeros((len(classes), n_res, nb))
        sums["bg"] = np.zeros((len(classes), n_res, nb))
    key = state.iou_thresholds.index(state.maxboxacc_iou) if state.correct is not None else 0
    for start in range(0, n_maps, CHUNK_ROWS):
        rows = slice(start, min(start + CHUNK_ROWS, n_maps))
        w = weights[:, units[rows]].astype(np.float64)
        sums["maps"] += w.sum(axis=1)
        for name, v in vectors.items():
            sums[name] += w @ v[rows]
        if state.correct is not None:
            bits = state.correct_bits(rows)
            w32 = w.astype(dtype)
            sums["correct"] += w32 @ bits.reshape(len(bits), -1).astype(dtype)
            sums["top1"] += (w32 * right[rows].astype(dtype)) @ bits[:, 0, key, :].astype(dtype)
        if state.fg_hist is not None:
            for c, cls in enumerate(sums["hist_classes"]):
                sel = np.ones(rows.stop - rows.start, bool) if cls < 0 else state.labels[rows] == cls
                if sel.any():
                    sums["fg"][c] += w[:, sel] @ state.fg_hist[rows][sel].astype(np.float64)
                    sums["bg"][c] += w[:, sel] @ state.bg_hist[rows][sel].astype(np.float64)
    return sums


def _exact(values: np.ndarray) -> np.ndarray:
    return np.rint(values).astype(np.int64)


def _box_metrics(state: ImageState, sums: dict, out: dict) -> None:
    """MaxBoxAcc, V2 and parts, GT-known and top-1 loc per resample, as ``FrameEvaluator`` computes them."""
    n_res, t = len(sums["maps"]), state.n_thresholds
    counts = _exact(sums["correct"]).reshape(n_res, len(state.modes), len(state.iou_thresholds), t)
    total = _exact(sums["maps"]).astype(np.float64)
    curves = counts * 100. / total.reshape(-1, 1, 1, 1)              # (B, modes, IoUs, T)
    maxima = curves.max(axis=-1)
    key = state.iou_thresholds.index(state.maxboxacc_iou)
    if not state.fixed_threshold:
        out["maxboxacc"] = maxima[:, 0, key]
        if "all" in state.modes:
            a = state.modes.index("all")
            out["maxboxacc_v2"] = np.mean(maxima[:, a, :], axis=1)
            for j, d in enumerate(state.iou_thresholds):
                if d in (30, 50, 70):
                    out[f"maxboxacc_iou{d}"] = maxima[:, a, j]
    out["gt_known_loc"] = maxima[:, 0, key]
    if state.has_predictions:
        best = np.argmax(curves[:, 0, key, :], axis=1)
        top1 = _exact(sums["top1"]) * 100. / total[:, None]
        out["top1_loc"] = top1[np.arange(n_res), best]


def _pxap_piou(fg: np.ndarray, bg: np.ndarray, edges: np.ndarray) -> tuple[float, float]:
    try:
        r = _pxap_compute(_exact(fg), _exact(bg), edges)
    except NoForegroundError:
        return math.nan, math.nan
    return r.pxap, r.piou


def _mask_metrics(state: ImageState, sums: dict, out: dict) -> None:
    edges = bin_edges(state.cam_step)
    n_res = len(sums["maps"])
    if not state.multilabel:
        pairs = [_pxap_piou(sums["fg"][0, b], sums["bg"][0, b], edges) for b in range(n_res)]
        out["pxap"] = np.array([p for p, _ in pairs])
        out["piou"] = np.array([q for _, q in pairs])
        return
    per_class = np.array([[_pxap_piou(sums["fg"][c, b], sums["bg"][c, b], edges)[0]
                           for c in range(len(sums["hist_classes"]))] for b in range(n_res)])
    with np.errstate(invalid="ignore"):
        out["mpxap"] = np.array([float(row[~np.isnan(row)].mean()) if (~np.isnan(row)).any() else math.nan
                                 for row in per_class])
    # the set-level PxAP / PIoU of multi-label data sum every class's histograms
    pairs = [_pxap_piou(sums["fg"][:, b].sum(axis=0), sums["bg"][:, b].sum(axis=0), edges) for b in range(n_res)]
    out["pxap"] = np.array([p for p, _ in pairs])
    out["piou"] = np.array([q for _, q in pairs])


def resampled_metrics(state: ImageState, weights, units: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The numbers of every resample.

    Args:
        state: the per-image state.
        weights: (B, n_units) how often each image is drawn in each resample (all ones: the
            evaluation itself).
        units: (n_maps,) the column of ``weights`` of each map (default :func:`image_units`).

    Returns:
        ``{metric key: float64 (B,)}`` for every number that applies (``INTERVAL_KEYS``): percent,
        NaN where a resample leaves a number undefined (e.g. PxAP of a resample without foreground).
    """
    weights = np.atleast_2d(np.asarray(weights))
    if units is None:
        units = image_units(state)[0]
    sums = _weighted_sums(state, weights, units)
    out: dict[str, np.ndarray] = {}
    if state.correct is not None:
        _box_metrics(state, sums, out)
    total = sums["maps"]
    if state.has_predictions:
        out["top1_cls"] = 100.0 * (sums["right"] / total)
    if state.fg_hist is not None:
        _mask_metrics(state, sums, out)
    if "hits" in sums:
        out["pointing_game"] = 100.0 * (sums["hits"] / total)
    if "energy" in sums:
        out["energy_pointing_game"] = 100.0 * (sums["energy"] / total)
    return {k: np.asarray(out[k], dtype=np.float64) for k in INTERVAL_KEYS if k in out}


def _check(n_resamples: int, confidence: float) -> None:
    if int(n_resamples) < 1:
        raise ProtocolError(f"the number of bootstrap resamples must be a positive integer, got {n_resamples}; "
                            "1,000 is usual")
    if not 0 < confidence < 1:
        raise ProtocolError(f"the confidence must lie in (0, 1), got {confidence}; 0.95 gives 95% intervals")


def _interval(values: np.ndarray, confidence: float) -> tuple[float | None, float | None]:
    ok = values[~np.isnan(values)]
    if not len(ok):
        return None, None
    alpha = (1.0 - confidence) / 2
    low, high = np.percentile(ok, [100 * alpha, 100 * (1 - alpha)])
    return float(low), float(high)


def bootstrap(state: ImageState, *, n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95) -> dict:
    """Percentile bootstrap intervals of every number that applies (the result JSON's ``bootstrap``).

    Args:
        state: the per-image state of an evaluation.
        n_resamples: resamples (1,000 is usual).
        seed: seed of the resampling.
        confidence: the intervals' coverage (0.95).

    Returns:
        ``{"method": "percentile", "unit": "image", "n_resamples", "seed", "confidence", "n_images",
        "intervals": {key: {"low", "high", "std", "n_undefined"}}}`` (percent).
    """
    _check(n_resamples, confidence)
    units, n_units = image_units(state)
    values = resampled_metrics(state, resample_weights(n_units, int(n_resamples), seed), units)
    intervals = {}
    for key, v in values.items():
        low, high = _interval(v, confidence)
        ok = v[~np.isnan(v)]
        intervals[key] = {"low": low, "high": high, "std": float(np.std(ok, ddof=1)) if len(ok) > 1 else None,
                          "n_undefined": int(np.isnan(v).sum())}
    return {"method": "percentile", "unit": "image", "n_resamples": int(n_resamples), "seed": int(seed),
            "confidence": float(confidence), "n_images": int(n_units), "intervals": intervals}


def paired_bootstrap(first: ImageState, second: ImageState, *, n_resamples: int = 1000, seed: int = 0,
                     confidence: float = 0.95) -> dict:
    """Paired bootstrap test of ``second - first`` on the same images.

    Args:
        first, second: per-image states of two evaluations of the same maps' images (any order of
            rows; they are paired by (image id, class)).
        n_resamples, seed, confidence: as in :func:`bootstrap`.

    Returns:
        ``{"method": "paired percentile bootstrap", "n_resamples", "seed", "confidence", "n_images",
        "metrics": {key: {"first", "second", "difference", "low", "high", "p_value",
        "distinguishable"}}}`` for the numbers both evaluations have.

    Raises:
        FormatError: the two states hold different images.
    """
    _check(n_resamples, confidence)
    second = second.aligned_to(first)
    units, n_units = image_units(first)
    weights = resample_weights(n_units, int(n_resamples), seed)
    ones = np.ones((1, n_units), np.uint8)
    point_a, point_b = resampled_metrics(first, ones, units), resampled_metrics(second, ones, units)
    res_a, res_b = resampled_metrics(first, weights, units), resampled_metrics(second, weights, units)
    metrics = {}
    for key in (k for k in INTERVAL_KEYS if k in res_a and k in res_b):
        d_hat = float(point_b[key][0] - point_a[key][0])
        d = res_b[key] - res_a[key]
        low, high = _interval(d, confidence)
        ok = d[~np.isnan(d)]
        tail = min(np.count_nonzero(ok <= 0.0), np.count_nonzero(ok >= 0.0))
        p = min(1.0, 2.0 * (1 + int(tail)) / (1 + len(ok))) if len(ok) else None
        metrics[key] = {"first": float(point_a[key][0]), "second": float(point_b[key][0]), "difference": d_hat,
                        "low": low, "high": high, "p_value": p,
                        "distinguishable": None if low is None else not (low <= 0.0 <= high)}
    return {"method": "paired percentile bootstrap", "unit": "image", "n_resamples": int(n_resamples),
            "seed": int(seed), "confidence": float(confidence), "n_images": int(n_units), "metrics": metrics}
