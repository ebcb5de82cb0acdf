"""Studies: grids of trained baselines on the synthetic benchmark, summarised as tables.

A study trains every (dataset, variant, seed) *cell* of its grid with the variant's recipe (the
small CNN, the demo's schedule), evaluates the maps in one or more ways, and reports each metric
as mean +- std (sample std, ddof 1) over the seeds. The seed is the training seed (initialisation,
data order, augmentation, the method's randomness); the dataset is the same for every seed.

Cells are shared between studies: ``OUT/runs/<dataset>/<variant>/seed<k>`` is an ordinary run
folder (``wsolbench baseline run`` layout), so ``thresholds`` and ``multicrop`` re-evaluate the
models ``methods`` trained, without retraining. Everything is cached in files: an interrupted study
continues where it stopped, and a finished one only rebuilds its tables.

Studies (:data:`STUDIES`):

* ``methods``: CAM vs HaS (16, 32, mixed) vs CutMix vs ADL vs ER, on the demo's synthetic config
  and on the same config with ``body_cue=0.5`` (bodies weakly tied to the class);
* ``thresholds``: GT-known loc at the fixed CAM thresholds 0.2 .. 0.5 (``cam2016``) vs the best
  threshold (MaxBoxAcc), for the same models;
* ``multicrop``: 10-crop test vs a single pass, for the same models (demo config);
* ``pooling``: GAP vs GMP heads, for CAM and HaS-mixed (demo config).

Example:
    >>> summary = run_study("pooling", out="runs/studies", seeds=(0, 1, 2), jobs=2)   # doctest: +SKIP
    >>> write_tables(summary, "baselines/results")                                   # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from concurrent.futures import as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wsolbench.errors import WsolbenchError

BACKBONE = "smallcnn"
DEMO_SPEC = "synthetic:?part=0.25&scale=0.25-0.45"
CAM2016_THRESHOLDS = (0.2, 0.3, 0.4, 0.5)


@dataclass(frozen=True)
class DatasetConfig:
    """A dataset of a study: ``key`` (folder name), ``label`` (table heading), ``spec``."""

    key: str
    label: str
    spec: str


@dataclass(frozen=True)
class Variant:
    """A table row's training setup: a method with options, the head's pooling, and recipe fields
    changed from the method's recipe (``recipe``, e.g. ``{"lr": 0.01}``)."""

    key: str
    label: str
    method: str
    options: dict = field(default_factory=dict, hash=False)
    pool: str = "gap"
    recipe: dict = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Metric:
    """A table column: ``key`` (in a cell's metrics), ``label`` (heading), ``digits``."""

    key: str
    label: str
    digits: int = 1


@dataclass(frozen=True)
class Row:
    """One table row: a variant evaluated one way (``single`` or ``multicrop``)."""

    variant: Variant
    evaluation: str = "single"

    @property
    def label(self) -> str:
        return self.variant.label + (" + 10-crop" if self.evaluation == "multicrop" else "")


@dataclass(frozen=True)
class Study:
    """A grid: sections (one per dataset) of rows, and the metric columns."""

    name: str
    title: str
    description: str
    datasets: tuple[DatasetConfig, ...]
    rows: tuple[Row, ...]
    columns: tuple[Metric, ...]


@dataclass(frozen=True)
class Cell:
    """One training run of a study grid."""

    dataset: DatasetConfig
    variant: Variant
    seed: int

    def run_dir(self, out) -> Path:
        return Path(out) / "runs" / self.dataset.key / self.variant.key / f"seed{self.seed}"


# --------------------------------------------------------------------------- the studies

DEMO = DatasetConfig("demo", "demo config (part 25%, objects 25-45% of the side; body carries no class cue)",
                     DEMO_SPEC)
BODY_CUE = DatasetConfig("bodycue", "demo config + body_cue=0.5 (half the bodies in their class's hue/texture)",
                         DEMO_SPEC + "&body_cue=0.5")

