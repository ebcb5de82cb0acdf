"""An :class:`~wsolbench.metrics.result.EvaluationResult` as pandas tables, for notebooks
(the ``[pandas]`` extra; pandas is imported only when a table is asked for).

* :func:`summary_frame`: one row per result (dataset, maps, protocol, the 11 headline metrics);
  ``pd.concat`` of several results is a comparison table.
* :func:`per_class_frame`: one row per class (index ``class``).
* :func:`per_image_frame`: one row per evaluated map (an image of a multi-label dataset has one
  row per class it holds).
* :func:`curve_frame`: box accuracy per CAM threshold (one column per region mode and IoU), or
  the pixel precision / recall / IoU per score threshold.

The tables hold the result's own numbers (``docs/result-json.md``), nothing recomputed.

Example:
    >>> from wsolbench.metrics.result import EvaluationResult             # doctest: +SKIP
    >>> result = EvaluationResult.load("result.json")                     # doctest: +SKIP
    >>> result.to_frame()[["dataset", "maxboxacc_v2"]]                    # doctest: +SKIP
    >>> result.per_class_frame().sort_values("gt_known_loc").head()       # doctest: +SKIP
"""

from __future__ import annotations

from wsolbench.errors import WsolbenchError
from wsolbench.metric_names import METRIC_KEYS
from wsolbench.optional import import_optional


def pandas():
    """The ``pandas`` module, or a :class:`MissingDependencyError` saying how to install it."""
    return import_optional("pandas", feature="a result table", extra="pandas", alternative="or read result.to_dict()")


def summary_frame(result):
    """One row: ``dataset``, ``split``, ``maps``, ``method``, ``backbone``, ``protocol``, ``protocol_hash``,
    ``n_images`` and the headline metrics (percent; NaN where a metric does not apply)."""
    pd = pandas()
    attrs = result.maps.get("attrs") or {}
    row = {"dataset": result.dataset.get("spec") or result.dataset.get("name"), "split": result.dataset.get("split"),
           "maps": result.maps.get("path"), "method": attrs.get("method"), "backbone": attrs.get("backbone"),
           "protocol": result.protocol_name, "protocol_hash": result.protocol_hash,
           "n_images": result.counts.get("n_images")}
    row.update({k: result.metrics.get(k) for k in METRIC_KEYS})
    frame = pd.DataFrame([row])
    return frame.astype({k: "float64" for k in METRIC_KEYS})


def per_class_frame(result):
    """One row per class (index ``class``, int): ``n_images``, ``gt_known_loc``, ``top1_cls``, ``pxap``."""
    pd = pandas()
    columns = ["n_images", "gt_known_loc", "top1_cls", "pxap"]
    rows = {int(c): {k: v.get(k) for k in columns} for c, v in result.per_class.items()}
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=columns).sort_index()
    frame.index.name = "class"
    return frame.astype({"n_images": "int64", "gt_known_loc": "float64", "top1_cls": "float64", "pxap": "float64"})


def per_image_frame(result):
    """One row per evaluated map: ``image_id``, ``label``, ``predicted`` (nullable int), ``iou`` (best IoU of the
    largest region at the MaxBoxAcc threshold), ``constant_map``, and the diagnostics the result has:
    ``pointing_hit``, ``energy``, ``box_area_ratio``, ``mask_area_ratio`` (NaN where undefined)."""
    pd = pandas()
    p = result.per_image
    n = len(p.get("image_ids", []))

    def floats(values):
        return [float("nan") if v is None else float(v) for v in values]

    iou = floats(p.get("iou") or [None] * n)
    frame = pd.DataFrame({"image_id": p.get("image_ids", []), "label": p.get("labels", []),
                          "predicted": pd.array(p.get("predicted") or [None] * n, dtype="Int64"),
                          "iou": iou, "constant_map": p.get("constant_map") or [False] * n})
    if p.get("pointing_hit") is not None:
        frame["pointing_hit"] = pd.Series(p["pointing_hit"], dtype="bool")
    for key in ("energy", "box_area_ratio", "mask_area_ratio"):
        if p.get(key) is not None:
            frame[key] = floats(p[key])
    return frame.astype({"image_id": "object", "label": "int64", "iou": "float64", "constant_map": "bool"})


def _box_curves(result, pd):
    box = result.box
    if not box:
        raise WsolbenchError("this result has no box curves (a mask dataset?); use curve_frame(result, 'mask')")
    columns = {}
    for mode in ("largest", "all"):
        section = box.get(mode)
        if not section:
            continue
        for iou, curve in section["curves"].items():
            columns[f"{mode}@{iou}"] = curve
        for iou, curve in (section.get("top1_curves") or {}).items():
            if curve is not None:
                columns[f"top1 {mode}@{iou}"] = curve
    frame = pd.DataFrame(columns, index=pd.Index(box["thresholds"], name="cam_threshold"))
    return frame.astype("float64")


def _mask_curves(result, pd):
    mask = result.mask
    if not mask:
        raise WsolbenchError("this result has no pixel curves (a box dataset?); use curve_frame(result, 'box')")
    # precision[i] and recall[i] are for "score >= edge", edges from the top (2.0) down to 0 (docs/result-json.md)
    thresholds = list(mask["thresholds"][:-1])[::-1]
    frame = pd.DataFrame({"precision": mask["precision"], "recall": mask["recall"], "iou": mask["iou_curve"]},
                         index=pd.Index(thresholds, name="score_threshold"))
    return frame.astype("float64")


def curve_frame(result, kind: str = "box"):
    """The result's curves as a table.

    Args:
        kind: ``box``: percent of images correct per CAM threshold (index ``cam_threshold``), columns
            ``largest@50``, ``all@30`` ... and ``top1 largest@50`` ... where predictions exist;
            ``mask``: ``precision``, ``recall``, ``iou`` (fractions 0..1, as in the result JSON: PIoU is 100 x
            the largest ``iou``) per score threshold (index ``score_threshold``, from 2.0 down to 0, as the
            reference builds the curve).

    Raises:
        WsolbenchError: the result has no such curves, or ``kind`` is neither ``box`` nor ``mask``.
    """
    pd = pandas()
    if kind == "box":
        return _box_curves(result, pd)
    if kind == "mask":
        return _mask_curves(result, pd)
    raise WsolbenchError(f"curve_frame: kind {kind!r} is neither 'box' nor 'mask'")
