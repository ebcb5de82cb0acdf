"""Build the report of one result: ``index.html`` plus its PNGs in one folder.

Example:
    >>> from wsolbench.report.build import build_report               # doctest: +SKIP
    >>> from wsolbench.report.files import load_result                # doctest: +SKIP
    >>> page = build_report(load_result("result.json"), "report/")    # doctest: +SKIP
    >>> page.name                                                      # doctest: +SKIP
    'index.html'
"""

from __future__ import annotations

import os
import pathlib

from wsolbench.errors import DatasetError
from wsolbench.report import sections
from wsolbench.report.curves import INSTALL_HINT, require_matplotlib
from wsolbench.atomic import write_text_atomic
from wsolbench.outputs import staged_folder
from wsolbench.report.files import check_result
from wsolbench.report.html import ReportContent, render_page

PAGE = "index.html"
FIGURE_FILES = {"box_accuracy": "box_accuracy.png", "top1_loc": "top1_loc.png",
                "mask_curves": "mask_curves.png", "size_ratios": "size_ratios.png",
                "worst_classes": "worst_classes.png"}
OVERLAY_TILE = 200
OVERLAY_COLUMNS = 4
OVERLAY_FILES = {"best": "overlays_best.png", "worst": "overlays_worst.png", "random": "overlays_random.png"}


def _titles(result: dict) -> tuple[str, str]:
    maps, dataset = result.get("maps") or {}, result.get("dataset") or {}
    attrs = maps.get("attrs") or {}
    method = attrs.get("method") or (os.path.basename(maps["path"]) if maps.get("path") else "score maps")
    if attrs.get("backbone") and str(attrs["backbone"]).lower() != "none":
        method = f"{method} ({attrs['backbone']})"
    where = " ".join(str(v) for v in (dataset.get("name"), dataset.get("split")) if v)
    title = f"wsolbench report: {method}" + (f" on {where}" if where else "")
    counts = result.get("counts") or {}
    subtitle = (f"protocol {result.get('protocol_name')} (hash {result.get('protocol_hash')}) · "
                f"{counts.get('n_images', dataset.get('n_images', '?'))} images · "
                f"wsolbench {result.get('wsolbench_version')} · {result.get('created', '')}")
    return title, subtitle


def report_content(result: dict, *, class_names=None) -> ReportContent:
    """The data of every section of a result's report (no figures drawn yet).

    Args:
        result: a result dict (``docs/result-json.md``).
        class_names: optional class names indexed by class id.
    """
    check_result(result)
    title, subtitle = _titles(result)
    box = [s for s in (sections.box_series(result, mode) for mode in ("largest", "all")) if s is not None]
    rows = sections.per_class_rows(result, class_names=class_names)
    worst_metric, worst = sections.worst_classes(rows, n=10)
    return ReportContent(title=title, subtitle=subtitle, metrics=sections.metric_rows(result), box=box,
                         top1=sections.top1_series(result), pr=sections.pr_series(result),
                         piou=sections.piou_series(result), per_class=rows, worst_metric=worst_metric,
                         worst=worst, provenance=sections.provenance(result),
                         diagnostics=sections.diagnostics_series(result),
                         interval_note=sections.bootstrap_note(result))


def draw_curves(content: ReportContent, out_dir) -> dict[str, dict]:
    """Draw every curve figure that applies into ``out_dir``; records the file names in ``content``.

    Returns:
        ``{figure name: plotted data}`` (see :mod:`wsolbench.report.curves`).

    Raises:
        MissingDependencyError: matplotlib is not installed.
    """
    from wsolbench.report import curves

    out_dir = pathlib.Path(out_dir)
    plotted = {}
    if content.box:
        plotted["box_accuracy"] = curves.plot_box_accuracy(content.box, out_dir / FIGURE_FILES["box_accuracy"])
    if content.top1 is not None:
        plotted["top1_loc"] = curves.plot_top1(content.top1, out_dir / FIGURE_FILES["top1_loc"])
    if content.pr is not None:
        path = out_dir / FIGURE_FILES["mask_curves"]
        plotted["mask_curves"] = curves.plot_mask_curves(content.pr, content.piou, path)
    if content.diagnostics and content.diagnostics["sizes"]:
        plotted["size_ratios"] = curves.plot_size_ratios(content.diagnostics["sizes"], out_dir / FIGURE_FILES["size_ratios"])
    if content.worst:
        label = sections.METRIC_NAMES[content.worst_metric]
        plotted["worst_classes"] = curves.plot_worst_classes(content.worst_metric, content.worst,
                                                             out_dir / FIGURE_FILES["worst_classes"], label=label)
    content.figures.update({name: FIGURE_FILES[name] for name in plotted})
    return plotted