CAM = Variant("cam", "CAM", "cam")
HAS16 = Variant("has-16", "HaS-16", "has", {"patch_sizes": [16]})
HAS32 = Variant("has-32", "HaS-32", "has", {"patch_sizes": [32]})
HAS_MIX = Variant("has-mix", "HaS-mixed", "has", {"patch_sizes": [0, 16, 32, 44, 56]})
CUTMIX = Variant("cutmix", "CutMix", "cutmix")
ADL = Variant("adl", "ADL", "adl")
ER = Variant("er", "ER", "er")
CAM_GMP = Variant("cam-gmp", "CAM, GMP head", "cam", pool="gmp")
HAS_MIX_GMP = Variant("has-mix-gmp", "HaS-mixed, GMP head", "has", {"patch_sizes": [0, 16, 32, 44, 56]}, pool="gmp")
CAM_LR = Variant("cam-lr0.01", "CAM, lr 0.01", "cam", recipe={"lr": 0.01})
HAS_MIX_LR = Variant("has-mix-lr0.01", "HaS-mixed, lr 0.01", "has", {"patch_sizes": [0, 16, 32, 44, 56]},
                     recipe={"lr": 0.01})
CAM_GMP_LR = Variant("cam-gmp-lr0.01", "CAM, GMP head, lr 0.01", "cam", pool="gmp", recipe={"lr": 0.01})
HAS_MIX_GMP_LR = Variant("has-mix-gmp-lr0.01", "HaS-mixed, GMP head, lr 0.01", "has",
                         {"patch_sizes": [0, 16, 32, 44, 56]}, pool="gmp", recipe={"lr": 0.01})
METHOD_VARIANTS = (CAM, HAS16, HAS32, HAS_MIX, CUTMIX, ADL, ER)

TOP1 = Metric("top1_cls", "top-1 cls")
GTK = Metric("gt_known_cam2016_0.2", "GT-known loc (cam2016, 0.2)")
V2 = Metric("maxboxacc_v2", "MaxBoxAccV2")
PXAP = Metric("pxap", "PxAP")
BODY = Metric("body_pxap", "body PxAP")

STUDIES = {
    "methods": Study(
        "methods", "Study 1: CAM vs HaS vs CutMix vs ADL vs ER",
        "Each method trained with its recipe (small CNN, the demo's schedule), 3 training seeds. "
        "'body PxAP' = PxAP of the object against the background with the class-defining part's pixels "
        "ignored: higher = the map covers the rest of the object, not only the part.",
        (DEMO, BODY_CUE), tuple(Row(v) for v in METHOD_VARIANTS), (TOP1, GTK, V2, PXAP, BODY)),
    "thresholds": Study(
        "thresholds", "Study 2: fixed CAM threshold vs the best threshold",
        "GT-known loc (largest region, IoU 50) of the same maps at the cam2016 protocol's fixed thresholds, "
        "and at the best threshold of the grid (MaxBoxAcc, wsoleval); no retraining.",
        (DEMO, BODY_CUE), tuple(Row(v) for v in METHOD_VARIANTS),
        tuple(Metric(f"gt_known_cam2016_{t:g}", f"fixed {t:g}") for t in CAM2016_THRESHOLDS)
        + (Metric("maxboxacc", "best (MaxBoxAcc)"), Metric("best_threshold", "best threshold", 2))),
    "multicrop": Study(
        "multicrop", "Study 3: 10-crop test vs a single pass",
        "The same trained models evaluated with one pass on the whole image and with the 10-crop test "
        "(crops of 87.5% of the side: 4 corners + centre and their mirrors; maps averaged in the image).",
        (DEMO,), tuple(Row(v, e) for v in METHOD_VARIANTS for e in ("single", "multicrop")),
        (TOP1, GTK, V2, PXAP)),
    "pooling": Study(
        "pooling", "Study 4: global average (GAP) vs global max (GMP) pooling",
        "The head's pooling, for CAM and HaS-mixed (the Hide-and-Seek paper's comparison), with the recipe's "
        "learning rate (0.1) and, because GMP heads diverge at that rate in this schedule, at lr 0.01 too.",
        (DEMO,), (Row(CAM), Row(CAM_GMP), Row(CAM_LR), Row(CAM_GMP_LR), Row(HAS_MIX), Row(HAS_MIX_GMP),
                  Row(HAS_MIX_LR), Row(HAS_MIX_GMP_LR)),
        (TOP1, GTK, V2, PXAP, BODY)),
}


def get_study(name: str) -> Study:
    if name not in STUDIES:
        raise WsolbenchError(f"unknown study {name!r}; studies: {', '.join(STUDIES)} (or all)")
    return STUDIES[name]


def study_cells(study: Study, seeds) -> list[tuple[Cell, tuple[str, ...]]]:
    """Every ``(cell, evaluations)`` the study needs, in grid order."""
    out: dict[Cell, list[str]] = {}
    for dataset in study.datasets:
        for row in study.rows:
            for seed in seeds:
                evals = out.setdefault(Cell(dataset, row.variant, int(seed)), [])
                if row.evaluation not in evals:
                    evals.append(row.evaluation)
    return [(cell, tuple(evals)) for cell, evals in out.items()]


