"""Reports you can look at: curves, CAM overlays, per-class breakdowns and comparisons.

Every report is built from a result JSON (``docs/result-json.md``). Overlays need Pillow only;
curves need matplotlib (the ``wsolbench[viz]`` extra), imported lazily inside the functions that
draw, with the Agg backend, so reports are written without a display.

Entry points:

* :func:`wsolbench.report.build.build_report` - the HTML page and its PNGs for one result;
* :func:`wsolbench.report.overlays.render_overlay_grid` - a PNG grid of maps over images;
* :func:`wsolbench.report.compare.compare_metrics` - metrics of several results side by side.
"""
