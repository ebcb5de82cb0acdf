"""Several results side by side: metric differences against the first, and overlaid curves.

Example:
    >>> a = {"metrics": {"maxboxacc": 60.0, "pxap": None}, "protocol_hash": "h", "maps": {}, "dataset": {}}
    >>> b = {"metrics": {"maxboxacc": 62.5, "pxap": None}, "protocol_hash": "h", "maps": {}, "dataset": {}}
    >>> c = compare_metrics([a, b], labels=["A", "B"])
    >>> c["metrics"][0]["differences"]
    [None, 2.5]
"""

from __future__ import annotations

import os
import pathlib

from wsolbench.outputs import staged_folder
from wsolbench.report import sections

def _entry(section: str, key: str):
    return lambda diag: (diag.get(section) or {}).get(key)


#: Diagnostics listed after the metrics (``docs/protocol.md``): (key, display name, getter on ``diagnostics``).
DIAGNOSTIC_ROWS = (
    ("pointing_game", "Pointing game", _entry("pointing_game", "value")),
    ("energy_pointing_game", "Energy pointing game", _entry("energy_pointing_game", "value")),
    ("box_too_small", "Boxes too small (%)", _entry("box_size", "too_small")),
    ("box_too_large", "Boxes too large (%)", _entry("box_size", "too_large")),
    ("mask_too_small", "Masks too small (%)", _entry("mask_size", "too_small")),
    ("mask_too_large", "Masks too large (%)", _entry("mask_size", "too_large")),
)

COMPARE_FILES = {"maxboxacc": "compare_maxboxacc.png", "maxboxacc_v2": "compare_maxboxacc_v2.png",
                 "top1_loc": "compare_top1_loc.png", "pxap": "compare_pxap.png", "piou": "compare_piou.png"}


def result_label(result: dict, path=None) -> str:
    """A short name for a result: its method (and backbone) attribute, else the file name."""
    attrs = (result.get("maps") or {}).get("attrs") or {}
    if attrs.get("method"):
        backbone = attrs.get("backbone")
        if backbone and str(backbone).lower() != "none":
            return f"{attrs['method']} ({backbone})"
        return str(attrs["method"])
    if path is not None:
        return pathlib.Path(path).stem
    maps_path = (result.get("maps") or {}).get("path")
    return os.path.basename(maps_path) if maps_path else "result"