# --------------------------------------------------------------------------- one cell

def cell_recipe(cell: Cell, overrides: dict | None = None):
    """The variant's packaged recipe with the cell's seed, pooling and method options (and
    ``overrides``, e.g. ``{"epochs": 1}`` for a quick check)."""
    from wsolbench.nn.recipe import resolve_recipe

    recipe = resolve_recipe(cell.variant.method, dataset="synthetic", backbone=BACKBONE)
    changes = {**cell.variant.recipe, **(overrides or {})}
    return recipe.replace(seed=cell.seed, pool=cell.variant.pool, workers=0,
                          method_options={**recipe.method_options, **cell.variant.options}, **changes)


def _evaluation_options(evaluation: str):
    from wsolbench.nn.multicrop import MultiCrop
    from wsolbench.nn.runner import EvalOptions

    return EvalOptions(multicrop=MultiCrop(ratio=0.875) if evaluation == "multicrop" else None)


def _load_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _save_json(path: Path, data) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def body_pxap(maps_path, annotations, protocol) -> float:
    """PxAP of the object's body against the background, the class-defining part ignored.

    The same pixel precision-recall as PxAP (synthetic data), with the part's pixels marked ignore
    (255): it measures whether a map ranks the rest of the object above the background, i.e.
    whether it spreads beyond the discriminative part. Both masks at the protocol's frame.
    """
    from wsolbench.datasets.synthetic import load_part_mask
    from wsolbench.metrics.gt import gt_mask
    from wsolbench.metrics.masks import PixelAP
    from wsolbench.metrics.resize import postprocess_map, resize_nearest
    from wsolbench.scoremaps import ScoreMapFile

    accumulator = PixelAP.from_protocol(protocol)
    with ScoreMapFile(maps_path) as f:
        for batch in f.iter_batches(256):
            for image_id, raw in zip(batch.image_ids, batch.maps):
                cam, _ = postprocess_map(np.asarray(raw), protocol, normalized=f.normalized, image_id=image_id)
                mask = gt_mask(annotations[image_id].masks.load(), protocol.resolution)
                part = resize_nearest(load_part_mask(annotations, image_id).astype(np.float32),
                                      protocol.resolution) > 0.5
                mask[part] = 255
                accumulator.update(cam, mask, image_id=image_id)
    return float(accumulator.compute().pxap)


def _cam2016(maps_path: Path, annotations, threshold: float, spec: str) -> float:
    from wsolbench.pipeline import evaluate_maps
    from wsolbench.protocol import get_protocol

    result = evaluate_maps(maps_path, annotations, get_protocol("cam2016", threshold=threshold), spec=spec)
    return float(result.metrics["gt_known_loc"])


MEASURED = ("top1_cls", "maxboxacc", "maxboxacc_v2", "pxap", "top1_loc", "best_threshold", "body_pxap",
            "train_seconds") + tuple(f"gt_known_cam2016_{t:g}" for t in CAM2016_THRESHOLDS)


def _measure_missing(metrics: dict, run_dir: Path, maps_name: str, result: dict, annotations, spec: str) -> None:
    from wsolbench.protocol import Protocol

    metrics.update({k: result["metrics"][k] for k in ("top1_cls", "maxboxacc", "maxboxacc_v2", "pxap", "top1_loc")})
    metrics["best_threshold"] = result["box"]["largest"]["best_threshold"]["50"]
    for t in CAM2016_THRESHOLDS:
        if f"gt_known_cam2016_{t:g}" not in metrics:
            metrics[f"gt_known_cam2016_{t:g}"] = _cam2016(run_dir / maps_name, annotations, t, spec)
    if "body_pxap" not in metrics:
        metrics["body_pxap"] = body_pxap(run_dir / maps_name, annotations, Protocol.from_dict(result["protocol"]))
    log = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines() if line.strip()]
    metrics["train_seconds"] = float(sum(e["seconds"] for e in log))


