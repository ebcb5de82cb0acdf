"""``wsolbench study NAME``: reproduce a study (a grid of trained baselines).

Trains every cell of the study's grid (or reuses the run folders of an earlier call), evaluates
it, and writes the table as markdown, CSV and JSON (``study-NAME.*``). The synthetic studies run
on the CPU on the benchmark they define; ``has-tinyimagenet`` and ``has-ilsvrc`` run on the dataset
given with ``--dataset``, on GPUs, and print their estimated cost (device-hours, from the
throughput measured on the device) before they start. Progress and the estimate on stderr, the
markdown table (or ``--json``) on stdout.
"""

from __future__ import annotations

import json
import shlex

import click

from wsolbench.cli.options import WORKERS, option_flag, parse_options
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


def _synthetic_names() -> list[str]:
    from wsolbench.nn.studies import STUDIES

    return [n for n, s in STUDIES.items() if s.family == "synthetic"]


def _list_studies() -> None:
    from rich.table import Table

    from wsolbench.nn.studies import STUDIES

    table = Table(title="studies (wsolbench study NAME)", title_justify="left")
    for col in ("name", "title", "datasets", "rows", "cells per seed", "seeds", "device"):
        table.add_column(col)
    for s in STUDIES.values():
        variants = {r.variant.key for r in s.rows}
        datasets = ", ".join(d.key for d in s.datasets) if s.family == "synthetic" else f"--dataset {s.family}:PATH"
        table.add_row(s.name, s.title, datasets, str(len(s.rows)), str(len(variants) * len(s.datasets)),
                      str(s.seeds), s.device)
    stdout_console().print(table)


def _command_line(name: str, seeds: int, jobs: int, threads: int, epochs: int | None, dataset: str | None = None,
                  device: str | None = None, options: tuple[str, ...] = (), workers: int | None = None,
                  batch_size: int | None = None) -> str:
    parts = ["wsolbench", "study", name]
    parts += ["--dataset", dataset] if dataset else []
    parts += [x for pair in options for x in ("-o", pair)]
    parts += ["--device", device] if device else []
    parts += ["--seeds", str(seeds), "--jobs", str(jobs), "--threads", str(threads)]
    if epochs:
        parts += ["--epochs", str(epochs)]
    if workers is not None:
        parts += ["--workers", str(workers)]
    if batch_size:
        parts += ["--batch-size", str(batch_size)]
    return shlex.join(parts)


def _overrides(epochs: int | None, workers: int | None, batch_size: int | None) -> dict | None:
    """Recipe fields the command line changes in every cell (``None``: the recipes as they are)."""
    out = {"epochs": epochs, "workers": workers, "batch_size": batch_size, "eval_batch_size": batch_size}
    return {k: v for k, v in out.items() if v is not None} or None


def _print_estimate(estimate: dict, jobs: int) -> None:
    err = stderr_console()
    unit = "GPU" if estimate["device"] == "cuda" else "CPU"
    if not estimate["cells_left"]:
        err.print(f"every one of the {estimate['cells_total']} cells is done: only the tables are rebuilt")
        return
    hours = estimate["device_hours"]
    err.print(f"estimated cost: {hours:.1f} {unit}-hours for the {estimate['cells_left']} of "
              f"{estimate['cells_total']} cells left (about {hours / jobs:.1f} h with {jobs} job(s)); "
              f"{estimate['note']}")
    for m in estimate["models"]:
        err.print(f"  {m['backbone']} {m['image_size']}px, batch {m['batch_size']} ({m['recipe']}, {m['cells']} "
                  f"cell(s)): train {m['train_images_per_s']:.0f} img/s, extract {m['extract_images_per_s']:.0f} img/s")


@click.command()
@click.argument("name", required=False, type=_LazyChoice(_names))
@click.option("--dataset", "spec", default=None, metavar="NAME:PATH",
              help="The dataset of has-tinyimagenet (tinyimagenet:PATH, the tiny-imagenet-200 folder) or has-ilsvrc "
                   "(ilsvrc:IMAGES -o metadata=METADATA/ILSVRC: wsolevaluation's metadata, whose train split "
                   "trains and test split is ILSVRC 2012 val). The synthetic studies define their own.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default=None,
              help="Device of the training (default: the study's: cpu for the synthetic ones, cuda for the HaS "
                   "studies on real data).")
