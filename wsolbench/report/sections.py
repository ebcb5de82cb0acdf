"""The data of every report section, read from a result dict (``docs/result-json.md``).

Pure functions, no plotting: each returns plain lists and numbers that the curve functions
plot and the HTML page embeds as JSON, so what is drawn is exactly what the result holds.

Example:
    >>> series = box_series({"box": None, "protocol": {}}, "largest")
    >>> series is None
    True
"""

from __future__ import annotations

import math

METRIC_NAMES = {
    "maxboxacc": "MaxBoxAcc",
    "maxboxacc_v2": "MaxBoxAccV2",
    "maxboxacc_iou30": "BoxAcc IoU30 (all regions)",
    "maxboxacc_iou50": "BoxAcc IoU50 (all regions)",
    "maxboxacc_iou70": "BoxAcc IoU70 (all regions)",
    "gt_known_loc": "GT-known loc",
    "top1_loc": "Top-1 loc",
    "top1_cls": "Top-1 cls",
    "pxap": "PxAP",
    "piou": "PIoU",
    "mpxap": "mPxAP",
}
OLD_PROTOCOL_THRESHOLDS = (0.2, 0.3)
MODE_TITLES = {"largest": "largest region (MaxBoxAcc)", "all": "all regions (MaxBoxAccV2)"}


def threshold_digits(step: float | None) -> int:
    """Decimals that show every threshold of a grid of this step alike (0.01 -> 2, 0.001 -> 3)."""
    if not step or step <= 0:
        return 2
    return max(2, int(math.ceil(-math.log10(step) - 1e-9)))


def fmt_threshold(value, step: float | None) -> str:
    """A CAM / score threshold with the grid's decimals (``0.30`` beside ``0.37``, not ``0.3``).

    Example:
        >>> fmt_threshold(0.3, 0.01), fmt_threshold(0.37, 0.01), fmt_threshold(0.2, 0.001)
        ('0.30', '0.37', '0.200')
    """
    return "" if value is None else f"{float(value):.{threshold_digits(step)}f}"


def result_step(result: dict) -> float | None:
    """The CAM-threshold step of a result's protocol."""
    return (result.get("protocol") or {}).get("cam_step")


def _index_near(thresholds: list[float], value: float) -> int | None:
    """Index of the grid threshold nearest ``value`` if it lies within half a step, else None."""
    if not thresholds:
        return None
    i = min(range(len(thresholds)), key=lambda k: abs(thresholds[k] - value))
    step = abs(thresholds[1] - thresholds[0]) if len(thresholds) > 1 else 1e-9
    return i if abs(thresholds[i] - value) <= step / 2 + 1e-12 else None


def box_series(result: dict, mode: str) -> dict | None:
    """Box accuracy vs CAM threshold, one curve per IoU threshold, for one box mode.

    Args:
        result: a result dict.
        mode: ``largest`` (MaxBoxAcc) or ``all`` (MaxBoxAccV2).

    Returns:
        ``None`` when the result has no such section, else a dict with ``thresholds`` (T,),
        ``curves`` {iou: (T,) percent}, ``best`` {iou: {"threshold", "index", "value"}} and
        ``old_protocol`` {"0.2": {iou: percent}, ...} (the accuracy at the fixed thresholds of the
        original CAM protocol, where they lie on the grid).
    """
    box = result.get("box") or {}
    section = box.get(mode)
    if not section:
        return None
    thresholds = [float(t) for t in box["thresholds"]]
    ious = [str(d) for d in box.get("iou_thresholds", section["curves"].keys()) if str(d) in section["curves"]]
    curves = {d: [float(v) for v in section["curves"][d]] for d in ious}
    best = {d: {"threshold": float(section["best_threshold"][d]), "index": int(section["best_threshold_index"][d]),
                "value": float(section["max"][d])} for d in ious}
    old = {}
    for t in OLD_PROTOCOL_THRESHOLDS:
        i = _index_near(thresholds, t)
        if i is not None:
            old[f"{t:g}"] = {d: curves[d][i] for d in ious}
    return {"mode": mode, "title": MODE_TITLES[mode], "thresholds": thresholds, "curves": curves,
            "best": best, "old_protocol": old, "step": result_step(result)}