def measure(run_dir: Path, evaluation: str, annotations, spec: str) -> dict:
    """The metrics (:data:`MEASURED`) of one evaluated cell, cached in ``metrics.<evaluation>.json``
    (recomputed when the result is newer, completed when a metric is missing)."""
    cache = run_dir / f"metrics.{evaluation}.json"
    maps_name, result_name = _evaluation_options(evaluation).file_names()
    cached = None
    if cache.exists() and cache.stat().st_mtime >= (run_dir / result_name).stat().st_mtime:
        cached = _load_json(cache)
    if cached is not None and all(k in cached for k in MEASURED):
        return cached
    metrics = {k: v for k, v in (cached or {}).items() if k in MEASURED}
    _measure_missing(metrics, run_dir, maps_name, _load_json(run_dir / result_name), annotations, spec)
    _save_json(cache, metrics)
    return metrics


def _is_done(run_dir: Path, recipe, result_name: str) -> bool:
    """The run folder holds a result of exactly this recipe (a changed recipe, e.g. more epochs,
    resumes training: the runner checks the checkpoint)."""
    written = run_dir / "recipe.toml"
    return (run_dir / result_name).exists() and written.exists() and written.read_text(encoding="utf-8") == \
        recipe.to_toml()


def run_cell(cell: Cell, evaluations: tuple[str, ...], out, *, threads: int | None = None,
             overrides: dict | None = None) -> dict:
    """Train (or resume) a cell, evaluate it each way and measure it; returns ``{evaluation: metrics}``.

    Safe to call again: finished trainings, maps and measurements are read back from the run folder.
    """
    import torch

    from wsolbench.nn.runner import load_split, run_trained

    if threads:
        torch.set_num_threads(threads)
    run_dir = cell.run_dir(out)
    recipe = cell_recipe(cell, overrides)
    annotations = load_split(cell.dataset.spec, "test")
    metrics = {}
    for evaluation in evaluations:
        options = _evaluation_options(evaluation)
        if not _is_done(run_dir, recipe, options.file_names()[1]):
            run_trained(recipe, spec=cell.dataset.spec, out_dir=run_dir, device="cpu", resume=True,
                        evaluation=options)
        metrics[evaluation] = measure(run_dir, evaluation, annotations, cell.dataset.spec)
    return metrics


def _run_cell_job(args) -> tuple[int, dict, float]:
    index, cell, evaluations, out, threads, overrides = args
    start = time.perf_counter()
    return index, run_cell(cell, evaluations, out, threads=threads, overrides=overrides), time.perf_counter() - start


# --------------------------------------------------------------------------- a whole study

def run_study(study: str | Study, *, out, seeds=(0, 1, 2), jobs: int = 1, threads: int | None = 1,
              progress: Callable[[int, int, str], None] | None = None, overrides: dict | None = None) -> dict:
    """Run (or finish) a study and summarise it.

    Args:
        study: a key of :data:`STUDIES`, or a :class:`Study`.
        out: the studies folder (run folders under ``out/runs``).
        seeds: training seeds (3 for mean +- std).
        jobs: cells trained in parallel (processes).
        threads: torch CPU threads per process.
        progress: ``progress(done_cells, total_cells, message)``.
        overrides: recipe fields changed in every cell (e.g. ``{"epochs": 2}``; the published
            tables use the recipes as they are).

    Returns:
        The summary (see :func:`summarize`), with ``wall_seconds_this_call`` (small when every cell
        was already done), ``train_seconds_total`` (the training time of the study's cells, summed)
        and ``machine`` (CPUs, jobs, threads per job).
    """
    from wsolbench.datasets import load_annotations

    study = get_study(study) if isinstance(study, str) else study
    start = time.perf_counter()
    for dataset in study.datasets:  # generate each dataset once, before the workers start
        load_annotations(dataset.spec, split="test")
    cells = study_cells(study, seeds)
    results: dict[Cell, dict] = {}
    args = [(i, cell, evals, os.fspath(out), threads, overrides) for i, (cell, evals) in enumerate(cells)]
    for done, (index, metrics, seconds) in enumerate(_map_jobs(args, jobs), 1):
        cell = cells[index][0]
        results[cell] = metrics
        if progress is not None:
            progress(done, len(cells), f"{cell.dataset.key}/{cell.variant.key}/seed{cell.seed} ({seconds:.0f}s)")
    summary = summarize(study, results, seeds)
    summary["wall_seconds_this_call"] = round(time.perf_counter() - start, 1)
    summary["train_seconds_total"] = round(sum(m["train_seconds"] for r in results.values()
                                               for m in list(r.values())[:1]), 1)
    summary["machine"] = {"cpus": os.cpu_count(), "jobs": jobs, "threads_per_job": threads}
    return summary


