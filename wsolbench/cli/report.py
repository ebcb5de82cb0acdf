"""``wsolbench report`` (an HTML page with curves, per-class tables and overlays) and
``wsolbench compare`` (several results side by side)."""

from __future__ import annotations

import pathlib

import click

from wsolbench.cli.render import echo_json, fmt, indent_option_help, stderr_console, stdout_console


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


def _check_maps(maps: str) -> None:
    """Open the score-map file (structure, ids) before anything is drawn."""
    from wsolbench.scoremaps import ScoreMapFile

    with ScoreMapFile(maps):
        pass


def _bootstrap_from_state(result: dict, path, n_resamples: int, seed: int) -> dict:
    """Intervals of a result dict computed from the state file beside it."""
    from wsolbench.errors import FormatError
    from wsolbench.metrics.bootstrap import bootstrap
    from wsolbench.metrics.imagestate import load_checked
    from wsolbench.metrics.result import state_file_of

    source = state_file_of(result, path)
    if source is None:
        raise FormatError(f"{path}: --bootstrap needs the result's per-image state, which it does not record; "
                          "re-run `wsolbench evaluate --out` (it writes RESULT.state.npz beside the JSON)")
    return bootstrap(load_checked(source, result.get("state")), n_resamples=n_resamples, seed=seed)


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
@click.option("--bootstrap", "n_resamples", type=click.IntRange(1, 100_000), default=None, metavar="N",
              help="Show N-resample bootstrap intervals computed from the result's state file (RESULT.state.npz), "
                   "for a result evaluated without --bootstrap.")
def report(result_path, maps, gt, split, mask_root, image_root, out, n_examples, seed, no_curves, n_resamples):
    """Write an HTML report of a result: curves, intervals, diagnostics, per-class table, overlays, provenance."""
    from wsolbench.outputs import check_outputs, output_folder
    from wsolbench.report.build import build_report
    from wsolbench.report.files import load_result

    err = stderr_console()
    out_dir = pathlib.Path(out) if out else _default_out(result_path)
    check_outputs([output_folder(out_dir, "--out")], inputs={"RESULT.json": result_path, "--maps": maps})
    result = load_result(result_path)
    if n_resamples:
        result["bootstrap"] = _bootstrap_from_state(result, result_path, n_resamples, seed)
    annotations = _annotations_for(result, gt, split, mask_root, maps)
    if maps is not None:
        _check_maps(maps)
        _check_maps_checksum(result, maps, err)
    page = build_report(result, out_dir, maps_path=maps, annotations=annotations, image_root=image_root,
                        n_examples=n_examples, seed=seed, curves=not no_curves)
    err.print(f"report written to {page}")
    click.echo(str(page))


def _diff_cell(value) -> str:
    if value is None:
        return "-"
    color = "green" if value > 0 else "red" if value < 0 else "dim"
    return f"[{color}]{value:+.2f}[/]"


MAX_DELTA_RESULTS = 4


def _protocol_cell(info: dict) -> str:
    name = info["protocol_name"] or "?"
    text = f"{name} {info['protocol_hash']}" if info["protocol_hash"] else f"{name} (no hash)"
    diff = info.get("protocol_differences") or {}
    if diff:
        text += "\n[yellow]" + ", ".join(f"{k}={v}" for k, v in diff.items()) + "[/]"
    return text


