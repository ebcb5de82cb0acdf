"""``wsolbench study NAME``: reproduce a study (a grid of trained baselines) on the synthetic benchmark.

Trains every cell of the study's grid on the CPU (or reuses the run folders of an earlier call),
evaluates it, and writes the table as markdown, CSV and JSON (``study-NAME.*``). Progress on
stderr, the markdown table (or ``--json``) on stdout.
"""

from __future__ import annotations

import json
import shlex

import click

from wsolbench.cli.options import WORKERS

from wsolbench.cli.render import stderr_console, stdout_console


def _names() -> list[str]:
    from wsolbench.nn.studies import STUDIES  # no torch at import

    return list(STUDIES) + ["all"]


class _LazyChoice(click.Choice):
    """A click.Choice whose choices are loaded on first use, so that importing this module (at every
    CLI start) does not import the studies (NumPy)."""

    def __init__(self, load):
        self._load, self._loaded = load, None
        super().__init__(())

    @property
    def choices(self):
        if self._loaded is None:
            self._loaded = tuple(self._load())
        return self._loaded

    @choices.setter
    def choices(self, value):  # click.Choice.__init__ assigns the (empty) initial value
        pass


def _list_studies() -> None:
    from rich.table import Table

    from wsolbench.nn.studies import STUDIES

    table = Table(title="studies (wsolbench study NAME)", title_justify="left")
    for col in ("name", "title", "datasets", "rows", "cells per seed"):
        table.add_column(col)
    for s in STUDIES.values():
        variants = {r.variant.key for r in s.rows}
        table.add_row(s.name, s.title, ", ".join(d.key for d in s.datasets), str(len(s.rows)),
                      str(len(variants) * len(s.datasets)))
    stdout_console().print(table)


def _command_line(name: str, seeds: int, jobs: int, threads: int, epochs: int | None) -> str:
    parts = ["wsolbench", "study", name, "--seeds", str(seeds), "--jobs", str(jobs), "--threads", str(threads)]
    if epochs:
        parts += ["--epochs", str(epochs)]
    return shlex.join(parts)


@click.command()
@click.argument("name", required=False, type=_LazyChoice(_names))
@click.option("--out", type=click.Path(file_okay=False), default="runs/studies", show_default=True,
              help="Folder of the run folders (shared by the studies: thresholds and multicrop reuse the models "
                   "methods trained).")
@click.option("--tables", type=click.Path(file_okay=False), default=None,
              help="Folder for study-NAME.md/.csv/.json (default: --out).")
@click.option("--seeds", type=click.IntRange(1), default=3, show_default=True, help="Training seeds 0..N-1.")
@click.option("--jobs", type=WORKERS, default=1, show_default=True,
              help="Cells trained in parallel (processes); 2 jobs x 1 thread suits 2 cores.")
@click.option("--threads", type=click.IntRange(1), default=1, show_default=True, help="torch threads per job.")
@click.option("--epochs", type=click.IntRange(1), default=None,
              help="Override the recipes' epochs (quick checks; the published tables use the recipes).")
@click.option("--list", "list_only", is_flag=True, help="List the studies and exit.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary JSON instead of the markdown table.")
def study(name, out, tables, seeds, jobs, threads, epochs, list_only, as_json):
    """Run study NAME (methods, thresholds, multicrop, pooling, or all) on the synthetic benchmark:
    train its grid on the CPU, evaluate, and write the table (mean +- std over the seeds)."""
    if list_only or name is None:
        _list_studies()
        if name is None and not list_only:
            stderr_console().print("give a study NAME (or all) to run it")
        return
    from wsolbench.cli.baseline import require_torch
    from wsolbench.outputs import check_outputs, output_folder

    check_outputs([output_folder(out, "--out"), output_folder(tables, "--tables")])
    require_torch(threads)
    from wsolbench.cli.render import progress_bar
    from wsolbench.nn.studies import run_study, write_tables

    names = _names() if name == "all" else [name]
    summaries = []
    for current in names:
        with progress_bar(f"study {current}", disable=as_json) as update:
            summary = run_study(current, out=out, seeds=tuple(range(seeds)), jobs=jobs, threads=threads,
                                progress=lambda done, total, msg: update(done, total),
                                overrides={"epochs": epochs} if epochs else None)
        command = _command_line(current, seeds, jobs, threads, epochs)
        paths = write_tables(summary, tables or out, command=command)
        stderr_console().print(f"study {current}: {summary['wall_seconds_this_call']:.0f}s (cells' training time "
                               f"{summary['train_seconds_total']:.0f}s); tables: {', '.join(map(str, paths))}")
        summaries.append(summary)
    if as_json:
        click.echo(json.dumps(summaries if name == "all" else summaries[0]))
        return
    from wsolbench.nn.studies import to_markdown

    for summary in summaries:
        click.echo(to_markdown(summary))