def _map_jobs(args, jobs: int):
    if jobs <= 1:
        yield from map(_run_cell_job, args)
        return
    from wsolbench.interrupts import process_pool

    with process_pool(jobs, context="spawn") as pool:
        futures = [pool.submit(_run_cell_job, a) for a in args]
        for future in as_completed(futures):
            yield future.result()


def _mean_std(values: list[float]) -> tuple[float, float]:
    mean = float(np.mean(values))
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return mean, std


def summarize(study: Study, results: dict[Cell, dict], seeds) -> dict:
    """Aggregate cell metrics: ``sections[d]["rows"][r]["cells"][metric] = {mean, std, values}``."""
    sections = []
    for dataset in study.datasets:
        rows = []
        for row in study.rows:
            cells = {}
            for metric in study.columns:
                values = [results[Cell(dataset, row.variant, int(s))][row.evaluation][metric.key] for s in seeds]
                mean, std = _mean_std(values)
                cells[metric.key] = {"mean": mean, "std": std, "values": values}
            train = [results[Cell(dataset, row.variant, int(s))][row.evaluation]["train_seconds"] for s in seeds]
            rows.append({"label": row.label, "variant": row.variant.key, "method": row.variant.method,
                         "options": row.variant.options, "pool": row.variant.pool, "recipe": row.variant.recipe,
                         "evaluation": row.evaluation,
                         "train_seconds_mean": float(np.mean(train)), "cells": cells})
        sections.append({"dataset": dataset.key, "label": dataset.label, "spec": dataset.spec, "rows": rows})
    return {"study": study.name, "title": study.title, "description": study.description,
            "seeds": [int(s) for s in seeds],
            "columns": [{"key": m.key, "label": m.label, "digits": m.digits} for m in study.columns],
            "sections": sections}


# --------------------------------------------------------------------------- tables

def _fmt(cell: dict, digits: int) -> str:
    if cell["mean"] is None or (isinstance(cell["mean"], float) and math.isnan(cell["mean"])):
        return "-"
    return f"{cell['mean']:.{digits}f} ± {cell['std']:.{digits}f}"


def to_markdown(summary: dict, *, command: str | None = None) -> str:
    """The summary as markdown: one table per dataset, cells ``mean ± std`` over the seeds."""
    cols = summary["columns"]
    lines = [f"### {summary['title']}", "", summary["description"], ""]
    if command:
        lines += [f"Command: `{command}`", ""]
    for section in summary["sections"]:
        seeds = ", ".join(str(s) for s in summary["seeds"])
        lines += [f"**{section['label']}** (`{section['spec']}`), mean ± std over seeds {seeds}:", ""]
        lines.append("| method | " + " | ".join(c["label"] for c in cols) + " |")
        lines.append("| --- | " + " | ".join("---:" for _ in cols) + " |")
        for row in section["rows"]:
            lines.append(f"| {row['label']} | "
                         + " | ".join(_fmt(row["cells"][c["key"]], c["digits"]) for c in cols) + " |")
        lines.append("")
    return "\n".join(lines)


def to_csv_rows(summary: dict) -> list[dict]:
    """Long format: one row per (dataset, table row, metric) with mean, std and the seeds' values."""
    out = []
    for section in summary["sections"]:
        for row in section["rows"]:
            for col in summary["columns"]:
                c = row["cells"][col["key"]]
                out.append({"study": summary["study"], "dataset": section["dataset"], "row": row["label"],
                            "method": row["method"], "evaluation": row["evaluation"], "metric": col["key"],
                            "mean": c["mean"], "std": c["std"],
                            "values": " ".join(f"{v:.6g}" for v in c["values"])})
    return out


def write_tables(summary: dict, folder, *, command: str | None = None) -> list[Path]:
    """Write ``study-NAME.md``, ``.csv`` and ``.json`` into ``folder``; returns the paths."""
    import csv

    from wsolbench.outputs import staged_folder

    folder = Path(folder)
    name = f"study-{summary['study']}"
    with staged_folder(folder) as stage:        # the three tables appear together or not at all
        (stage / f"{name}.md").write_text(to_markdown(summary, command=command) + "\n", encoding="utf-8")
        rows = to_csv_rows(summary)
        with open(stage / f"{name}.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        (stage / f"{name}.json").write_text(json.dumps({**summary, "command": command}, indent=1) + "\n",
                                            encoding="utf-8")
    return [folder / f"{name}{suffix}" for suffix in (".md", ".csv", ".json")]
