"""``wsolbench leaderboard``: validate, add, verify, build, show and screenshot the board.

Problems are printed one per line as ``file:line:column: message`` on stdout; summaries and
progress go to stderr. Commands that find problems exit with status 1.
"""

from __future__ import annotations

import json
import sys

import click

from wsolbench.cli.options import WORKERS

BOARD_HELP = "The board folder (reported.csv, submissions/, README.md, index.html)."


def _board_option(f):
    return click.option("--board", "board", type=click.Path(file_okay=False), default="leaderboard",
                        show_default=True, help=BOARD_HELP)(f)


@click.group()
def leaderboard():
    """Protocol-stamped leaderboard: submissions, validation, verification, the rendered board."""


@leaderboard.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the problems as JSON.")
def validate(files, as_json):
    """Check submission CSV files against the schema (leaderboard/SCHEMA.md).

    Every problem is reported as FILE:LINE:COLUMN: MESSAGE; the exit status is 1 if there is any.
    """
    from wsolbench.cli.render import stderr_console
    from wsolbench.leaderboard.validate import validate_files

    rows, problems = validate_files(list(files))
    if as_json:
        click.echo(json.dumps({"files": list(files), "rows": len(rows),
                               "problems": [p.to_dict() for p in problems]}, indent=1))
    else:
        for problem in problems:
            click.echo(str(problem))
    err = stderr_console()
    if problems:
        err.print(f"[red]{len(problems)} problem(s)[/] in {len({p.file for p in problems})} of {len(files)} file(s)")
        sys.exit(1)
    err.print(f"[green]OK[/]: {len(rows)} row(s) in {len(files)} file(s) follow the schema")


@leaderboard.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@_board_option
@click.option("--name", default=None, help="File name on the board (default: FILE's name).")
@click.option("--replace", is_flag=True, help="Replace the board file of that name (update a submission).")
@click.option("--build/--no-build", "rebuild", default=True, show_default=True,
              help="Re-render README.md and index.html afterwards.")
def add(file, board, name, replace, rebuild):
    """Validate FILE and add it to the board (atomically: a crash never leaves a half-written board)."""
    from wsolbench.cli.render import stderr_console
    from wsolbench.leaderboard.board import add_submission
    from wsolbench.leaderboard.build import build

    err = stderr_console()
    target = add_submission(board, file, name=name, replace=replace)
    err.print(f"added {file} to the board as {target}")
    if rebuild:
        report = build(board)
        _print_build(err, report)


