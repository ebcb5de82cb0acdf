"""``wsolbench scoremaps``: inspect, validate and convert HDF5 score-map files.

Results go to stdout (a rich table, or JSON with ``--json``); progress and notes to stderr.
"""

from __future__ import annotations

import json

import click

DTYPES = ("float16", "float32", "float64")


def _stderr():
    from rich.console import Console

    return Console(stderr=True)


def _stdout():
    from rich.console import Console

    return Console(highlight=False)


def _progress(description: str):
    """A transient rich progress bar on stderr (only on a terminal) and a callback ``(done, total)``."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    console = _stderr()
    bar = Progress(TextColumn(description), BarColumn(), MofNCompleteColumn(), console=console, transient=True,
                   disable=not console.is_terminal)
    task = bar.add_task(description, total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return bar, update


@click.group("scoremaps")
def scoremaps():
    """Inspect, validate and convert HDF5 score-map files (format v1, docs/scoremaps.md)."""


def _info_rows(summary: dict) -> list[tuple[str, str]]:
    shapes = summary["map_shapes"]
    shown = ", ".join(f"{s} ({k})" for s, k in list(shapes.items())[:4])
    if len(shapes) > 4:
        shown += f", ... ({len(shapes)} shapes)"
    scores = summary["class_scores"]
    rows = [
        ("file", summary["path"]),
        ("size", f"{summary['size_bytes'] / 1e6:.2f} MB"),
        ("format", f"{summary['format']} v{summary['format_version']}"),
        ("maps", str(summary["n_maps"])),
        ("images", str(summary["n_images"])),
        ("layout", summary["layout"]),
        ("map rank", f"{summary['map_ndim']}-D"),
        ("dtype", summary["dtype"]),
        ("map shapes", shown),
        ("normalized", "yes (scores in [0, 1], evaluated as given)" if summary["normalized"]
         else "no (raw maps: resized and min-max normalised by the protocol)"),
        ("predicted labels", "yes" if summary["predicted_labels"] else "no"),
        ("map labels", "yes (several maps per image)" if summary["map_labels"] else "no (map = GT class)"),
        ("class scores", f"{scores['name']} [{scores['num_classes']} classes]" if scores else "no"),
        ("compression", str(summary["storage"]["compression"] or "none")),
    ]
    rows += [(f"attr {k}", str(v)) for k, v in summary["attrs"].items()]
    if "sha256" in summary:
        rows.append(("sha256", summary["sha256"]))
    return rows


@scoremaps.command("info")
@click.argument("file", type=click.Path(dir_okay=True))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--sha256", "with_sha", is_flag=True, help="Also compute the file's SHA-256 (reads the whole file).")
def info(file, as_json, with_sha):
    """Summarise a score-map FILE (reads metadata only; use validate to check every value)."""
    from rich.table import Table

    from wsolbench.scoremaps import ScoreMapFile, sha256_file

    with ScoreMapFile(file) as f:
        summary = f.describe()
    if with_sha:
        summary["sha256"] = sha256_file(file)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    table = Table(title="score maps", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in _info_rows(summary):
        table.add_row(key, value)
    _stdout().print(table)


@scoremaps.command("validate")
@click.argument("file", type=click.Path(dir_okay=True))
@click.option("--batch-size", default=256, show_default=True, type=click.IntRange(min=1),
              help="Maps read at a time.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def validate(file, batch_size, as_json):
    """Check every part of FILE: structure, ids, and each map's values. Exit 2 if invalid."""
    from wsolbench.scoremaps import validate_scoremaps

    bar, update = _progress("validating")
    with bar:
        report = validate_scoremaps(file, batch_size=batch_size, on_batch=update)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        lo, hi = report.value_range
        click.echo(f"valid: {report.path}: {report.n_maps} maps, values in [{lo:.6g}, {hi:.6g}]")
    err = _stderr()
    for warning in report.warnings:
        err.print(f"warning: {warning}", highlight=False, markup=False)


@scoremaps.command("import-npy")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--ids", "ids_file", type=click.Path(dir_okay=False),
              help="image_ids.txt (one id per line); default: every <image_id>.npy under DIRECTORY, sorted.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="The .h5 file to write.")
@click.option("--raw", is_flag=True,
              help="The maps are raw CAMs (resized and min-max normalised by the protocol); default: the "
                   "reference's saved maps, 224x224 in [0, 1], evaluated as given.")
@click.option("--dtype", type=click.Choice(DTYPES), default=None,
              help="Storage dtype (default: as in the .npy files; float16 may change threshold decisions).")
@click.option("--compression", type=click.Choice(["gzip", "lzf", "none"]), default="gzip", show_default=True)
@click.option("--method", help="Provenance: method name.")
@click.option("--backbone", help="Provenance: backbone.")
@click.option("--dataset", "dataset_name", help="Provenance: dataset name.")
@click.option("--split", help="Provenance: split.")
@click.option("--notes", help="Provenance: free notes.")
def import_npy(directory, ids_file, out, raw, dtype, compression, method, backbone, dataset_name, split, notes):
    """Convert the reference's folder of <image_id>.npy maps into a score-map file."""
    from wsolbench.outputs import check_outputs, output_file
    from wsolbench.scoremaps import import_npy_dir
    from wsolbench.scoremaps.npydir import read_id_list

    check_outputs([output_file(out, "--out")], inputs={"--ids": ids_file, "DIRECTORY": directory})
    ids = read_id_list(ids_file) if ids_file else None
    attrs = {"method": method, "backbone": backbone, "dataset": dataset_name, "split": split, "notes": notes}
    bar, update = _progress("importing")
    with bar:
        path = import_npy_dir(directory, out, image_ids=ids, normalized=not raw, on_batch=update,
                              attrs={k: v for k, v in attrs.items() if v is not None}, dtype=dtype,
                              compression=None if compression == "none" else compression)
    from wsolbench.scoremaps import ScoreMapFile

    with ScoreMapFile(path) as f:
        click.echo(f"wrote {path}: {f.n_maps} maps ({f.layout.kind} layout, {f.layout.dtype}, "
                   f"normalized={'true' if f.normalized else 'false'})")


@scoremaps.command("export-npy")
@click.argument("file", type=click.Path(dir_okay=True))
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--dtype", type=click.Choice(DTYPES), default="float64", show_default=True,
              help="dtype of the .npy arrays (the reference accepts only float64).")
@click.option("--overwrite", is_flag=True, help="Replace existing .npy files.")
def export_npy(file, directory, dtype, overwrite):
    """Write each map of FILE as DIRECTORY/<image_id>.npy, the layout the reference's evaluate_wsol reads."""
    from wsolbench.outputs import check_outputs, output_folder
    from wsolbench.scoremaps import export_npy_dir

    check_outputs([output_folder(directory, "DIRECTORY")], inputs={"FILE": file})
    bar, update = _progress("exporting")
    with bar:
        summary = export_npy_dir(file, directory, dtype=dtype, overwrite=overwrite, on_batch=update)
    click.echo(f"wrote {summary.n_maps} maps to {summary.root}")
    if not summary.normalized or set(summary.map_shapes) != {"224x224"}:
        _stderr().print("note: the reference's evaluate_wsol expects 224x224 maps in [0, 1]; these maps are "
                        f"{'raw' if not summary.normalized else 'normalized'} with shapes "
                        f"{', '.join(summary.map_shapes)}", highlight=False, markup=False)
