"""``wsolbench report`` (an HTML page with curves, per-class tables and overlays) and
``wsolbench compare`` (several results side by side)."""

from __future__ import annotations

import json
import pathlib

import click

from wsolbench.cli.render import fmt, stderr_console, stdout_console


def _default_out(result_path: str) -> pathlib.Path:
    path = pathlib.Path(result_path)
    return path.with_name(f"{path.stem}_report")


def _annotations_for(result: dict, gt, split, mask_root, maps):
    """The annotations named by --gt, else (when --maps needs them) the spec the result records."""
    from wsolbench.cli.evaluate import load_gt

    dataset = result.get("dataset") or {}
    if gt is None and maps is None:
        return None
    if gt is None:
        gt = dataset.get("spec")
        if not gt:
            raise click.UsageError("--maps needs --gt NAME:PATH (the result does not record its dataset spec)")
        split = split if split is not None else (dataset.get("split") or None)
    return load_gt(gt, split=split, mask_root=mask_root)


def _check_maps_checksum(result: dict, maps: str, err) -> None:
    """Warn when the maps file is not the one the result was computed from."""
    from wsolbench.scoremaps import sha256_file

    expected = (result.get("maps") or {}).get("sha256")
    if expected and sha256_file(maps) != expected:
        err.print(f"[yellow]warning:[/] {maps} differs from the maps file of the result (sha256 {expected[:12]}…); "
                  "the overlays may not show what was evaluated")


@click.command()
@click.argument("result_path", metavar="RESULT.json", type=click.Path(dir_okay=False))
@click.option("--maps", type=click.Path(dir_okay=False), default=None,
              help="The score-map file of the result: draws the best, worst and random images.")
@click.option("--gt", default=None, metavar="NAME:PATH",
              help="Ground truth of the result (default with --maps: the spec recorded in the result).")
@click.option("--split", default=None, help="Split, for datasets that hold several.")
@click.option("--mask-root", type=click.Path(file_okay=False), default=None,
              help="Folder the mask PNGs of wsolevaluation metadata are relative to.")
@click.option("--image-root", type=click.Path(file_okay=False), default=None,
              help="Folder of the images (default: the dataset's root); missing images are drawn as maps on grey.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Output folder (default: RESULT_report beside the result).")
@click.option("--examples", "n_examples", type=click.IntRange(1, 64), default=8, show_default=True,
              help="Images per overlay group (best, worst, random).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random overlay group.")
@click.option("--no-curves", is_flag=True, help="Build the page without curves (no matplotlib needed).")
def report(result_path, maps, gt, split, mask_root, image_root, out, n_examples, seed, no_curves):
    """Write an HTML report of a result: curves, per-class table, overlays, protocol and provenance."""
    from wsolbench.report.build import build_report
    from wsolbench.report.files import load_result

    err = stderr_console()
    result = load_result(result_path)
    annotations = _annotations_for(result, gt, split, mask_root, maps)
    if maps is not None:
        _check_maps_checksum(result, maps, err)
    out_dir = pathlib.Path(out) if out else _default_out(result_path)
    page = build_report(result, out_dir, maps_path=maps, annotations=annotations, image_root=image_root,
                        n_examples=n_examples, seed=seed, curves=not no_curves)
    err.print(f"report written to {page}")
    click.echo(str(page))


def _diff_cell(value) -> str:
    if value is None:
        return "-"
    color = "green" if value > 0 else "red" if value < 0 else "dim"
    return f"[{color}]{value:+.2f}[/]"


def comparison_table(comparison: dict):
    """A rich table of metrics side by side; after each result but the first, a ``Δ`` column holds
    its difference against the first."""
    from rich.table import Table

    reference = comparison["reference"]
    first = comparison["results"][0]
    if comparison["same_protocol"]:
        caption = f"all under protocol {first['protocol_name']} ({first['protocol_hash']})"
    else:
        caption = "[yellow]protocols differ, numbers are not comparable:[/] " + ", ".join(
            f"{r['label']} {r['protocol_name']} ({r['protocol_hash']})" for r in comparison["results"])
    table = Table(title=f"metrics (%) vs {reference}", caption=caption, title_justify="left")
    table.add_column("metric", no_wrap=True)
    for i, r in enumerate(comparison["results"]):
        table.add_column(r["label"], justify="right")
        if i:
            table.add_column("Δ", justify="right", no_wrap=True)
    for row in comparison["metrics"]:
        cells = [row["name"]]
        for i, (v, d) in enumerate(zip(row["values"], row["differences"])):
            cells.append(fmt(v))
            if i:
                cells.append(_diff_cell(d))
        table.add_row(*cells)
    return table


@click.command()
@click.argument("result_paths", metavar="RESULT.json...", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--label", "labels", multiple=True, help="Display name of each result, in order (repeat).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Also write overlaid curves of all results, one PNG per metric, in this folder.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON instead of a table.")
def compare(result_paths, labels, out, as_json):
    """Compare results: metrics side by side with differences against the first."""
    from wsolbench.report.compare import compare_metrics, plot_comparison
    from wsolbench.report.files import load_result

    if len(result_paths) < 2:
        raise click.UsageError("compare needs at least two result files, e.g. wsolbench compare A.json B.json")
    if labels and len(labels) != len(result_paths):
        raise click.UsageError(f"got {len(labels)} --label for {len(result_paths)} results; give one per result")
    err = stderr_console()
    results = [load_result(p) for p in result_paths]
    comparison = compare_metrics(results, labels=list(labels) or None, paths=result_paths)
    if not comparison["same_protocol"]:
        err.print("[yellow]warning:[/] the results were computed under different protocols (hashes differ); "
                  "their numbers are not comparable")
    if out:
        labels_used = [r["label"] for r in comparison["results"]]
        drawn = plot_comparison(results, labels_used, out)
        comparison["figures"] = {k: v["path"] for k, v in drawn.items()}
        err.print(f"{len(drawn)} comparison plot(s) written to {out}")
    if as_json:
        click.echo(json.dumps(comparison))
    else:
        stdout_console().print(comparison_table(comparison))
