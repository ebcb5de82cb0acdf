"""``wsolbench tune``: the protocol's model selection (search on train-fullsup, chosen model tested once).

Heavy imports (torch, Optuna) happen inside the command; ``--list`` needs neither, ``--status``
needs Optuna only. The table of trials (``tune.md``) or ``--json`` goes to stdout; progress and
messages to stderr.
"""

from __future__ import annotations

import json
from contextlib import contextmanager

import click

from wsolbench.cli.options import option_flag, parse_options
from wsolbench.cli.render import stderr_console, stdout_console

DEVICES = ("auto", "cpu", "cuda")


def _list_spaces(as_json: bool) -> None:
    from rich.table import Table
    from rich.text import Text

    from wsolbench.nn.search_space import list_spaces

    spaces = list_spaces()
    if as_json:
        click.echo(json.dumps([{**s.to_dict(), "name": s.name, "description": s.description, "source": s.source,
                                "overrides": s.overrides} for s in spaces]))
        return
    table = Table(title="search spaces (wsolbench tune METHOD; --space FILE for your own)", title_justify="left")
    for col in ("space", "knob", "distribution", "note"):
        table.add_column(col, no_wrap=col in ("space", "knob"))
    for s in spaces:
        for i, p in enumerate(s.params):
            extra = "".join(f"; {b}: {', '.join(f'{k} {v}' for k, v in o.items() if k != 'note')}"
                            for b, o in s.overrides.get(p.name, {}).items())
            table.add_row(s.name if i == 0 else "", p.name, p.describe() + extra, p.note)
        splits = (f"splits: trains on {s.splits.train or '(recipe)'}, selects on {s.splits.select}"
                  + (f", refits on {s.splits.refit}" if s.splits.refit else ""))
        table.add_row("", Text(splits, style="dim"), "", "", end_section=True)
    stdout_console().print(table)


@contextmanager
def tune_progress(disable: bool):
    """Rich progress on stderr: the budget, and the stages of the running trial; yields
    :class:`~wsolbench.nn.tune.TuneCallbacks`. The display appears with the first trial, so a
    command that fails while checking its inputs prints its error alone."""
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from wsolbench.interrupts import check as check_interrupt
    from wsolbench.nn.runner import Callbacks
    from wsolbench.nn.tune import TuneCallbacks
    from wsolbench.nn.tune_report import format_value

    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=stderr_console(), disable=disable)
    tasks: dict[str, int] = {}

    def task(name: str) -> int:
        if not tasks:
            progress.start()
        if name not in tasks:
            tasks[name] = progress.add_task(name, total=None)
        return tasks[name]

    def started(number, slot, params):
        for name, t in tasks.items():
            if name != "trials":
                progress.reset(t, total=None)
        shown = ", ".join(f"{k} {format_value(v)}" for k, v in params.items())
        progress.update(task("trials"), description=escape(f"trials (running {number}: {shown})"))

    def finished(record):
        outcome = f"{record['value']:.2f}" if record["value"] is not None else f"failed: {record['error']}"
        progress.console.print(escape(f"trial {record['number']} (slot {record['slot']}): {outcome}"))

    def train(done, total, message):
        check_interrupt()
        progress.update(task("train"), completed=done, total=total, description=escape(f"train: {message}"))

    def counter(name):
        def update(done, total):
            check_interrupt()
            progress.update(task(name), completed=done, total=total)
        return update

    run = Callbacks(stage=task, train=train, extract=counter("extract"), evaluate=counter("evaluate"))
    try:
        yield TuneCallbacks(
            run=run, trial_started=started, trial_finished=finished,
            budget=lambda done, total: progress.update(task("trials"), completed=done, total=total),
            waiting=lambda n: progress.update(task("trials"), description=f"trials (waiting for {n} running elsewhere)"),
            testing=lambda r: progress.update(task("trials"), description=f"testing the chosen trial {r['number']}"))
    finally:
        if tasks:
            progress.stop()


def _options(method, spec, **kw):
    from wsolbench.nn.tune import TuneOptions

    return TuneOptions(method=method, spec=spec, **kw)


def _print_summary(summary: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(summary))
        return
    from wsolbench.nn.tune_report import to_markdown

    click.echo(to_markdown(summary), nl=False)


@click.command()
@click.argument("method", required=False)
@click.option("--dataset", "spec", metavar="NAME:PATH", help="Dataset spec (it needs a train-fullsup split, 'val').")
@click.option("--backbone", default=None, help="Backbone (default: the recipe's).")
@click.option("--recipe", "recipe_name", default=None, help="Recipe the search starts from (default: by method, "
              "dataset and backbone).")
@click.option("--space", default=None, metavar="NAME|FILE", help="Search space (default: the method's; --list).")
@click.option("--trials", type=click.IntRange(1), default=30, show_default=True,
              help="Budget: trials in the study (the protocol's 30); a larger number extends a study.")