@click.option("--out", type=click.Path(file_okay=False), default="runs/studies", show_default=True,
              help="Folder of the run folders (shared by the studies: thresholds and multicrop reuse the models "
                   "methods trained).")
@click.option("--tables", type=click.Path(file_okay=False), default=None,
              help="Folder for study-NAME.md/.csv/.json (default: --out).")
@click.option("--seeds", type=click.IntRange(1), default=None,
              help="Training seeds 0..N-1 (default: the study's, 3 for the synthetic studies, 1 for the HaS studies).")
@click.option("--jobs", type=WORKERS, default=1, show_default=True,
              help="Cells trained in parallel (processes); 2 jobs x 1 thread suits 2 cores; on CUDA one GPU per job.")
@click.option("--threads", type=click.IntRange(1), default=1, show_default=True, help="torch threads per job.")
@click.option("--eval-workers", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Processes of each evaluation of a cell's maps (the HaS studies evaluate every map at several "
                   "thresholds; 8 suits a 16-core GPU machine).")
@click.option("--epochs", type=click.IntRange(1), default=None,
              help="Override the recipes' epochs (quick checks; the published tables use the recipes).")
@click.option("--workers", type=click.IntRange(0), default=None,
              help="Override the recipes' DataLoader workers (the HaS recipes use 8 or 16, for a GPU machine).")
@click.option("--batch-size", type=click.IntRange(1), default=None,
              help="Override the recipes' training and extraction batch sizes (quick checks, small GPUs; the "
                   "training batch changes the numbers).")
@click.option("--list", "list_only", is_flag=True, help="List the studies and exit.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary JSON instead of the markdown table.")
@option_flag
def study(name, spec, device, out, tables, seeds, jobs, threads, eval_workers, epochs, workers, batch_size, list_only,
          as_json, options):
    """Run study NAME: a synthetic one (methods, thresholds, multicrop, pooling, or all of them) on the
    CPU, or has-tinyimagenet / has-ilsvrc on --dataset (GPUs); train its grid, evaluate, and write the
    table (mean +- std over the seeds). Interrupted studies resume where they stopped."""
    if list_only or name is None:
        _list_studies()
        if name is None and not list_only:
            stderr_console().print("give a study NAME (or all) to run it")
        return
    from wsolbench.nn.studies import bind_dataset, get_study

    names = _synthetic_names() if name == "all" else [name]
    adapter_options = parse_options(options)
    bound = [bind_dataset(get_study(n), spec, adapter_options) for n in names]  # checks --dataset first
    from wsolbench.cli.baseline import require_torch
    from wsolbench.outputs import check_outputs, output_folder

    check_outputs([output_folder(out, "--out"), output_folder(tables, "--tables")])
    require_torch(threads)
    from wsolbench.cli.render import progress_bar
    from wsolbench.nn.studies import run_study, write_tables
    from wsolbench.nn.train import resolve_device

    summaries = []
    for cli_name, current in zip(names, bound):
        n_seeds = seeds or current.seeds
        chosen = resolve_device(device or current.device)
        estimate = None if current.family == "synthetic" else (lambda e: _print_estimate(e, jobs))
        with progress_bar(f"study {cli_name}", disable=as_json) as update:
            summary = run_study(current, out=out, seeds=tuple(range(n_seeds)), jobs=jobs, threads=threads,
                                progress=lambda done, total, msg: update(done, total),
                                overrides=_overrides(epochs, workers, batch_size), device=chosen,
                                eval_workers=eval_workers, on_estimate=estimate)
        command = _command_line(cli_name, n_seeds, jobs, threads, epochs, dataset=spec,
                                device=device if current.family != "synthetic" else None, options=options,
                                workers=workers, batch_size=batch_size)
        paths = write_tables(summary, tables or out, command=command)
        stderr_console().print(f"study {cli_name}: {summary['wall_seconds_this_call']:.0f}s (cells' training time "
                               f"{summary['train_seconds_total']:.0f}s); tables: {', '.join(map(str, paths))}")
        summaries.append(summary)
    if as_json:
        click.echo(json.dumps(summaries if name == "all" else summaries[0]))
        return
    from wsolbench.nn.studies import to_markdown

    for summary in summaries:
        click.echo(to_markdown(summary))
