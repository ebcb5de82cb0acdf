"""``wsolbench evaluate``: score maps -> the field's standard numbers."""

from __future__ import annotations

import click

from wsolbench.cli.options import WORKERS, option_flag, parse_options
from wsolbench.cli.render import (
    diagnostics_table,
    echo_json,
    indent_option_help,
    progress_bar,
    result_table,
    stderr_console,
    stdout_console,
)


def load_gt(gt: str, *, split: str | None, mask_root: str | None, options: dict | None = None):
    """Load a ``--gt`` spec with adapter options (``--mask-root`` is the ``mask_root`` option)."""
    from wsolbench.datasets import load_annotations

    options = dict(options or {})
    if mask_root:
        options["mask_root"] = mask_root
    return load_annotations(gt, split=split, **options)


def spec_file(spec: str) -> str | None:
    """The file a ``NAME:PATH`` spec names, when PATH is a file (an input no output may replace)."""
    import os

    path = spec.partition(":")[2].partition("?")[0]
    return path if path and os.path.isfile(path) else None


def _check_submission(annotations, protocol, *, method, backbone, dataset, reference, notes) -> None:
    """Refuse a --submission row that could never be valid before anything is evaluated."""
    from wsolbench.leaderboard import schema
    from wsolbench.leaderboard.submission import check_row_identity

    check_row_identity(method=method, backbone=backbone, dataset=dataset or schema.normalize_dataset(annotations.name),
                       split=annotations.split, protocol=protocol, reference=reference, notes=notes,
                       ground_truth=annotations)


@click.command()
@click.argument("maps", type=click.Path(dir_okay=False))
@click.option("--gt", "gt", required=True, metavar="NAME:PATH",
              help="Ground truth, e.g. wsoleval:metadata/CUB/test, cub:/data/CUB_200_2011, synthetic:.")
@click.option("--split", default=None, help="Split, for datasets that hold several.")
@click.option("--mask-root", type=click.Path(file_okay=False), default=None,
              help="Folder the mask PNGs of wsolevaluation metadata are relative to.")
@click.option("--protocol", "protocol_name", type=click.Choice(["wsoleval", "cam2016"]), default="wsoleval",
              show_default=True)
@click.option("--cam-step", type=float, default=None, help="CAM-threshold grid step (default 0.001, the reference's; 0.01 is the coarse grid).")
@click.option("--threshold", type=float, default=None, help="Fixed threshold of cam2016 (default 0.2).")
@click.option("--workers", type=WORKERS, default=1, show_default=True, help="Processes (at most the CPU count).")
@click.option("--bootstrap", "n_resamples", type=click.IntRange(1, 100_000), default=None, metavar="N",
              help="Percentile bootstrap intervals over images with N resamples (e.g. 1000), thresholds "
                   "re-selected in each resample.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap resampling.")
@click.option("--confidence", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.95,
              show_default=True, help="Coverage of the bootstrap intervals.")
@click.option("--box-sizes", is_flag=True,
              help="Record each map's box area at every threshold for the size diagnostics (one more "
                   "largest-region sweep per map).")
@click.option("--no-mask-cache", "no_mask_cache", is_flag=True,
              help="Decode the GT mask files on every run (by default the masks in the evaluation frame are kept "
                   "in the wsolbench cache, keyed by each file's size and time, so later runs skip decoding).")
@click.option("--json", "as_json", is_flag=True, help="Print the result JSON instead of a table.")
@click.option("--indent", type=click.IntRange(0, 8), default=None, help=indent_option_help)
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Write the result JSON here (and its per-image state beside it, RESULT.state.npz).")
@click.option("--submission", type=click.Path(dir_okay=False), default=None,
              help="Also write a verified leaderboard row (CSV) here; needs --method and --backbone.")
@click.option("--method", default=None, help="Method name for --submission.")
@click.option("--backbone", default=None, help="Backbone name for --submission.")
@click.option("--dataset", "dataset_name", default=None,
              help="Leaderboard dataset name for --submission (default: from the ground truth, e.g. cub).")
@click.option("--reference", default="", help="Paper or URL of the method, for --submission.")
@click.option("--notes", default="", help="Free text for --submission.")
@click.option("--skip-images-without-gt", "skip_no_gt", is_flag=True,
              help="Leave out images that have no box or mask (default: an error); the result lists them.")
@click.option("--maps-url", default="", help="For --submission: where MAPS can be downloaded (https://...), so that "
                                             "anyone can re-verify the row; needed for real datasets.")
@click.option("--category", type=click.Choice(["method", "sanity", "fully-supervised"]), default=None,
              help="For --submission: the row's category (default: from the method name; only 'method' is ranked).")
@option_flag
def evaluate(maps, gt, split, mask_root, protocol_name, cam_step, threshold, workers, n_resamples, seed, confidence,
             box_sizes, no_mask_cache, as_json, indent, out, submission, method, backbone, dataset_name, reference,
             notes, skip_no_gt, maps_url, category, options):
    """Evaluate score maps (HDF5, see docs/scoremaps.md) against a dataset's ground truth."""
    from wsolbench.outputs import check_outputs, output_file
    from wsolbench.pipeline import evaluate_maps
    from wsolbench.protocol import get_protocol

    if submission and not (method and backbone):
        raise click.UsageError("--submission needs --method NAME and --backbone NAME")
    from wsolbench.metrics.imagestate import state_path

    check_outputs([output_file(out, "--out"), output_file(out and state_path(out), "--out's state file"),
                   output_file(submission, "--submission")], inputs={"MAPS": maps, "--gt": spec_file(gt)})
    protocol = get_protocol(protocol_name, cam_step=cam_step, threshold=threshold)
    annotations = load_gt(gt, split=split, mask_root=mask_root, options=parse_options(options))
    if annotations.resolution is not None:
        protocol = protocol.with_(resolution=tuple(annotations.resolution))
    if submission:
        _check_submission(annotations, protocol, method=method, backbone=backbone, dataset=dataset_name,
                          reference=reference, notes=notes)
    err = stderr_console()
    with progress_bar("evaluating", disable=as_json) as update:
        result = evaluate_maps(maps, annotations, protocol, workers=workers, progress=update, spec=gt,
                               skip_images_without_gt=skip_no_gt, box_sizes=box_sizes, bootstrap=n_resamples, seed=seed,
                               confidence=confidence, mask_cache=not no_mask_cache)
    skipped = result.dataset.get("skipped_without_gt") or []
    if skipped:
        err.print(f"[yellow]note:[/] {len(skipped)} image(s) without ground truth left out "
                  "(--skip-images-without-gt; listed in the result)", highlight=False)
    data = result.to_dict()
    n_const = data["counts"]["n_constant_maps"]
    if n_const:
        err.print(f"[yellow]warning:[/] {n_const} constant (or NaN) map(s) were evaluated as all-zero maps, "
                  "as the reference does")
    if out:
        result.save(out)
        data = result.to_dict()
        err.print(f"result written to {out}" + (f" (per-image state: {result.state['file']})" if result.state else ""))
    if submission:
        from wsolbench.leaderboard.submission import row_from_result, write_submission

        row = row_from_result(data, method=method, backbone=backbone, dataset=dataset_name,
                              reference=reference, notes=notes, maps_url=maps_url, category=category)
        write_submission(submission, [row])
        err.print(f"leaderboard row written to {submission}")
    if as_json:
        echo_json(data, indent=indent)
    else:
        console = stdout_console()
        console.print(result_table(data))
        diagnostics = diagnostics_table(data)
        if diagnostics is not None:
            console.print(diagnostics)