def comparison_table(comparison: dict):
    """A rich table of metrics side by side; after each result but the first, a ``Δ`` column holds
    its difference against the first. The last rows give each result's data (images, dataset/split)
    and protocol, with the settings that differ from the first result's."""
    from rich.table import Table

    reference = comparison["reference"]
    results = comparison["results"]
    first = results[0]
    if comparison["same_protocol"] and first["protocol_hash"] is None:
        caption = f"all under protocol {first['protocol_name']} (no hash recorded)"
    elif comparison["same_protocol"]:
        caption = f"all under protocol {first['protocol_name']} ({first['protocol_hash']})"
    else:
        caption = "[yellow]protocols differ or are unknown, numbers may not be comparable (see the protocol row)[/]"
    delta = len(results) <= MAX_DELTA_RESULTS
    if not delta:
        caption += f"\n[dim]Δ columns left out for width with more than {MAX_DELTA_RESULTS} results (--json has them)[/]"
    for note in comparison.get("notes", []):
        caption += f"\n[dim]note: {note}[/]"
    table = Table(title=f"metrics (%) vs {reference}", caption=caption, title_justify="left")
    table.add_column("metric", no_wrap=True)
    for i, r in enumerate(results):
        table.add_column(r["label"], justify="right", min_width=6)
        if i and delta:
            table.add_column("Δ", justify="right", no_wrap=True)
    rows = comparison["metrics"]
    for k, row in enumerate(rows):
        cells = [row["name"]]
        for i, (v, d) in enumerate(zip(row["values"], row["differences"])):
            cells.append(fmt(v))
            if i and delta:
                cells.append(_diff_cell(d))
        table.add_row(*cells, end_section=k == len(rows) - 1)
    for name, cell in (("images", lambda r: "?" if r.get("n_images") is None else str(r["n_images"])),
                       ("dataset / split", lambda r: f"{r.get('dataset') or '?'} / {r.get('split') or '?'}"),
                       ("protocol", _protocol_cell)):
        cells = [name]
        for i, r in enumerate(results):
            cells.append(cell(r))
            if i and delta:
                cells.append("")
        table.add_row(*cells)
    return table


def paired_table(test: dict):
    """A rich table of one paired bootstrap test (``B - A`` per metric, interval, p-value, verdict)."""
    from rich.table import Table

    from wsolbench.report.compare import verdict
    from wsolbench.report.sections import METRIC_NAMES

    names = {**METRIC_NAMES, "pointing_game": "Pointing game", "energy_pointing_game": "Energy pointing game"}
    level = f"{100 * test['confidence']:g}%"
    table = Table(title=f"paired bootstrap: {test['label']} - {test['against']} on the same {test['n_images']} images",
                  caption=f"{level} percentile intervals of the difference, {test['n_resamples']} resamples "
                          f"(seed {test['seed']}), thresholds re-selected in each; p: two-sided, no difference",
                  title_justify="left")
    for col in ("metric", "difference", f"{level} interval", "p", "verdict"):
        table.add_column(col, justify="left" if col in ("metric", "verdict") else "right",
                         no_wrap=col != "metric")
    for key, m in test["metrics"].items():
        word = verdict(m)
        style = "dim" if word == "not distinguishable" else "green" if word == "higher" else "red"
        table.add_row(names.get(key, key), _diff_cell(m["difference"]),
                      "-" if m["low"] is None else f"[{m['low']:+.2f}, {m['high']:+.2f}]",
                      "-" if m["p_value"] is None else f"{m['p_value']:.3f}", f"[{style}]{word}[/]")
    return table


def _states_of(entries) -> list:
    """Each compared entry's per-image state, or the reason it has none."""
    from wsolbench.errors import FormatError
    from wsolbench.metrics.imagestate import load_checked
    from wsolbench.metrics.result import state_file_of

    states = []
    for entry in entries:
        result, path = entry.result, entry.source
        source = state_file_of(result, path) if entry.kind == "result" else None
        if entry.kind != "result":
            states.append(f"{path} is a {entry.kind.replace('-', ' ')} entry, without per-image state; compare the "
                          "runs' result.json files for a paired test")
            continue
        if source is None:
            states.append(f"{path} records no per-image state (written by `wsolbench evaluate --out` beside the "
                          "result since this version); re-run the evaluation for a paired test")
            continue
        try:
            states.append(load_checked(source, result.get("state")))
        except FormatError as e:
            states.append(str(e))
    return states


