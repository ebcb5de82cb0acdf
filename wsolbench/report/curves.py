"""Curves of a result as PNGs (matplotlib, imported lazily; no display needed).

Figures are built with ``matplotlib.figure.Figure`` and the Agg canvas, never through pyplot, so
drawing changes no global state. Every function takes the series of
:mod:`wsolbench.report.sections`, writes one PNG atomically and returns the data it plotted, read
back from the drawn lines: ``{"size": (width, height), "panels": [{"title", "lines": {label:
{"x": [...], "y": [...]}}}]}``.

Example:
    >>> from wsolbench.report.curves import matplotlib_available
    >>> isinstance(matplotlib_available(), bool)
    True
"""

from __future__ import annotations

import io
import pathlib

from wsolbench.errors import MissingDependencyError
from wsolbench.atomic import write_bytes_atomic
from wsolbench.report.sections import fmt_threshold

DPI = 100
WIDE = (11.0, 4.2)     # two panels side by side: 1100 x 420 px
SINGLE = (6.4, 4.2)    # one panel: 640 x 420 px
IOU_COLORS = {"30": "#1f77b4", "50": "#ff7f0e", "70": "#2ca02c"}
OTHER_COLORS = ("#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#d62728")
SERIES_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
INSTALL_HINT = "pip install 'wsolbench[viz]' (or: pip install matplotlib)"