@leaderboard.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--maps", "maps", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The score-map file (HDF5) the row was computed from.")
@click.option("--gt", "gt", required=True, metavar="NAME:PATH", help="Ground truth of the row's dataset and split.")
@click.option("--split", default=None, help="Split, for datasets that hold several.")
@click.option("--mask-root", type=click.Path(file_okay=False), default=None, help="Folder of mask PNGs.")
@click.option("--line", "line", type=int, default=None, help="Line of the row to verify (files with several).")
@click.option("--workers", type=WORKERS, default=1, show_default=True, help="Processes (at most the CPU count).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify(file, maps, gt, split, mask_root, line, workers, as_json):
    """Recompute a verified row of FILE from its score maps; exit 1 if any number or the checksum differs."""
    from wsolbench.cli.render import progress_bar, stderr_console, stdout_console
    from wsolbench.errors import SubmissionError
    from wsolbench.leaderboard.validate import validate_file
    from wsolbench.leaderboard.verify import file_sha256, select_row, verify_row

    rows, problems = validate_file(file)
    if problems:
        raise SubmissionError(f"{file} does not follow the schema; run 'wsolbench leaderboard validate {file}': "
                              + "; ".join(str(p) for p in problems[:3]))
    row = select_row(rows, line=line, maps_sha256=file_sha256(maps) if line is None and len(rows) > 1 else None)
    with progress_bar("recomputing", disable=as_json) as update:
        report = verify_row(row, maps, gt, split=split, mask_root=mask_root, workers=workers, progress=update)
    if as_json:
        click.echo(json.dumps({"file": file, "line": row.line, "ok": report.ok, "problems": report.problems,
                               "recomputed": report.recomputed, "maps_sha256": report.maps_sha256,
                               "protocol_hash": report.protocol_hash}, indent=1))
    else:
        stdout_console().print(_verify_table(row, report))
        for problem in report.problems:
            click.echo(f"{file}:{row.line}: {problem}")
    err = stderr_console()
    if not report.ok:
        err.print(f"[red]NOT verified[/]: {len(report.problems)} difference(s)")
        sys.exit(1)
    err.print(f"[green]verified[/]: {row['method']} ({row['backbone']}) on {row['dataset']} {row['split']} "
              f"recomputed identically from {maps}")


def _verify_table(row, report):
    from rich.table import Table

    from wsolbench.leaderboard.schema import METRIC_COLUMNS

    table = Table(title=f"{row['method']} ({row['backbone']}) · {row['dataset']} {row['split']} · "
                        f"{row['protocol']} {row['protocol_hash']}", title_justify="left")
    for name, justify in (("metric", "left"), ("row", "right"), ("recomputed", "right"), ("", "left")):
        table.add_column(name, justify=justify)
    for column in METRIC_COLUMNS:
        value = report.recomputed.get(column)
        if not row[column] and value is None:
            continue
        bad = any(p.startswith(f"{column}:") for p in report.problems)
        table.add_row(column, row[column] or "-", "-" if value is None else f"{value:.4f}",
                      "[red]differs[/]" if bad else "[green]ok[/]")
    return table


@leaderboard.command()
@_board_option
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if README.md or index.html is out of date.")
def build(board, check):
    """Render the board's README.md (ranked Markdown tables) and index.html (static, sortable page)."""
    from wsolbench.cli.render import stderr_console
    from wsolbench.errors import SubmissionError
    from wsolbench.leaderboard.board import board_files
    from wsolbench.leaderboard.build import build as build_board

    if not board_files(board):
        raise SubmissionError(f"no board at {board}: expected {board}/reported.csv or {board}/submissions/*.csv "
                              "(pass --board DIR)")
    err = stderr_console()
    report = build_board(board, check=check)
    if check:
        for path in report.stale:
            click.echo(f"{path}: out of date; run 'wsolbench leaderboard build --board {board}'")
        if report.stale:
            sys.exit(1)
        err.print(f"[green]up to date[/]: {report.n_rows} rows in {report.n_groups} tables")
        return
    _print_build(err, report)


def _print_build(err, report) -> None:
    written = ", ".join(str(p) for p in report.written) or "nothing (already up to date)"
    err.print(f"built {report.n_rows} rows in {report.n_groups} tables: wrote {written}")


@leaderboard.command()
@_board_option
@click.option("--dataset", default=None, help="Only this dataset (e.g. cub).")
@click.option("--protocol", default=None, help="Only this protocol (e.g. wsoleval).")
@click.option("--source", type=click.Choice(["verified", "reported"]), default=None, help="Only these rows.")
@click.option("--json", "as_json", is_flag=True, help="Print the ranked groups as JSON.")
def show(board, dataset, protocol, source, as_json):
    """Print the ranked tables of the board."""
    from wsolbench.cli.render import stdout_console
    from wsolbench.leaderboard.board import SubmissionRejected, load_board, rank_groups

    loaded = load_board(board)
    if loaded.problems:
        raise SubmissionRejected(f"the board at {board} has problems:", loaded.problems)
    rows = [r for r in loaded.rows if (not dataset or r["dataset"] == dataset)
            and (not protocol or r["protocol"] == protocol) and (not source or r["source"] == source)]
    groups = rank_groups(rows)
    if as_json:
        click.echo(json.dumps([_group_dict(g) for g in groups], indent=1))
        return
    console = stdout_console()
    for group in groups:
        console.print(_group_table(group))


def _group_dict(group) -> dict:
    return {"dataset": group.dataset, "split": group.split, "protocol": group.protocol,
            "protocol_hash": group.protocol_hash, "protocol_options": group.protocol_options,
            "ranked_by": group.metric if group.rankable else None,
            "rows": [{"rank": r.rank, **r.row.values} for r in group.rows]}


def _group_table(group):
    from rich.table import Table

    from wsolbench.leaderboard.display import display_number, metric_label

    ranked_by = f"ranked by {metric_label(group.metric)}" if group.rankable and group.metric else "not ranked"
    table = Table(title=f"{group.title} · {group.protocol_hash}", caption=ranked_by, title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("method")
    table.add_column("backbone")
    for column in group.columns:
        table.add_column(metric_label(column), justify="right")
    table.add_column("source")
    for ranked in group.rows:
        row = ranked.row
        table.add_row("-" if ranked.rank is None else str(ranked.rank), row["method"], row["backbone"],
                      *[display_number(row[c]) for c in group.columns], row["source"])
    return table


@leaderboard.command()
@click.argument("out", type=click.Path(dir_okay=False), default="docs/img/leaderboard.png")
@_board_option
@click.option("--dataset", default=None, help="Choose this dataset in the page's filter first.")
@click.option("--protocol", default=None, help="Choose this protocol in the page's filter first.")
@click.option("--source", default=None, help="Choose this source in the page's filter first.")
@click.option("--width", type=click.IntRange(320, 4000), default=1360, show_default=True, help="Viewport width.")
@click.option("--height", type=click.IntRange(240, 8000), default=1000, show_default=True, help="Viewport height.")
def screenshot(out, board, dataset, protocol, source, width, height):
    """Save a PNG of BOARD/index.html as headless Chromium shows it (default OUT: docs/img/leaderboard.png).

    Needs Playwright (pip install 'wsolbench[browser]') and a system Chromium (apt-get install -y chromium).
    """
    from pathlib import Path

    from wsolbench.cli.render import stderr_console
    from wsolbench.errors import WsolbenchError
    from wsolbench.leaderboard.browser import screenshot_page
    from wsolbench.outputs import check_outputs, output_file

    check_outputs([output_file(out, "OUT")], inputs={"the board page": Path(board) / "index.html"})
    page = Path(board) / "index.html"
    if not page.is_file():
        raise WsolbenchError(f"{page} does not exist; run 'wsolbench leaderboard build --board {board}' first")
    filters = {k: v for k, v in (("dataset", dataset), ("protocol", protocol), ("source", source)) if v}
    path, errors = screenshot_page(page, out, filters=filters, width=width, height=height)
    err = stderr_console()
    for error in errors:
        err.print(f"[yellow]page error:[/] {error}")
    err.print(f"wrote {path}")