def draw_overlays(result: dict, out_dir, *, maps_path, annotations, n: int = 8, seed: int = 0,
                  image_root=None) -> dict[str, str]:
    """Draw the best / worst / random overlay grids; returns ``{group: file name}`` of those drawn."""
    from wsolbench.report.examples import example_items
    from wsolbench.report.overlays import render_overlay_grid

    items = example_items(maps_path, annotations, result, n=n, seed=seed, image_root=image_root)
    drawn = {}
    for group, group_items in items.items():
        if group_items:
            render_overlay_grid(group_items, pathlib.Path(out_dir) / OVERLAY_FILES[group], ncols=OVERLAY_COLUMNS,
                                tile=OVERLAY_TILE)
            drawn[group] = OVERLAY_FILES[group]
    return drawn


def _image_note(annotations, image_root) -> str:
    root = image_root if image_root is not None else annotations.root
    if not root:
        return ("The dataset's images were not found (no image folder given), so the maps are drawn on grey; "
                "pass --image-root DIR to draw them over the images.")
    if not os.path.isdir(root):
        return f"The image folder {root} does not exist, so the maps are drawn on grey."
    return ""


def build_report(result: dict, out_dir, *, maps_path=None, annotations=None, image_root=None,
                 n_examples: int = 8, seed: int = 0, curves: bool = True) -> pathlib.Path:
    """Write a result's report: ``out_dir/index.html`` and its PNGs, all or nothing (staged in a
    temporary folder and moved into ``out_dir`` when every part is written; an error leaves ``out_dir``
    as it was).

    Args:
        result: a result dict (``docs/result-json.md``).
        out_dir: the folder to write (created if missing).
        maps_path: the score-map file the result was computed from; with it, overlays of the best,
            worst and random images are drawn.
        annotations: the :class:`~wsolbench.datasets.records.AnnotationSet` the result was computed
            against (needed with ``maps_path``); its class names label the per-class table.
        image_root: folder of the images (default ``annotations.root``).
        n_examples: images per overlay group.
        seed: seed of the random overlay group.
        curves: draw the curve figures (needs matplotlib); ``False`` builds the page without them.

    Returns:
        The path of ``index.html``.

    Raises:
        MissingDependencyError: ``curves`` is set and matplotlib is not installed.
        DatasetError: ``maps_path`` without ``annotations``.
    """
    if maps_path is not None and annotations is None:
        raise DatasetError("overlays need the ground truth the result was computed against; pass annotations "
                           "(on the command line: --gt NAME:PATH)")
    out_dir = pathlib.Path(out_dir)
    names = getattr(annotations, "class_names", None)
    content = report_content(result, class_names=names)
    if curves:
        require_matplotlib(alternative="or build the report without curves (--no-curves; curves=False)")
    with staged_folder(out_dir) as stage:
        if curves:
            draw_curves(content, stage)
        else:
            content.notes["curves"] = f"curves not drawn; install matplotlib to draw them: {INSTALL_HINT}"
        if maps_path is not None:
            content.overlays = draw_overlays(result, stage, maps_path=maps_path, annotations=annotations,
                                             n=n_examples, seed=seed, image_root=image_root)
            note = _image_note(annotations, image_root) if content.overlays else (
                "no overlays: the result's per-image table lists no images")
            if note:
                content.notes["overlays"] = note
        write_text_atomic(stage / PAGE, render_page(content))
    return out_dir / PAGE