def matplotlib_available() -> bool:
    """True when matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def require_matplotlib(*, alternative: str = "") -> None:
    """Check that matplotlib is importable.

    Args:
        alternative: what else the user can do, appended to the message.

    Raises:
        MissingDependencyError: with the command that installs it.
    """
    if not matplotlib_available():
        raise MissingDependencyError(f"drawing curves needs matplotlib, which is not installed; install it with: "
                                     f"{INSTALL_HINT}" + (f", {alternative}" if alternative else ""))


def new_figure(figsize: tuple[float, float], ncols: int = 1):
    """A matplotlib Figure on the Agg canvas with ``ncols`` axes side by side.

    Raises:
        MissingDependencyError: matplotlib is not installed (the message says how to install it).
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        raise MissingDependencyError(f"drawing curves needs matplotlib, which is not installed ({e}); "
                                     f"install it with: {INSTALL_HINT}") from e
    fig = Figure(figsize=figsize, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def series_color(i: int) -> str:
    """The colour of the i-th compared result (the reference, i = 0, is blue)."""
    return SERIES_COLORS[i % len(SERIES_COLORS)]


def color_for(key: str, i: int) -> str:
    """A stable colour: IoU thresholds keep theirs across figures, others cycle."""
    return IOU_COLORS.get(key, OTHER_COLORS[i % len(OTHER_COLORS)])


def style_axes(ax, *, title: str, xlabel: str, ylabel: str, xlim=(0.0, 1.0), ylim=(0.0, 100.0)) -> None:
    """Title, axis labels, limits and a light grid."""
    ax.set_title(title, fontsize=11)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.grid(True, alpha=0.3)


def marker_for(n_points: int) -> str:
    """Point markers on short curves (a single fixed threshold would otherwise be invisible)."""
    return "o" if n_points <= 25 else ""


def save_figure(fig, out_path) -> dict:
    """Write ``fig`` as a PNG atomically and return the plotted data of its labelled lines and bars.

    Returns:
        ``{"path", "size": (width, height), "panels": [{"title", "lines": {label: {"x", "y"}},
        "bars": {label: [value, ...]}}]}`` (bar values are lengths: widths of horizontal bars).
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    write_bytes_atomic(out_path, buf.getvalue())
    panels = []
    for ax in fig.axes:
        lines = {ln.get_label(): {"x": [float(v) for v in ln.get_xdata()], "y": [float(v) for v in ln.get_ydata()]}
                 for ln in ax.get_lines() if not ln.get_label().startswith("_")}
        bars = {c.get_label(): [float(p.get_width() if c.orientation == "horizontal" else p.get_height())
                                for p in c.patches]
                for c in ax.containers if hasattr(c, "orientation") and not str(c.get_label()).startswith("_")}
        panels.append({"title": ax.get_title(), "lines": lines, "bars": bars})
    width, height = fig.canvas.get_width_height()
    return {"path": str(pathlib.Path(out_path)), "size": (int(width), int(height)), "panels": panels}


def _box_panel(ax, series: dict) -> None:
    t = series["thresholds"]
    for i, (iou, curve) in enumerate(series["curves"].items()):
        color, best = color_for(iou, i), series["best"][iou]
        ax.plot(t, curve, color=color, marker=marker_for(len(t)), lw=1.8,
                label=f"IoU {iou}: max {best['value']:.1f}% at τ={fmt_threshold(best['threshold'], series.get('step'))}")
        ax.plot([best["threshold"]], [best["value"]], marker="*", ms=13, color=color, mec="black", mew=0.6,
                ls="none", label="_best")
    for k, (thr, values) in enumerate(series["old_protocol"].items()):
        ax.axvline(float(thr), color="0.35", ls=":", lw=1.2, label="_old")
        ax.text(float(thr), 101.5, f"τ={thr}", ha="center", va="bottom", fontsize=8, color="0.3")
    style_axes(ax, title=f"Box accuracy, {series['title']}", xlabel="CAM threshold τ",
           ylabel="box accuracy (%)", ylim=(0, 108))
    ax.plot([], [], marker="*", ms=10, color="0.5", mec="black", ls="none", label="best τ per IoU")
    if series["old_protocol"]:
        ax.plot([], [], color="0.35", ls=":", label="fixed τ of CAM 2016 protocol")
    ax.legend(loc="best", fontsize=8, framealpha=0.9)


def plot_box_accuracy(panels: list[dict], out_path) -> dict:
    """Box accuracy vs CAM threshold: one panel per box mode, one curve per IoU threshold.

    The best threshold of each IoU is starred; the fixed thresholds of the original CAM
    protocol (0.2, 0.3) are dotted vertical lines.

    Args:
        panels: one or two :func:`~wsolbench.report.sections.box_series` dicts.
        out_path: PNG to write (1100 x 420 px for two panels, 640 x 420 for one).
    """
    fig, axes = new_figure(WIDE if len(panels) > 1 else SINGLE, len(panels))
    for ax, series in zip(axes, panels):
        _box_panel(ax, series)
    return save_figure(fig, out_path)


def plot_top1(series: dict, out_path) -> dict:
    """Top-1 loc beside GT-known loc vs CAM threshold (one 640 x 420 px panel).

    Args:
        series: a :func:`~wsolbench.report.sections.top1_series` dict.
        out_path: PNG to write.
    """
    fig, (ax,) = new_figure(SINGLE)
    t, i = series["thresholds"], series["best_index"]
    ax.plot(t, series["gt_known"], color="#1f77b4", lw=1.8, marker=marker_for(len(t)),
            label=f"GT-known loc (max {series['gt_known'][i]:.1f}%)")
    if series["top1"] is not None:
        ax.plot(t, series["top1"], color="#d62728", lw=1.8, marker=marker_for(len(t)),
                label=f"top-1 loc ({series['top1'][i]:.1f}% at the GT-known best τ)")
    ax.axvline(t[i], color="0.35", ls="--", lw=1.0, label=f"GT-known best τ={fmt_threshold(t[i], series.get('step'))}")
    title = f"Top-1 vs GT-known localization (IoU {series['iou']})"
    if series["top1"] is None:
        ax.text(0.5, 0.5, "no predicted labels in the maps file:\ntop-1 loc not available",
                transform=ax.transAxes, ha="center", va="center", fontsize=10, color="0.3")
    style_axes(ax, title=title, xlabel="CAM threshold τ", ylabel="localization accuracy (%)")
    ax.legend(loc="lower left", fontsize=8, framealpha=0.9)
    return save_figure(fig, out_path)


def plot_mask_curves(pr: dict, piou: dict | None, out_path) -> dict:
    """Pixel precision-recall (with PxAP) and mask IoU vs threshold (with PIoU), 1100 x 420 px.

    Args:
        pr: a :func:`~wsolbench.report.sections.pr_series` dict.
        piou: a :func:`~wsolbench.report.sections.piou_series` dict or ``None``.
        out_path: PNG to write.
    """
    fig, (ax_pr, ax_iou) = new_figure(WIDE, 2)
    pxap = pr["pxap"]
    ax_pr.plot(pr["recall"], pr["precision"], color="#1f77b4", lw=1.8, drawstyle="steps-pre",
               label="PxAP = n/a" if pxap is None else f"PxAP = {pxap:.2f}%")
    if pr["recall"]:
        # the shaded area is PxAP: each precision times the recall step that precedes it
        xs, ys = [pr["recall_start"]] + pr["recall"], pr["precision"][:1] + pr["precision"]
        ax_pr.fill_between(xs, ys, step="pre", alpha=0.15, color="#1f77b4")
    style_axes(ax_pr, title="Pixel precision-recall", xlabel="recall", ylabel="precision", ylim=(0, 1.02))
    ax_pr.legend(loc="upper right", fontsize=9)
    if piou is not None:
        ax_iou.plot(piou["thresholds"], piou["iou"], color="#2ca02c", lw=1.8, label="mask IoU")
        if piou.get("piou") is not None and piou.get("piou_threshold") is not None:
            ax_iou.plot([piou["piou_threshold"]], [max(piou["iou"])], marker="*", ms=13, color="#2ca02c",
                        mec="black", ls="none", label=f"PIoU = {piou['piou']:.2f}% at τ={fmt_threshold(piou['piou_threshold'], piou.get('step'))}")
        style_axes(ax_iou, title="Mask IoU vs score threshold", xlabel="score threshold τ (pixels with score ≥ τ)",
               ylabel="mask IoU", ylim=(0, 1.02))
        ax_iou.legend(loc="upper right", fontsize=9)
    else:
        ax_iou.set_axis_off()
    return save_figure(fig, out_path)


def plot_worst_classes(metric: str, rows: list[dict], out_path, *, label: str) -> dict:
    """Horizontal bars of the worst classes (640 x 420 px).

    Args:
        metric: the row key plotted (``gt_known_loc`` or ``pxap``).
        rows: rows of :func:`~wsolbench.report.sections.worst_classes`, worst first.
        out_path: PNG to write.
        label: the metric's display name.
    """
    fig, (ax,) = new_figure(SINGLE)
    names = [f"{r['class']}" + (f" {r['name'][:18]}" if r.get("name") else "") for r in rows]
    values = [float(r[metric]) for r in rows]
    y = list(range(len(rows)))[::-1]
    ax.barh(y, values, color="#d62728", alpha=0.8, label=label)
    for yi, v in zip(y, values):
        ax.text(v + 1, yi, f"{v:.1f}", va="center", fontsize=8)
    ax.set_yticks(y, names, fontsize=8)
    style_axes(ax, title=f"{len(rows)} worst classes by {label}", xlabel=f"{label} (%)", ylabel="class",
           xlim=(0, 105), ylim=(-0.7, len(rows) - 0.3))
    return save_figure(fig, out_path)


def plot_size_ratios(sizes: list[dict], out_path) -> dict:
    """Histograms of predicted / GT area at the best threshold, on a log2 axis, one panel per kind
    (box, mask), with the too-small / too-large bounds marked (640 x 420 px per panel).

    Args:
        sizes: the ``sizes`` entries of :func:`~wsolbench.report.sections.diagnostics_series`.
        out_path: PNG to write.
    """
    import numpy as np

    from wsolbench.metrics.sizes import LOG2_EDGES

    fig, axes = new_figure((SINGLE[0] * len(sizes), SINGLE[1]), len(sizes))
    for ax, entry in zip(axes, sizes):
        s, kind = entry["summary"], entry["kind"]
        ratios = np.asarray(entry["ratios"], dtype=np.float64)
        logs = np.clip(np.log2(ratios[ratios > 0]), LOG2_EDGES[0], LOG2_EDGES[-1])
        counts, _ = np.histogram(logs, bins=LOG2_EDGES)
        lo, hi = np.log2(s["bounds"][0]), np.log2(s["bounds"][1])
        ax.axvspan(LOG2_EDGES[0], lo, color="#d62728", alpha=0.08)
        ax.axvspan(hi, LOG2_EDGES[-1], color="#9467bd", alpha=0.08)
        ax.bar(LOG2_EDGES[:-1], counts, width=np.diff(LOG2_EDGES), align="edge", color="#1f77b4", alpha=0.85,
               edgecolor="white", label=f"{kind} area ratio")
        ax.axvline(0.0, color="black", lw=1, ls=":")
        for x, text in ((lo, f"too small: {s['too_small']:.1f}%"), (hi, f"too large: {s['too_large']:.1f}%")):
            ax.axvline(x, color="#444", lw=1.2, ls="--")
            ax.text(x, 1.0, f" {text}", transform=ax.get_xaxis_transform(), va="top",
                    ha="right" if x < 0 else "left", fontsize=9)
        ticks = np.arange(LOG2_EDGES[0], LOG2_EDGES[-1] + 1e-9, 2.0)
        ax.set_xticks(ticks, [f"1/{2 ** int(-t)}" if t < 0 else f"{2 ** int(t)}" for t in ticks])
        style_axes(ax, title=f"predicted / GT {kind} area at τ={fmt_threshold(s['threshold'], entry.get('step'))} "
                             f"(median {s['median_ratio']:.2f})",
                   xlabel=f"{kind} area ratio (log scale)", ylabel="images",
                   xlim=(LOG2_EDGES[0], LOG2_EDGES[-1]), ylim=(0, max(1, int(counts.max())) * 1.15))
    return save_figure(fig, out_path)