@click.option("--sampler", type=click.Choice(["random", "tpe"]), default="random", show_default=True,
              help="random: the protocol's random search; tpe: Optuna's TPE.")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True,
              help="Seed of the sampler (trial k's configuration depends only on it and k with random search).")
@click.option("--epochs", type=click.IntRange(1), default=None, help="Override the recipe's epochs in every trial.")
@click.option("--batch-size", type=click.IntRange(1), default=None, help="Override the (global) batch size.")
@click.option("--workers", "loader_workers", type=click.IntRange(0), default=None, help="DataLoader workers.")
@click.option("--metric", default=None, help="Selection metric key (default: maxboxacc_v2 with boxes, else pxap).")
@click.option("--select-split", default=None, help="Split the trials are scored on (default: the space's, val).")
@click.option("--study-name", default=None, help="Study name (default: METHOD-BACKBONE-DATASET).")
@click.option("--storage", default=None, metavar="URL", help="Optuna storage URL shared by workers, e.g. "
              "postgresql://USER:PASSWORD@HOST/DB (default: SQLite OUT/study.db).")
@click.option("--out", default=None, help="Output folder (default: runs/tune/STUDY).")
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True)
@click.option("--threads", type=click.IntRange(1), default=None, help="CPU threads of torch.")
@click.option("--pretrained", type=click.Path(exists=True, dir_okay=False), default=None,
              help="ImageNet weights of the backbone trunk (a torchvision state dict).")
@click.option("--image-root", type=click.Path(file_okay=False), default=None,
              help="Folder the image ids are relative to (wsoleval: metadata).")
@click.option("--mask-root", type=click.Path(file_okay=False), default=None, help="Mask folder (wsoleval: masks).")
@click.option("--eval-workers", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Processes for each evaluation.")
@click.option("--heartbeat", type=click.IntRange(1), default=60, show_default=True,
              help="Seconds between a running trial's heartbeats; a trial silent for twice this is rerun.")
@click.option("--no-test", is_flag=True, help="Do not evaluate the chosen model on test at the end.")
@click.option("--status", is_flag=True, help="Show the study's table of trials and exit (runs nothing).")
@click.option("--list", "list_only", is_flag=True, help="List the search spaces and exit.")
@click.option("--table", "tables", multiple=True, type=click.Path(exists=True, file_okay=False), metavar="OUT",
              help="Print a markdown table comparing finished studies (their --out folders, or a folder of them; "
                   "repeatable) and exit.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary JSON (tune.json) instead of the table.")
@option_flag
def tune(method, spec, backbone, recipe_name, space, trials, sampler, seed, epochs, batch_size, loader_workers,
         metric, select_split, study_name, storage, out, device, threads, pretrained, image_root, mask_root,
         eval_workers, heartbeat, no_test, status, list_only, tables, as_json, options):
    """Choose METHOD's hyper-parameters as the evaluation protocol does: a search (random, --trials 30)
    over the method's search space, each trial a baseline run trained on train and scored on the
    train-fullsup split (val: MaxBoxAccV2, or PxAP for mask datasets); the chosen model is tested once.
    Run the same command in several processes or machines with a shared --storage to share the budget;
    rerun it to resume."""
    if list_only:
        _list_spaces(as_json)
        return
    if tables:
        from wsolbench.nn.tune_report import comparison_markdown, read_summary, summary_folders, table_row

        rows = [table_row(read_summary(folder)) for folder in summary_folders(tables)]
        click.echo(json.dumps(rows) if as_json else comparison_markdown(rows), nl=as_json)
        return
    if not method or not spec:
        raise click.UsageError("give METHOD and --dataset SPEC (or --list to see the search spaces)")
    adapter_options = parse_options(options)
    if mask_root:
        adapter_options["mask_root"] = mask_root
    kw = dict(backbone=backbone, recipe=recipe_name, space=space, trials=trials, sampler=sampler, seed=seed,
              recipe_overrides={"epochs": epochs, "batch_size": batch_size, "workers": loader_workers},
              metric=metric, select_split=select_split, study_name=study_name, storage=storage, out=out,
              device=device, pretrained=pretrained, image_root=image_root, dataset_options=adapter_options,
              eval_workers=eval_workers, heartbeat=heartbeat, test=not no_test)
    if status:
        from wsolbench.nn.tune import tune_status

        _print_summary(tune_status(_options(method, spec, **kw)), as_json)
        return
    from wsolbench.cli.baseline import require_torch

    require_torch(threads)
    from wsolbench.nn.tune import run_tune

    with tune_progress(disable=as_json) as callbacks:
        summary = run_tune(_options(method, spec, **kw), callbacks)
    c = summary["counts"]
    stderr_console().print(f"study {summary['study']['name']}: {c['complete']} complete, {c['failed']} failed of "
                           f"{c['budget']}; outputs in {summary['study']['out']} "
                           "(tune.json, tune.md, tune.png, best-recipe.toml, result.test.json)")
    _print_summary(summary, as_json)
