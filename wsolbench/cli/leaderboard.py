"""``wsolbench leaderboard``: validate, add, verify, migrate, build, show and screenshot the board.

Problems are printed one per line as ``file:line:column: message`` on stdout; summaries and
progress go to stderr. Exit status: 0 when all is well; 2 when the input is bad (a submission or
board file with problems, a row that does not verify, pages out of date, a board folder that does
not exist, a usage error), with a one-line ``Error:`` on stderr; 1 only for an internal error.
"""

from __future__ import annotations

import json
import sys

import click

from wsolbench.cli.options import WORKERS

BOARD_HELP = "The board folder (reported.csv, submissions/, README.md, index.html)."
BAD_INPUT = 2


def _board_option(f):
    return click.option("--board", "board", type=click.Path(file_okay=False), default="leaderboard",
                        show_default=True, help=BOARD_HELP)(f)


def _print_problems(problems) -> None:
    for problem in problems:
        click.echo(str(problem))


@click.group()
def leaderboard():
    """Protocol-stamped leaderboard: submissions, validation, verification, the rendered board."""


@leaderboard.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the problems as JSON.")
def validate(files, as_json):
    """Check submission CSV files against the schema (leaderboard/SCHEMA.md).

    Every problem is reported as FILE:LINE:COLUMN: MESSAGE; the exit status is 2 if there is any.
    """
    from wsolbench.cli.render import stderr_console
    from wsolbench.leaderboard.validate import validate_files

    rows, problems = validate_files(list(files))
    if as_json:
        click.echo(json.dumps({"files": list(files), "rows": len(rows),
                               "problems": [p.to_dict() for p in problems]}, indent=1))
    else:
        _print_problems(problems)
    err = stderr_console()
    if problems:
        err.print(f"[red]{len(problems)} problem(s)[/] in {len({p.file for p in problems})} of {len(files)} file(s)")
        sys.exit(BAD_INPUT)
    err.print(f"[green]OK[/]: {len(rows)} row(s) in {len(files)} file(s) follow the schema")


@leaderboard.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@_board_option
@click.option("--name", default=None, help="File name on the board (default: FILE's name).")
@click.option("--replace", is_flag=True, help="Replace the board file of that name (update a submission).")
@click.option("--new-board", is_flag=True, help="Create the board folder if it is not a board yet (without it, a "
                                                "--board that does not exist is an error).")
@click.option("--build/--no-build", "rebuild", default=True, show_default=True,
              help="Re-render README.md and index.html afterwards.")
def add(file, board, name, replace, new_board, rebuild):
    """Validate FILE and add it to the board (under a lock, atomically: concurrent adds and crashes never
    leave a lost, duplicated or half-written submission)."""
    from wsolbench.cli.render import stderr_console
    from wsolbench.leaderboard.board import SubmissionRejected, add_submission, require_board
    from wsolbench.leaderboard.build import build
    from wsolbench.leaderboard.lock import board_lock

    err = stderr_console()
    if not new_board:
        require_board(board)
    try:
        if new_board or not rebuild:
            target = add_submission(board, file, name=name, replace=replace, new_board=new_board)
            report = build(board) if rebuild else None
        else:
            with board_lock(board):
                target = add_submission(board, file, name=name, replace=replace, locked=True)
                report = build(board, locked=True)
    except SubmissionRejected as e:
        _print_problems(e.problems)
        raise
    err.print(f"added {file} to the board as {target}")
    if report is not None:
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
    """Recompute a verified row of FILE from its score maps; exit 2 if the ground truth, the maps' content hash
    or any number differs."""
    from wsolbench.cli.render import progress_bar, stderr_console, stdout_console
    from wsolbench.errors import SubmissionError
    from wsolbench.leaderboard.validate import validate_file
    from wsolbench.leaderboard.verify import maps_content_sha256, select_row, verify_row

    rows, problems = validate_file(file)
    if problems:
        raise SubmissionError(f"{file} does not follow the schema ({len(problems)} problem(s), e.g. {problems[0]}); "
                              f"run 'wsolbench leaderboard validate {file}'")
    several = line is None and sum(r["source"] == "verified" for r in rows) > 1
    row = select_row(rows, line=line, content_sha256=maps_content_sha256(maps) if several else None)
    with progress_bar("recomputing", disable=as_json) as update:
        report = verify_row(row, maps, gt, split=split, mask_root=mask_root, workers=workers, progress=update)
    if as_json:
        click.echo(json.dumps({"file": file, "line": row.line, "ok": report.ok, "problems": report.problems,
                               "recomputed": report.recomputed, "maps_content_sha256": report.maps_content_sha256,
                               "gt_fingerprint": report.gt_fingerprint, "protocol_hash": report.protocol_hash},
                              indent=1))
    else:
        stdout_console().print(_verify_table(row, report))
        for problem in report.problems:
            click.echo(f"{file}:{row.line}: {problem}")
    err = stderr_console()
    if not report.ok:
        err.print(f"[red]NOT verified[/]: {len(report.problems)} difference(s)")
        sys.exit(BAD_INPUT)
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
@click.option("--check", is_flag=True, help="Write nothing; exit 2 if README.md or index.html is out of date.")
def build(board, check):
    """Render the board's README.md (ranked Markdown tables) and index.html (static, sortable page)."""
    from wsolbench.cli.render import stderr_console
    from wsolbench.leaderboard.board import SubmissionRejected, require_board
    from wsolbench.leaderboard.build import build as build_board

    require_board(board)
    err = stderr_console()
    try:
        report = build_board(board, check=check)
    except SubmissionRejected as e:
        _print_problems(e.problems)
        raise
    if check:
        for path in report.stale:
            click.echo(f"{path}: out of date; run 'wsolbench leaderboard build --board {board}'")
        if report.stale:
            err.print(f"[red]{len(report.stale)} file(s) out of date[/]")
            sys.exit(BAD_INPUT)
        err.print(f"[green]up to date[/]: {report.n_rows} rows in {report.n_groups} tables")
        return
    _print_build(err, report)


