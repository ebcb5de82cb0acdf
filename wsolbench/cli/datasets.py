"""``wsolbench datasets``: list the adapters and dataset cards, check a local copy, draw samples, export."""

from __future__ import annotations

import json

import click

from wsolbench.cli.options import option_flag, parse_options
from wsolbench.metric_names import METRIC_NAMES
from wsolbench.cli.render import progress_bar, stderr_console, stdout_console
from wsolbench.errors import DatasetError

MAX_SHOWN_PROBLEMS = 10


@click.group()
def datasets():
    """Dataset adapters and cards: list them, check a local copy, draw samples with their ground truth."""


def _card_rows(cards_by_adapter: dict) -> list[dict]:
    from wsolbench.datasets.registry import ADAPTERS

    rows = []
    for name, info in ADAPTERS.items():
        card = cards_by_adapter.get(name)
        rows.append({
            "adapter": name,
            "spec": info.spec or (f"{name}:DIR" if name not in ("synthetic", "synthetic1d") else f"{name}:"),
            "summary": info.summary, "card": card.card if card else (info.card or None),
            "num_classes": card.num_classes if card else None,
            "splits": {s: c.images for s, c in card.splits.items()} if card else {},
            "metrics": list(card.metrics) if card else [],
        })
    return rows


@datasets.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_command(as_json):
    """The dataset adapters (spec NAME:PATH) and, for real datasets, their cards."""
    from rich.table import Table

    from wsolbench.datasets.cards import list_cards

    cards = list_cards()
    rows = _card_rows({c.name: c for c in cards})
    if as_json:
        click.echo(json.dumps({"adapters": rows, "cards": [c.to_dict() for c in cards]}))
        return
    table = Table(title="dataset adapters (use as --gt NAME:PATH)", title_justify="left")
    table.add_column("spec", no_wrap=True)
    for col in ("reads", "splits (images)", "classes", "metrics", "card (datasets/)"):
        table.add_column(col)
    for r in rows:
        splits = "\n".join(f"{s} {n:,}" for s, n in r["splits"].items())
        metrics = ", ".join(METRIC_NAMES[m] for m in r["metrics"] if METRIC_NAMES.get(m))
        table.add_row(r["spec"], r["summary"], splits, str(r["num_classes"] or ""), metrics,
                      (r["card"] or "").removeprefix("datasets/"))
    stdout_console().print(table)


def _summary_table(report):
    from rich.table import Table

    exp = report.expected
    status = "[green]OK[/]" if report.ok else f"[red]{len(report.problems)} problem(s)[/]"
    table = Table(title=f"{report.spec}  split {report.split or '-'}: {status}", title_justify="left")
    table.add_column("")
    table.add_column("found", justify="right")
    table.add_column("card", justify="right")
    want = (lambda v: "" if v is None else f"{v:,}") if exp is not None and report.counts_checked else (lambda v: "")
    table.add_row("images", f"{report.n_images:,}", want(exp.images if exp else None))
    table.add_row("boxes", f"{report.n_boxes:,}", want(exp.boxes if exp else None))
    table.add_row("classes present", f"{report.n_classes_present:,}", want(exp.classes if exp else None))
    if report.fingerprint:
        official = exp.fingerprint if exp is not None and report.counts_checked and exp.fingerprint else None
        table.add_row("ground-truth fingerprint", report.fingerprint[:12], official[:12] if official else "")
    table.add_row("image files read", f"{report.n_images_checked:,}", "")
    table.add_row("masks loaded", f"{report.n_masks_checked:,}", "")
    for kind, n in report.count_by_kind().items():
        table.add_row(f"[red]{kind}[/]", f"{n:,}", "")
    caption = [f"card {report.card}" if report.card else "no dataset card"]
    if report.image_folder is None and report.n_images:
        caption.append("image files not read: no image folder (wsoleval: -o images=DIR)")
    if report.card and not report.counts_checked:
        caption.append("counts not compared")
    table.caption = "; ".join(caption)
    return table


