"""``wsolbench demo``: what WSOL methods are for, measured with intervals, on a laptop CPU, from nothing.

Generates the embedded synthetic benchmark (the demo config), trains CAM and Hide-and-Seek on the
small CNN side by side (two processes), extracts and evaluates their maps and the center-gaussian
floor, computes bootstrap intervals and paired tests, prints the numbers and the sentences they
support, and writes a report folder (a page with the story, each result's report, overlays of the
methods side by side). The library part is :mod:`wsolbench.nn.demo`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from wsolbench.cli.render import echo_json, fmt, fmt_interval, indent_option_help, stderr_console, stdout_console

COMPARED = ("maxboxacc", "maxboxacc_v2", "gt_known_loc", "top1_loc", "top1_cls", "pxap", "piou")
N_OVERLAYS = 6


def _comparison(columns: list[tuple[str, dict]], num_classes: int):
    from rich.table import Table

    from wsolbench.cli.render import METRIC_LABELS

    boot = next((r.get("bootstrap") for _, r in columns if r.get("bootstrap")), None)
    level = f"{100 * boot['confidence']:g}% " if boot else ""
    table = Table(title=f"demo: {' vs '.join(n for n, _ in columns)} ({level}intervals over images)",
                  title_justify="left", caption=f"chance top-1 = {100.0 / num_classes:.1f}%")
    table.add_column("metric")
    for name, _ in columns:
        table.add_column(name, justify="right", no_wrap=True)
    labels = {**METRIC_LABELS, "pointing_game": "Pointing game (15 px)", "energy_pointing_game": "Energy pointing game"}
    for key in COMPARED + ("pointing_game", "energy_pointing_game"):
        cells = []
        for _, r in columns:
            value = r["metrics"].get(key) if key in r["metrics"] else ((r.get("diagnostics") or {}).get(key) or {}).get(
                "value")
            interval = ((r.get("bootstrap") or {}).get("intervals") or {}).get(key)
            cells.append(fmt(value) + (f" {fmt_interval(interval, 1)}" if value is not None and interval else ""))
        if any(c != "-" for c in cells):
            table.add_row(labels[key].strip(), *cells)
    return table


def _overlay_items(entries: list[tuple[str, dict, Path]], *, annotations, seed: int, n: int = N_OVERLAYS):
    """Overlay items of the same random test images, one row per method (name, result, maps file)."""
    import dataclasses

    from wsolbench.report.examples import build_item, result_frame, select_examples
    from wsolbench.scoremaps import ScoreMapFile

    chosen = select_examples(entries[0][1]["per_image"], n=n, seed=seed)["random"]
    items = []
    for name, result, path in entries:
        frame = result_frame(result)
        with ScoreMapFile(path) as f:
            for k, ex in enumerate(chosen):
                if not result["per_image"].get("predicted") or result["per_image"]["predicted"][0] is None:
                    ex = dataclasses.replace(ex, predicted=None, score=None)
                item = build_item(f, annotations, ex, frame, group="random", k=k)
                item.title = f"{name} " + item.title
                items.append(item)
    return items


def _reports(out: Path, entries: list[tuple[str, str, dict, Path]], *, annotations, seed: int, story_page: dict):
    """Each method's report, the side-by-side overlays, the overlaid curves and the story page."""
    from wsolbench.atomic import write_text_atomic
    from wsolbench.report.build import build_report
    from wsolbench.report.compare import plot_comparison
    from wsolbench.report.overlays import render_overlay_grid
    from wsolbench.report.story import render_story_page

    try:
        import matplotlib  # noqa: F401
        curves = True
    except ImportError:
        curves = False
    report_dir = out / "report"
    links = {}
    for key, name, result, maps in entries:
        if key != "center-gaussian":
            build_report(result, report_dir / key, maps_path=maps, annotations=annotations, seed=seed, curves=curves)
            links[f"{name}: full report (curves, per-class table, size diagnostics, overlays)"] = f"{key}/index.html"
    items = _overlay_items([(name, r, maps) for _, name, r, maps in entries], annotations=annotations, seed=seed)
    grid = render_overlay_grid(items, report_dir / "side_by_side.png", ncols=len(items) // len(entries), tile=150)
    figures = {"The same test images: " + ", ".join(name for _, name, _, _ in entries) + " (rows)": grid.name}
    if curves:
        drawn = plot_comparison([r for _, _, r, _ in entries], [name for _, name, _, _ in entries], report_dir)
        for key in ("maxboxacc_v2", "pxap"):
            if key in drawn:
                figures[f"Overlaid curves: {key}"] = Path(drawn[key]["path"]).name
    page = render_story_page(figures=figures, links=links, **story_page)
    return write_text_atomic(report_dir / "index.html", page), grid


def _evaluate_floor(annotations, out: Path, protocol, spec: str, n_resamples: int, seed: int):
    from wsolbench.pipeline import evaluate_maps
    from wsolbench.sanity import write_sanity_maps

    maps = write_sanity_maps("center-gaussian", annotations, out / "center-gaussian.h5", protocol=protocol)
    result = evaluate_maps(maps, annotations, protocol, spec=spec, box_sizes=True, bootstrap=n_resamples, seed=seed)
    result.save(out / "center-gaussian.result.json")
    return maps, result


def _train_progress(enabled: bool, names: dict):
    """A rich progress display with one bar per method; yields ``progress(key, stage, done, total, msg)``."""
    from contextlib import contextmanager

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    @contextmanager
    def display():
        progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=stderr_console(), disable=not enabled)
        tasks = {key: progress.add_task(f"{name}: starting", total=None) for key, name in names.items()}

        def update(key, stage, done, total, message=""):
            text = f"{names[key]}: {stage}" + (f" ({message})" if message else "")
            progress.update(tasks[key], completed=done, total=total, description=text)

        with progress:
            yield update

    return display()


