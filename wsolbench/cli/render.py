"""Rich rendering shared by the commands: result tables and progress bars (on stderr)."""

from __future__ import annotations

from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from wsolbench.interrupts import check as check_interrupt

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


def result_table(result: dict, *, title: str | None = None) -> Table:
    """A table of the headline metrics of a result dict (``docs/result-json.md``); n/a rows are hidden."""
    ds = result.get("dataset", {})
    title = title or f"{ds.get('name', '')} {ds.get('split', '')}".strip() or "wsolbench result"
    proto = f"protocol {result.get('protocol_name')} ({result.get('protocol_hash')})"
    table = Table(title=title, caption=proto, title_justify="left")
    table.add_column("metric")
    table.add_column("%", justify="right")
    table.add_column("best threshold", justify="right")
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
            best = box[thresholds[key][0]]["best_threshold"].get(thresholds[key][1])
            best = "" if best is None else f"{best:g}"
        elif key == "piou" and result.get("mask"):
            best = f"{result['mask'].get('piou_threshold', 0):g}"
        table.add_row(label, fmt(value), best)
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