def _print_build(err, report) -> None:
    written = ", ".join(str(p) for p in report.written) or "nothing (already up to date)"
    err.print(f"built {report.n_rows} rows in {report.n_groups} tables: wrote {written}")


@leaderboard.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Check and list the changes; write nothing.")
def migrate(files, dry_run):
    """Upgrade submission files from schema version 1 to 2 (leaderboard/SCHEMA.md, 'Versions').

    Each file is rewritten atomically, or not at all if any of its rows cannot be migrated (verified
    version 1 rows must be re-evaluated: they lack the content hash and the ground-truth fingerprint).
    """
    from wsolbench.cli.render import stderr_console
    from wsolbench.errors import SubmissionError
    from wsolbench.leaderboard.migrate import migrate_file

    err, failed = stderr_console(), []
    for path in files:
        report = migrate_file(path, dry_run=dry_run)
        _print_problems(report.problems)
        for change in report.changes:
            err.print(change, highlight=False)
        if report.problems:
            failed.append(path)
        elif report.written:
            err.print(f"{path}: {report.n_rows} row(s) migrated to schema version 2")
    if failed:
        raise SubmissionError(f"{len(failed)} of {len(files)} file(s) could not be migrated (problems above); "
                              "nothing was written to them")


@leaderboard.command()
@_board_option
@click.option("--dataset", default=None, help="Only this dataset (e.g. cub).")
@click.option("--protocol", default=None, help="Only this protocol (e.g. wsoleval).")
@click.option("--source", type=click.Choice(["verified", "reported"]), default=None, help="Only these rows.")
@click.option("--width", type=click.IntRange(40, 1000), default=None,
              help="Table width in characters (default: the terminal's).")
@click.option("--json", "as_json", is_flag=True, help="Print the ranked groups as JSON.")
def show(board, dataset, protocol, source, width, as_json):
    """Print the ranked tables of the board, fitted to the terminal: method names wrap, and metric columns
    that do not fit are left out (and named under the table), never cut."""
    from rich.console import Console

    from wsolbench.cli.render import stdout_console
    from wsolbench.leaderboard.board import SubmissionRejected, load_board, rank_groups, require_board

    loaded = load_board(require_board(board))
    if loaded.problems:
        _print_problems(loaded.problems)
        raise SubmissionRejected(f"the board at {board} has {len(loaded.problems)} problem(s)", loaded.problems)
    rows = [r for r in loaded.rows if (not dataset or r["dataset"] == dataset)
            and (not protocol or r["protocol"] == protocol) and (not source or r["source"] == source)]
    groups = rank_groups(rows)
    if as_json:
        click.echo(json.dumps([_group_dict(g) for g in groups], indent=1))
        return
    console = Console(width=width) if width else stdout_console()
    for group in groups:
        console.print(_group_table(group, console.width))


def _group_dict(group) -> dict:
    return {"dataset": group.dataset, "split": group.split, "protocol": group.protocol,
            "protocol_hash": group.protocol_hash, "protocol_options": group.protocol_options,
            "ranked_by": group.metric if group.rankable else None, "columns": group.columns, "ties": group.ties,
            "rows": [{"rank": r.rank, "tied": r.tied, "reference": r.reference, **r.row.values} for r in group.rows]}


def _group_table(group, width: int):
    from rich.table import Table

    from wsolbench.leaderboard.display import category_note, display_number, fit_columns, metric_label, rank_label

    shown, dropped, with_source = fit_columns(group, width)
    ranked_by = f"ranked by {metric_label(group.metric)}" if group.rankable and group.metric else "not ranked"
    notes = [ranked_by + "; ref = reference line (sanity baseline or fully supervised), not ranked"] + group.ties
    if dropped:
        notes.append(f"not shown at {width} columns: {', '.join(metric_label(c) for c in dropped)} (widen the "
                     "terminal, or --json)")
    table = Table(title=f"{group.title} · {group.protocol_hash}", caption="\n".join(notes), title_justify="left",
                  caption_justify="left")
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("method", overflow="fold")
    table.add_column("backbone", overflow="fold")
    for column in shown:
        table.add_column(metric_label(column), justify="right", no_wrap=True)
    if with_source:
        table.add_column("source", no_wrap=True)
    for ranked in group.rows:
        row = ranked.row
        cells = [rank_label(ranked), row["method"] + category_note(row), row["backbone"],
                 *[display_number(row[c]) for c in shown]]
        table.add_row(*cells, *([row["source"]] if with_source else []))
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