def top1_series(result: dict, *, mode: str = "largest") -> dict | None:
    """Top-1 loc and GT-known loc vs CAM threshold at the protocol's MaxBoxAcc IoU.

    Returns:
        ``None`` without box results, else ``thresholds`` (T,), ``iou`` (str), ``gt_known``
        (T,) percent, ``top1`` (T,) percent or ``None`` (no predicted labels), ``best_index``
        (the GT-known optimum, where top-1 loc is reported) and ``top1_at_best``.
    """
    box = result.get("box") or {}
    section = box.get(mode)
    if not section:
        return None
    iou = str(result.get("protocol", {}).get("maxboxacc_iou", 50))
    if iou not in section["curves"]:
        iou = next(iter(section["curves"]))
    top1 = (section.get("top1_curves") or {}).get(iou)
    at_best = (section.get("top1_at_best_threshold") or {}).get(iou)
    return {"thresholds": [float(t) for t in box["thresholds"]], "iou": iou,
            "gt_known": [float(v) for v in section["curves"][iou]],
            "top1": None if top1 is None else [float(v) for v in top1],
            "best_index": int(section["best_threshold_index"][iou]),
            "top1_at_best": None if at_best is None else float(at_best), "step": result_step(result)}


def mask_thresholds(edges: list[float]) -> list[float]:
    """The score threshold of each precision/recall index: index k means ``score >= edges[T+1-k]``.

    Args:
        edges: the T+3 histogram bin edges of the result's mask section.

    Returns:
        T+2 thresholds (index 0 is 2.0, index 1 is 1.0, the last is 0.0).
    """
    n = len(edges) - 1  # T+2 curve points
    return [float(edges[n - 1 - k]) for k in range(n)]


def pr_series(result: dict) -> dict | None:
    """The pixel precision-recall curve of a mask result.

    Returns:
        ``None`` without a mask section, else ``recall`` and ``precision`` (the curve points
        from index 1 on, where precision is defined; the reference's PxAP sums over exactly
        these), ``recall_start`` (the recall at index 0, where the first step begins) and ``pxap``.
    """
    mask = result.get("mask")
    if not mask:
        return None
    points = [(float(r), float(p)) for r, p in zip(mask["recall"][1:], mask["precision"][1:]) if p is not None]
    return {"recall": [r for r, _ in points], "precision": [p for _, p in points],
            "recall_start": float(mask["recall"][0]),
            "pxap": None if mask.get("pxap") is None else float(mask["pxap"])}


def piou_series(result: dict) -> dict | None:
    """Mask IoU vs score threshold (thresholds in [0, 1]; the '>= 2' point is dropped).

    Returns:
        ``None`` without a mask section, else ``thresholds``, ``iou`` (fractions, as stored),
        ``piou`` (percent) and ``piou_threshold``.
    """
    mask = result.get("mask")
    if not mask or mask.get("iou_curve") is None:
        return None
    thr = mask_thresholds(mask["thresholds"])
    keep = [k for k, t in enumerate(thr) if t <= 1.0]
    return {"thresholds": [thr[k] for k in keep], "iou": [float(mask["iou_curve"][k]) for k in keep],
            "piou": mask.get("piou"), "piou_threshold": mask.get("piou_threshold"), "step": result_step(result)}


def per_class_rows(result: dict, *, class_names=None) -> list[dict]:
    """One row per class: ``class`` (int), ``name``, ``n_images``, ``gt_known_loc``, ``top1_cls``, ``pxap``.

    Args:
        result: a result dict.
        class_names: optional names indexed by class id (from the annotation set).
    """
    rows = []
    for key, entry in sorted((result.get("per_class") or {}).items(), key=lambda kv: int(kv[0])):
        c = int(key)
        name = str(class_names[c]) if class_names is not None and c < len(class_names) else ""
        rows.append({"class": c, "name": name, "n_images": int(entry.get("n_images", 0)),
                     "gt_known_loc": entry.get("gt_known_loc"), "top1_cls": entry.get("top1_cls"),
                     "pxap": entry.get("pxap")})
    return rows


