"""Rich rendering shared by the commands: result tables, JSON output and progress bars (on stderr)."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from wsolbench.interrupts import check as check_interrupt
from wsolbench.report.sections import fmt_threshold

METRIC_LABELS = {
    "maxboxacc": "MaxBoxAcc (IoU 50, largest region)",
    "maxboxacc_v2": "MaxBoxAccV2 (mean IoU 30/50/70)",
    "maxboxacc_iou30": "  BoxAcc @ IoU 30 (all regions)",
    "maxboxacc_iou50": "  BoxAcc @ IoU 50 (all regions)",
    "maxboxacc_iou70": "  BoxAcc @ IoU 70 (all regions)",
    "gt_known_loc": "GT-known loc",
    "top1_loc": "Top-1 loc",
    "top1_cls": "Top-1 cls",
    "pxap": "PxAP",
    "piou": "PIoU",
    "mpxap": "mPxAP",
}


def stdout_console() -> Console:
    return Console(soft_wrap=True)


def stderr_console() -> Console:
    return Console(stderr=True)


def fmt(value, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def fmt_interval(interval: dict | None, digits: int = 2) -> str:
    """``[low, high]`` of a bootstrap interval, or ``-``."""
    if not interval or interval.get("low") is None:
        return "-"
    return f"[{interval['low']:.{digits}f}, {interval['high']:.{digits}f}]"


def echo_json(data, *, indent: int | None = None) -> None:
    """Print JSON on stdout: indented by ``indent`` if given, else by 1 when stdout is a terminal
    (a person reads it) and on one line when it is piped (a program reads it)."""
    import click

    if indent is None and sys.stdout.isatty():
        indent = 1
    click.echo(json.dumps(data, indent=indent))


indent_option_help = "Indent the --json output by N spaces (default: 1 on a terminal, one line when piped)."


def result_table(result: dict, *, title: str | None = None) -> Table:
    """A table of the headline metrics of a result dict (``docs/result-json.md``); n/a rows are hidden.
    With a ``bootstrap`` section, a column holds each metric's interval."""
    ds = result.get("dataset", {})
    title = title or f"{ds.get('name', '')} {ds.get('split', '')}".strip() or "wsolbench result"
    proto = f"protocol {result.get('protocol_name')} ({result.get('protocol_hash')})"
    boot = result.get("bootstrap") or {}
    intervals = boot.get("intervals") or {}
    if boot:
        proto += (f"; intervals: {100 * boot['confidence']:g}% percentile bootstrap over {boot['n_images']} images, "
                  f"{boot['n_resamples']} resamples, seed {boot['seed']}")
    table = Table(title=title, caption=proto, title_justify="left")
    table.add_column("metric")
    table.add_column("%", justify="right")
    if boot:
        table.add_column(f"{100 * boot['confidence']:g}% interval", justify="right")
    table.add_column("best threshold", justify="right")
    step = (result.get("protocol") or {}).get("cam_step")
    box = result.get("box") or {}
    thresholds = {
        "maxboxacc": ("largest", "50"), "gt_known_loc": ("largest", "50"), "top1_loc": ("largest", "50"),
        "maxboxacc_iou30": ("all", "30"), "maxboxacc_iou50": ("all", "50"), "maxboxacc_iou70": ("all", "70"),
    }
    for key, label in METRIC_LABELS.items():
        value = result["metrics"].get(key)
        if value is None:
            continue
        best = ""
        if key in thresholds and box.get(thresholds[key][0]):
            best = fmt_threshold(box[thresholds[key][0]]["best_threshold"].get(thresholds[key][1]), step)
        elif key == "piou" and result.get("mask"):
            best = fmt_threshold(result["mask"].get("piou_threshold"), step)
        cells = [label, fmt(value)] + ([fmt_interval(intervals.get(key))] if boot else []) + [best]
        table.add_row(*cells)
    return table


def diagnostics_table(result: dict) -> Table | None:
    """The pointing games and size diagnostics of a result (``None`` when it has none)."""
    diag = result.get("diagnostics") or {}
    if not diag.get("pointing_game"):
        return None
    intervals = (result.get("bootstrap") or {}).get("intervals") or {}
    table = Table(title="diagnostics (beside the protocol's metrics; docs/protocol.md)", title_justify="left")
    table.add_column("diagnostic")
    table.add_column("value", justify="right")
    table.add_column("detail")
    pg, epg = diag["pointing_game"], diag["energy_pointing_game"]
    table.add_row("Pointing game", f"{pg['value']:.2f}%",
                  f"{pg['hits']}/{pg['n']} maxima within {pg['tolerance_px']} px of the GT {pg['against']}"
                  + (f"; {fmt_interval(intervals.get('pointing_game'))}" if intervals.get("pointing_game") else ""))
    table.add_row("Energy pointing game", f"{epg['value']:.2f}%",
                  f"share of the map's energy inside the GT {epg['against']}"
                  + (f"; {fmt_interval(intervals.get('energy_pointing_game'))}"
                     if intervals.get("energy_pointing_game") else ""))
    step = (result.get("protocol") or {}).get("cam_step")
    for name, what in (("box_size", "box"), ("mask_size", "mask")):
        s = diag.get(name)
        if not s or not s.get("n"):
            continue
        lo, hi = s["bounds"]
        table.add_row(f"{what.capitalize()}es too small" if what == "box" else "Masks too small",
                      f"{s['too_small']:.1f}%", f"predicted / GT {what} area < {lo:g} at τ = "
                      f"{fmt_threshold(s['threshold'], step)}")
        table.add_row(f"{what.capitalize()}es too large" if what == "box" else "Masks too large",
                      f"{s['too_large']:.1f}%", f"area ratio > {hi:g}; median ratio {s['median_ratio']:.2f} "
                      f"(quartiles {s['q25_ratio']:.2f}-{s['q75_ratio']:.2f}), {s['n']} images")
    return table


@contextmanager
def progress_bar(description: str, *, disable: bool = False):
    """A rich progress bar on stderr; yields ``update(done, total)``. The bar appears at the first
    update, so a command that fails while checking its inputs prints its error alone."""
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), TimeRemainingColumn(), console=stderr_console(),
                        transient=False, disable=disable)
    task = progress.add_task(description, total=None)
    started = False

    def update(done: int, total: int) -> None:
        nonlocal started
        check_interrupt()
        if not started:
            progress.start()
            started = True
        progress.update(task, completed=done, total=total)

    try:
        yield update
    finally:
        if started:
            progress.stop()