@datasets.command("check")
@click.argument("spec", metavar="NAME:PATH")
@click.option("--split", default=None, help="Split to check (default: the adapter's evaluation split).")
@click.option("--no-counts", is_flag=True, help="Do not compare counts with the card (partial copies, fixtures).")
@click.option("--no-images", is_flag=True, help="Do not open the image files.")
@click.option("--decode", is_flag=True, help="Decode every image's pixels (finds truncated files; slower).")
@click.option("--max-problems", type=click.IntRange(0), default=MAX_SHOWN_PROBLEMS, show_default=True,
              help="How many problems to list.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@option_flag
def check_command(spec, split, no_counts, no_images, decode, max_problems, as_json, options):
    """Verify a local dataset copy: annotations, image files, masks, counts against the card.

    Exits with 2 when anything is wrong (bad input: the first problems are listed, then a one-line
    summary), 0 when all is well.
    """
    from wsolbench.datasets.check import check_dataset

    with progress_bar("checking files", disable=as_json) as update:
        report = check_dataset(spec, split, options=parse_options(options), counts=not no_counts,
                               read_images=not no_images, decode=decode, progress=update)
    if as_json:
        click.echo(json.dumps(report.to_dict()))
    else:
        out = stdout_console()
        out.print(_summary_table(report))
        for p in report.problems[:max_problems]:
            out.print(f"[red]{p.kind}[/]: {p.message}", markup=True, highlight=False)
        if len(report.problems) > max_problems:
            out.print(f"... and {len(report.problems) - max_problems} more (--max-problems N, or --json for all)")
    if not report.ok:
        kinds = ", ".join(f"{n} {kind}" for kind, n in report.count_by_kind().items())
        partial = " (or pass --no-counts for a partial copy)" if "count" in report.count_by_kind() else ""
        raise DatasetError(f"{spec}: {len(report.problems)} problem(s) ({kinds}); fix them as listed above "
                           f"(--json lists all){partial}")


@datasets.command("show")
@click.argument("spec", metavar="NAME:PATH")
@click.option("--split", default=None, help="Split to draw from (default: the adapter's evaluation split).")
@click.option("-n", "n", type=click.IntRange(1, 400), default=16, show_default=True, help="Number of samples.")
@click.option("--ncols", type=click.IntRange(1, 40), default=4, show_default=True, help="Tiles per row.")
@click.option("--tile", type=click.IntRange(32, 1024), default=192, show_default=True, help="Tile size in pixels.")
@click.option("--seed", type=int, default=None, help="Random sample (default: evenly spread over the split).")
@click.option("--out", type=click.Path(dir_okay=False), default="grid.png", show_default=True, help="PNG to write.")
@option_flag
def show_command(spec, split, n, ncols, tile, seed, out, options):
    """Draw a PNG grid of samples with their GT boxes and masks."""
    from wsolbench.datasets import load_annotations
    from wsolbench.datasets.show import render_samples
    from wsolbench.outputs import check_outputs, output_file

    check_outputs([output_file(out, "--out")])
    annotations = load_annotations(spec, split=split, **parse_options(options))
    path = render_samples(annotations, out, n=n, ncols=ncols, tile=tile, seed=seed)
    stderr_console().print(f"{min(n, len(annotations))} samples of {annotations.name} {annotations.split} "
                           f"drawn to {path}")
    click.echo(str(path))


@datasets.command("export")
@click.argument("spec", metavar="NAME:PATH")
@click.option("--format", "fmt", type=click.Choice(["coco"]), required=True, help="File format to write.")
@click.option("--split", default=None, help="Split to export (default: the adapter's evaluation split).")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="The file to write (e.g. test.json).")
@option_flag
def export_command(spec, fmt, split, out, options):
    """Write a dataset split's ground truth in another format (COCO JSON: read it back with coco:FILE)."""
    from wsolbench.cli.evaluate import spec_file
    from wsolbench.datasets import load_annotations
    from wsolbench.datasets.cocoexport import write_coco
    from wsolbench.outputs import check_outputs, output_file

    check_outputs([output_file(out, "--out")], inputs={"SPEC": spec_file(spec)})
    annotations = load_annotations(spec, split=split, **parse_options(options))
    with progress_bar("exporting", disable=len(annotations) < 200) as update:
        path = write_coco(annotations, out, progress=update)
    stderr_console().print(f"{len(annotations)} images of {annotations.name} {annotations.split} written to {path} "
                           f"(read it with coco:{path})")
    click.echo(str(path))