def worst_classes(rows: list[dict], *, n: int = 10) -> tuple[str | None, list[dict]]:
    """The worst classes by GT-known loc (or PxAP when there are no box numbers): ``n`` of them, but
    never more than half of the scored classes, so that the list singles some out (on a 10-class
    dataset: the 5 worst, not all 10).

    Returns:
        ``(metric key, rows)``, worst first, ties broken by class index; ``(None, [])`` when
        fewer than two classes have a number.
    """
    for key in ("gt_known_loc", "pxap"):
        scored = [r for r in rows if r.get(key) is not None and not math.isnan(r[key])]
        if len(scored) >= 2:
            return key, sorted(scored, key=lambda r: (r[key], r["class"]))[:min(n, len(scored) // 2)]
        if scored:
            return None, []
    return None, []


def metric_rows(result: dict) -> list[dict]:
    """Headline metrics that apply (non-null), in the documented order: ``key``, ``name``, ``value``
    and ``interval`` (``{"low", "high"}`` of the result's bootstrap, or ``None``)."""
    metrics = result.get("metrics") or {}
    intervals = (result.get("bootstrap") or {}).get("intervals") or {}
    return [{"key": k, "name": name, "value": float(metrics[k]), "interval": _interval_of(intervals.get(k))}
            for k, name in METRIC_NAMES.items() if metrics.get(k) is not None]


def _interval_of(entry: dict | None) -> dict | None:
    if not entry or entry.get("low") is None:
        return None
    return {"low": float(entry["low"]), "high": float(entry["high"])}


def bootstrap_note(result: dict) -> str | None:
    """One sentence saying how the intervals were computed, or ``None`` without intervals."""
    boot = result.get("bootstrap")
    if not boot:
        return None
    return (f"Intervals: {100 * boot['confidence']:g}% percentile bootstrap over the {boot['n_images']} images "
            f"({boot['n_resamples']} resamples, seed {boot['seed']}; best thresholds re-selected in each resample).")


def diagnostics_series(result: dict) -> dict | None:
    """The pointing games and size diagnostics: summaries, per-image log2 area ratios for the
    histograms, and per-class rows of the too-small / too-large shares.

    Returns:
        ``None`` when the result has no diagnostics, else ``{"pointing_game", "energy_pointing_game"
        (the result's entries, with ``interval``), "sizes": [{"kind": "box"|"mask", "summary",
        "ratios": [float], "per_class": [{"class", "n", "median_ratio", "too_small", "too_large"}]}]}``.
    """
    diag = result.get("diagnostics") or {}
    if not diag.get("pointing_game"):
        return None
    intervals = (result.get("bootstrap") or {}).get("intervals") or {}
    out = {key: {**diag[key], "interval": _interval_of(intervals.get(key))}
           for key in ("pointing_game", "energy_pointing_game")}
    per_image = result.get("per_image") or {}
    out["sizes"] = []
    for kind in ("box", "mask"):
        summary = diag.get(f"{kind}_size")
        if not summary or not summary.get("n"):
            continue
        ratios = [float(v) for v in per_image.get(f"{kind}_area_ratio") or [] if v is not None]
        per_class = [{"class": int(c), **{k: v for k, v in e.items() if k != "q25_ratio" and k != "q75_ratio"}}
                     for c, e in sorted((summary.get("per_class") or {}).items(), key=lambda kv: int(kv[0]))]
        out["sizes"].append({"kind": kind, "summary": {k: v for k, v in summary.items() if k != "per_class"},
                             "ratios": ratios, "per_class": per_class, "step": result_step(result)})
    return out


def provenance(result: dict) -> dict:
    """Where the numbers come from: versions, maps file and checksum, dataset, protocol."""
    maps = result.get("maps") or {}
    dataset = result.get("dataset") or {}
    return {
        "wsolbench_version": result.get("wsolbench_version"),
        "created": result.get("created"),
        "maps_path": maps.get("path"), "maps_sha256": maps.get("sha256"), "n_maps": maps.get("n_maps"),
        "maps_attrs": maps.get("attrs") or {},
        "dataset_spec": dataset.get("spec"), "dataset": dataset.get("name"), "split": dataset.get("split"),
        "n_images": dataset.get("n_images"), "num_classes": dataset.get("num_classes"),
        "protocol_name": result.get("protocol_name"), "protocol_hash": result.get("protocol_hash"),
        "protocol": result.get("protocol") or {}, "counts": result.get("counts") or {},
    }
