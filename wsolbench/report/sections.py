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
            "best": best, "old_protocol": old}


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
            "top1_at_best": None if at_best is None else float(at_best)}


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
            "piou": mask.get("piou"), "piou_threshold": mask.get("piou_threshold")}


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
    """The ``n`` classes with the lowest GT-known loc (or PxAP when there are no box numbers).

    Returns:
        ``(metric key, rows)``, worst first, ties broken by class index; ``(None, [])`` when
        no class has a number.
    """
    for key in ("gt_known_loc", "pxap"):
        scored = [r for r in rows if r.get(key) is not None and not math.isnan(r[key])]
        if scored:
            return key, sorted(scored, key=lambda r: (r[key], r["class"]))[:n]
    return None, []


def metric_rows(result: dict) -> list[dict]:
    """Headline metrics that apply (non-null), in the documented order: ``key``, ``name``, ``value``."""
    metrics = result.get("metrics") or {}
    return [{"key": k, "name": name, "value": float(metrics[k])}
            for k, name in METRIC_NAMES.items() if metrics.get(k) is not None]


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