@click.command()
@click.option("--out", type=click.Path(file_okay=False), default="wsolbench-demo", show_default=True,
              help="Folder for the runs, the maps, the results and the report.")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True,
              help="Training seed (the data are the demo config's, seed 0); --seed K repeats the studies' seed-K runs.")
@click.option("--method", type=click.Choice(["has", "cutmix"]), default="has", show_default=True,
              help="The method trained beside CAM (HaS-mixed or CutMix: the two that spread the map in the studies).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--jobs", type=click.IntRange(1, 2), default=None,
              help="Methods trained at once, in separate processes (default: 2 on a machine with 2 CPUs or more).")
@click.option("--threads", type=click.IntRange(1), default=1, show_default=True,
              help="torch CPU threads per training process (1, as the studies: the same numbers as their runs).")
@click.option("--bootstrap", "n_resamples", type=click.IntRange(1, 100_000), default=1000, show_default=True,
              metavar="N", help="Bootstrap resamples of the intervals and paired tests.")
@click.option("--json", "as_json", is_flag=True, help="Print the results, tests and story as JSON instead of tables.")
@click.option("--indent", type=click.IntRange(0, 8), default=None, help=indent_option_help)
@click.option("--classes", type=click.IntRange(2, 25), default=None, hidden=True)
@click.option("--per-class", type=click.IntRange(2), default=None, hidden=True)
@click.option("--epochs", type=click.IntRange(1), default=None, hidden=True)
def demo(out, seed, method, device, jobs, threads, n_resamples, as_json, indent, classes, per_class, epochs):
    """Train CAM and a method that spreads the map (Hide-and-Seek) side by side on the synthetic
    benchmark, compare them with bootstrap intervals and a paired test against each other and the
    center-gaussian floor, and write a report (about 1.5 minutes on 2 CPU cores, no download)."""
    from wsolbench.atomic import write_text_atomic
    from wsolbench.cli.baseline import require_torch
    from wsolbench.outputs import check_outputs, output_folder

    check_outputs([output_folder(out, "--out")])
    require_torch()
    from wsolbench.metrics.result import EvaluationResult
    from wsolbench.nn import demo as lib
    from wsolbench.nn.runner import load_split
    from wsolbench.protocol import Protocol

    start, cpu_start = time.perf_counter(), time.process_time()
    out = Path(out)
    err = stderr_console()
    spec = lib.demo_spec(classes=classes, per_class=per_class)
    err.print(f"dataset {spec} (generated once into the wsolbench cache)", highlight=False)
    test_set = load_split(spec, "test")
    keys = ("cam", method)
    recipes = {key: lib.demo_recipe(key, seed=seed, epochs=epochs) for key in keys}
    names = {key: lib.METHODS[key][0] for key in keys}
    jobs = jobs or lib.default_jobs()
    with _train_progress(not as_json, names) as progress:
        runs = lib.train_side_by_side(recipes, spec=spec, out=out, device=device, jobs=jobs, threads=threads,
                                      progress=progress)
    results = {key: EvaluationResult.load(run.result_path) for key, run in runs.items()}
    protocol = Protocol.from_dict(results["cam"].protocol)
    floor_maps, floor = _evaluate_floor(test_set, out, protocol, spec, n_resamples, seed)
    for key, result in results.items():
        result.add_bootstrap(n_resamples, seed=seed)
        result.save(runs[key].result_path)
    cam, other = results["cam"], results[method]
    first, second = names["cam"], names[method]
    paired = {"label": second, "against": first, **cam.paired_test(other, n_resamples, seed=seed)}
    floor_tests = {name: {"label": name, "against": "center-gaussian", **floor.paired_test(results[key], n_resamples,
                                                                                          seed=seed)}
                   for key, name in names.items()}
    sizes = {names[k]: r.diagnostics.get("box_size") for k, r in results.items()}
    sentences = lib.story(first, second, paired, floor_tests, sizes)
    dicts = {key: r.to_dict() for key, r in results.items()}
    columns = [(first, dicts["cam"]), (second, dicts[method]), ("center-gaussian", floor.to_dict())]
    entries = [(key, names[key], dicts[key], runs[key].maps_path) for key in keys]
    entries.append(("center-gaussian", "center-gaussian", columns[2][1], floor_maps))
    story_page = {"title": f"wsolbench demo: {first} vs {second} on the synthetic benchmark",
                  "subtitle": f"{spec} · test split, {len(test_set)} images · training seed {seed}",
                  "sentences": sentences, "columns": columns, "paired": [paired, *floor_tests.values()]}
    page, grid = _reports(out, entries, annotations=test_set, seed=seed, story_page=story_page)
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu_start + lib.cpu_seconds_of_children()
    summary = {"spec": spec, "seed": seed, "methods": {k: lib.METHODS[k][1] for k in keys},
               "recipes": {k: r.to_dict() for k, r in recipes.items()},
               "seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1), "jobs": jobs, "threads_per_job": threads,
               "metrics": {first: dicts["cam"]["metrics"], second: dicts[method]["metrics"],
                           "center-gaussian": columns[2][1]["metrics"]},
               "intervals": {name: r.get("bootstrap") for name, r in columns},
               "paired": paired, "floor": floor_tests, "story": sentences,
               "runs": {k: {"seconds": round(run.seconds, 1), "cpu_seconds": round(run.cpu_seconds, 1)}
                        for k, run in runs.items()}}
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=1))
    if as_json:
        echo_json({**summary, "results": {name: r for name, r in columns}}, indent=indent)
    else:
        from wsolbench.cli.report import paired_table

        console = stdout_console()
        console.print(_comparison(columns, test_set.num_classes or 1))
        console.print(paired_table(paired))
        console.print("\n".join(sentences), highlight=False)
    err.print(f"report: {page} (side by side: {grid.name}); total {seconds:.0f} s, {cpu:.0f} s of CPU time",
              highlight=False)