@click.command()
@click.argument("result_paths", metavar="RESULT.json...", nargs=-1, required=True)
@click.option("--label", "labels", multiple=True, help="Display name of each result, in order (repeat).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Also write overlaid curves of all results, one PNG per metric, in this folder.")
@click.option("--force", is_flag=True,
              help="Compare results on different data (dataset, split, image count or ground truth) anyway.")
@click.option("--bootstrap", "n_resamples", type=click.IntRange(0, 100_000), default=1000, show_default=True,
              metavar="N", help="Resamples of the paired bootstrap test of each result against the first "
                                "(needs their per-image state files); 0: no test.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap resampling.")
@click.option("--confidence", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.95,
              show_default=True, help="Coverage of the intervals of the differences.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON instead of a table.")
@click.option("--indent", type=click.IntRange(0, 8), default=None, help=indent_option_help)
def compare(result_paths, labels, out, force, n_resamples, seed, confidence, as_json, indent):
    """Compare results: metrics side by side with differences against the first, and a paired
    bootstrap test of each against the first where both have their per-image state.

    Takes result JSON files (evaluate --out, a run's result.json), run summaries and study tables
    (baselines/results/*.json; FILE.json#KEY picks one result or section). Results on different data
    are refused unless --force; protocol settings that differ are shown per column.
    """
    from wsolbench.outputs import check_outputs, output_folder
    from wsolbench.report.comparable import data_differences, refuse_unless_forced
    from wsolbench.report.compare import compare_metrics, paired_tests, plot_comparison, result_label
    from wsolbench.report.files import load_entries

    check_outputs([output_folder(out, "--out")], inputs={p: p for p in result_paths})
    entries = [e for spec in result_paths for e in load_entries(spec)]
    if len(entries) < 2:
        raise click.UsageError(f"compare needs at least two results; {', '.join(result_paths)} hold(s) "
                               f"{len(entries)}, e.g. wsolbench compare A.json B.json")
    if labels and len(labels) != len(entries):
        raise click.UsageError(f"got {len(labels)} --label for {len(entries)} results; give one per result")
    err = stderr_console()
    results = [e.result for e in entries]
    names = list(labels) or [e.label or result_label(e.result, e.source) for e in entries]
    comparison = compare_metrics(results, labels=names, paths=[e.source for e in entries],
                                 extras=[e.extra for e in entries])
    used = [r["label"] for r in comparison["results"]]
    check = data_differences(results, used)
    refuse_unless_forced(check, [e.source for e in entries], force=force)
    noted: dict[str, list[str]] = {}
    for r, e in zip(comparison["results"], entries):
        if e.note:
            noted.setdefault(e.note, []).append(r["label"])
    notes = [f"{', '.join(names)}: {note}" for note, names in noted.items()] + check.notes
    comparison.update(data_differences=check.differences, notes=notes, forced=bool(force and check.differences))
    for difference in check.differences:
        err.print(f"[yellow]warning (--force):[/] different data: {difference}", highlight=False)
    if not comparison["same_protocol"]:
        err.print("[yellow]warning:[/] the results were computed under different protocols (or an unknown one); "
                  "their numbers are not comparable", highlight=False)
    if out:
        drawn = plot_comparison(results, used, out)
        comparison["figures"] = {k: v["path"] for k, v in drawn.items()}
        err.print(f"{len(drawn)} comparison plot(s) written to {out}")
    if n_resamples:
        comparison["paired"] = paired_tests(_states_of(entries), used, n_resamples=n_resamples, seed=seed,
                                            confidence=confidence)
    if as_json:
        echo_json(comparison, indent=indent)
        return
    console = stdout_console()
    console.print(comparison_table(comparison))
    for test in comparison.get("paired", []):
        if "skipped" in test:
            err.print(f"[yellow]no paired test of {test['label']}:[/] {test['skipped']}", highlight=False)
        else:
            console.print(paired_table(test))