def unique_labels(labels: list[str]) -> list[str]:
    """Make labels distinct by appending ``#2``, ``#3`` to repeats."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return out


def _difference(value, reference):
    return None if value is None or reference is None else float(value) - float(reference)


def compare_metrics(results: list[dict], *, labels: list[str] | None = None, paths=None,
                    extras: list[dict] | None = None) -> dict:
    """Metrics of several results side by side, with differences against the first.

    Args:
        results: result dicts (``docs/result-json.md``); the first is the reference.
        labels: display names (default :func:`result_label`).
        paths: the files the results came from (recorded, and used for default labels).
        extras: per result, further named numbers (a study's own columns), listed after the metrics.

    Returns:
        ``{"reference": label, "same_protocol": bool, "results": [{"label", "path", "protocol_name",
        "protocol_hash", "protocol_differences", "dataset", "split", "n_images", "maps_sha256"}],
        "metrics": [{"key", "name", "values": [...], "differences": [None, ...]}]}``; a metric is listed
        when any result has it; a difference is ``None`` where either value is missing;
        ``protocol_differences`` holds the protocol settings that differ from the first result's;
        the diagnostics (pointing games, too-small / too-large shares; :data:`DIAGNOSTIC_ROWS`) follow
        the metrics, marked ``"diagnostic": true``.
    """
    from wsolbench.report.comparable import identity, protocol_differences

    paths = list(paths) if paths is not None else [None] * len(results)
    labels = unique_labels(list(labels) if labels is not None else
                           [result_label(r, p) for r, p in zip(results, paths)])
    rows = []
    for key, name in sections.METRIC_NAMES.items():
        values = [(r.get("metrics") or {}).get(key) for r in results]
        if any(v is not None for v in values):
            rows.append({"key": key, "name": name, "values": values,
                         "differences": [None] + [_difference(v, values[0]) for v in values[1:]]})
    for key, name, get in DIAGNOSTIC_ROWS:
        values = [get((r.get("diagnostics") or {})) for r in results]
        if any(v is not None for v in values):
            rows.append({"key": key, "name": name, "values": values, "diagnostic": True,
                         "differences": [None] + [_difference(v, values[0]) for v in values[1:]]})
    extras = extras or [{} for _ in results]
    for name in dict.fromkeys(k for e in extras for k in e):
        values = [e.get(name) for e in extras]
        rows.append({"key": name, "name": name, "values": values,
                     "differences": [None] + [_difference(v, values[0]) for v in values[1:]]})
    protocols = protocol_differences(results)
    info = [{"label": label, "path": None if p is None else str(p), "protocol_name": r.get("protocol_name"),
             "protocol_hash": r.get("protocol_hash"), "protocol_differences": diff,
             "dataset": (r.get("dataset") or {}).get("name"), "split": (r.get("dataset") or {}).get("split"),
             "n_images": identity(r)["n_images"], "maps_sha256": (r.get("maps") or {}).get("sha256")}
            for r, label, p, diff in zip(results, labels, paths, protocols)]
    protocols_used = {(r.get("protocol_name"), r.get("protocol_hash")) for r in results}
    return {"reference": labels[0] if labels else None, "same_protocol": len(protocols_used) <= 1,
            "results": info, "metrics": rows}


def _labelled(results, labels, getter):
    return [(label, s) for label, s in zip(labels, (getter(r) for r in results)) if s is not None]


def _plot_box(ax, entries, iou: str, curves) -> None:
    for i, (label, series) in enumerate(entries):
        if iou in series["curves"]:
            b, t = series["best"][iou], series["thresholds"]
            ax.plot(t, series["curves"][iou], color=curves.series_color(i), lw=1.8, marker=curves.marker_for(len(t)),
                    label=f"{label}: {b['value']:.1f}% at τ={sections.fmt_threshold(b['threshold'], series.get('step'))}")


def _plot_largest(entries, iou: str, out_path, curves) -> dict:
    fig, (ax,) = curves.new_figure(curves.SINGLE)
    _plot_box(ax, entries, iou, curves)
    curves.style_axes(ax, title=f"MaxBoxAcc: box accuracy at IoU {iou}, largest region",
                      xlabel="CAM threshold τ", ylabel="box accuracy (%)")
    ax.legend(loc="best", fontsize=8)
    return curves.save_figure(fig, out_path)


def _plot_all_regions(entries, out_path, curves) -> dict:
    ious = list(dict.fromkeys(d for _, s in entries for d in s["curves"]))
    fig, axes = curves.new_figure((4.0 * len(ious), 4.2), len(ious))
    for ax, iou in zip(axes, ious):
        _plot_box(ax, entries, iou, curves)
        curves.style_axes(ax, title=f"all regions, IoU {iou}", xlabel="CAM threshold τ", ylabel="box accuracy (%)")
        ax.legend(loc="best", fontsize=7)
    fig.suptitle("MaxBoxAccV2: box accuracy per IoU threshold (all regions)", fontsize=12)
    return curves.save_figure(fig, out_path)


def _plot_top1(entries, out_path, curves) -> dict:
    fig, (ax,) = curves.new_figure(curves.SINGLE)
    for i, (label, s) in enumerate(entries):
        ax.plot(s["thresholds"], s["top1"], color=curves.series_color(i), lw=1.8,
                marker=curves.marker_for(len(s["thresholds"])), label=f"{label}: {s['top1_at_best']:.1f}%")
    curves.style_axes(ax, title="Top-1 loc vs CAM threshold", xlabel="CAM threshold τ", ylabel="top-1 loc (%)")
    ax.legend(loc="best", fontsize=8)
    return curves.save_figure(fig, out_path)


def _plot_pr(entries, out_path, curves) -> dict:
    fig, (ax,) = curves.new_figure(curves.SINGLE)
    for i, (label, s) in enumerate(entries):
        ax.plot(s["recall"], s["precision"], drawstyle="steps-pre", lw=1.8, color=curves.series_color(i),
                label=f"{label}: PxAP {s['pxap']:.2f}%" if s["pxap"] is not None else label)
    curves.style_axes(ax, title="Pixel precision-recall (PxAP)", xlabel="recall", ylabel="precision", ylim=(0, 1.02))
    ax.legend(loc="best", fontsize=8)
    return curves.save_figure(fig, out_path)


def _plot_piou(entries, out_path, curves) -> dict:
    fig, (ax,) = curves.new_figure(curves.SINGLE)
    for i, (label, s) in enumerate(entries):
        ax.plot(s["thresholds"], s["iou"], lw=1.8, color=curves.series_color(i),
                label=f"{label}: PIoU {s['piou']:.2f}%" if s.get("piou") is not None else label)
    curves.style_axes(ax, title="Mask IoU vs score threshold (PIoU)", xlabel="score threshold τ",
                      ylabel="mask IoU", ylim=(0, 1.02))
    ax.legend(loc="best", fontsize=8)
    return curves.save_figure(fig, out_path)


def plot_comparison(results: list[dict], labels: list[str], out_dir) -> dict[str, dict]:
    """Overlaid curves of several results, one PNG per metric that any result has.

    Files (in ``out_dir``): ``compare_maxboxacc.png`` (largest region, MaxBoxAcc IoU),
    ``compare_maxboxacc_v2.png`` (all regions, one panel per IoU), ``compare_top1_loc.png``,
    ``compare_pxap.png`` (precision-recall) and ``compare_piou.png`` (mask IoU vs threshold).

    Args:
        results: result dicts.
        labels: their display names (distinct).
        out_dir: the folder to write.

    Returns:
        ``{metric key: plotted data}`` (see :mod:`wsolbench.report.curves`).

    Raises:
        MissingDependencyError: matplotlib is not installed.
    """
    from wsolbench.report import curves

    curves.require_matplotlib(alternative="or leave out --out to print the comparison only")
    iou = str((results[0].get("protocol") or {}).get("maxboxacc_iou", 50)) if results else "50"
    top1 = [(lb, s) for lb, s in _labelled(results, labels, sections.top1_series) if s["top1"] is not None]
    plots = {
        "maxboxacc": (_labelled(results, labels, lambda r: sections.box_series(r, "largest")),
                      lambda e, path: _plot_largest(e, iou, path, curves)),
        "maxboxacc_v2": (_labelled(results, labels, lambda r: sections.box_series(r, "all")),
                         lambda e, path: _plot_all_regions(e, path, curves)),
        "top1_loc": (top1, lambda e, path: _plot_top1(e, path, curves)),
        "pxap": (_labelled(results, labels, sections.pr_series), lambda e, path: _plot_pr(e, path, curves)),
        "piou": (_labelled(results, labels, sections.piou_series), lambda e, path: _plot_piou(e, path, curves)),
    }
    with staged_folder(out_dir) as stage:
        drawn = {key: plot(entries, stage / COMPARE_FILES[key]) for key, (entries, plot) in plots.items() if entries}
    out = pathlib.Path(out_dir)
    for data in drawn.values():
        if isinstance(data, dict) and "path" in data:
            data["path"] = str(out / pathlib.Path(data["path"]).name)
    return drawn


def paired_tests(states: list, labels: list[str], *, n_resamples: int = 1000, seed: int = 0,
                 confidence: float = 0.95) -> list[dict]:
    """Paired bootstrap tests of every result against the first, on their per-image states.

    Args:
        states: one :class:`~wsolbench.metrics.imagestate.ImageState` per result, or a string saying
            why a result has none (the test of that result is then skipped with that reason).
        labels: the results' display names.
        n_resamples, seed, confidence: see :func:`wsolbench.metrics.bootstrap.paired_bootstrap`.

    Returns:
        One entry per result after the first: ``{"label", "against", **paired_bootstrap(...)}``, or
        ``{"label", "against", "skipped": reason}``.
    """
    from wsolbench.errors import FormatError
    from wsolbench.metrics.bootstrap import paired_bootstrap

    out = []
    for state, label in zip(states[1:], labels[1:]):
        entry = {"label": label, "against": labels[0]}
        reason = next((s for s in (states[0], state) if isinstance(s, str)), None)
        if reason is not None:
            out.append({**entry, "skipped": reason})
            continue
        try:
            out.append({**entry, **paired_bootstrap(states[0], state, n_resamples=n_resamples, seed=seed,
                                                    confidence=confidence)})
        except FormatError as e:
            out.append({**entry, "skipped": str(e)})
    return out


def verdict(test: dict) -> str:
    """``"higher"``, ``"lower"`` or ``"not distinguishable"`` for one metric of a paired test."""
    if not test.get("distinguishable"):
        return "not distinguishable"
    return "higher" if test["difference"] > 0 else "lower"
