"""Studies: grids of trained baselines, summarised as tables.

A study trains every (dataset, variant, seed) *cell* of its grid with the variant's recipe (on the
synthetic benchmark: the small CNN, the demo's schedule; on a real dataset: a packaged recipe per
variant), evaluates the maps in one or more ways, and reports each metric as mean +- std (sample
std, ddof 1) over the seeds. The seed is the training seed (initialisation, data order,
augmentation, the method's randomness); the dataset is the same for every seed.

Cells are shared between studies: ``OUT/runs/<dataset>/<variant>/seed<k>`` is an ordinary run
folder (``wsolbench baseline run`` layout), so ``thresholds`` and ``multicrop`` re-evaluate the
models ``methods`` trained, without retraining. Everything is cached in files: an interrupted study
continues where it stopped, and a finished one only rebuilds its tables.

Studies (:data:`STUDIES`):

* ``methods``: CAM vs HaS (16, 32, mixed) vs CutMix vs ADL vs ACoL vs SPG vs ER (the reference's six
  methods plus ER), on the demo's synthetic config
  and on the same config with ``body_cue=0.5`` (bodies weakly tied to the class);
* ``thresholds``: GT-known loc at the fixed CAM thresholds 0.2 .. 0.5 (``cam2016``) vs the best
  threshold (MaxBoxAcc), for the same models;
* ``multicrop``: 10-crop test vs a single pass, for the same models (demo config);
* ``pooling``: GAP vs GMP heads, for CAM and HaS-mixed (demo config);
* ``has-tinyimagenet``, ``has-ilsvrc`` (:mod:`wsolbench.nn.studies_has`): the Hide-and-Seek
  reproduction on Tiny ImageNet and the HaS paper's own setting on ILSVRC, on the dataset the user
  names (``--dataset``), on GPUs, with the published numbers as a reference column.

A real-data study's cost is estimated before it starts from the throughput measured on the device
(:mod:`wsolbench.nn.study_cost`); with ``jobs > 1`` on CUDA each job process gets its own GPU.

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
    """A dataset of a study: ``key`` (folder name), ``label`` (table heading), ``spec`` (``None`` until a
    real-data study is bound to the user's dataset) and adapter ``options`` (``metadata=...``)."""

    key: str
    label: str
    spec: str | None
    options: dict = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Variant:
    """A table row's training setup: a method with options, the head's pooling, and recipe fields
    changed from the method's recipe (``recipe``, e.g. ``{"lr": 0.01}``); or a packaged recipe by
    name (``recipe_name``), as it is."""

    key: str
    label: str
    method: str
    options: dict = field(default_factory=dict, hash=False)
    pool: str = "gap"
    recipe: dict = field(default_factory=dict, hash=False)
    recipe_name: str | None = None


@dataclass(frozen=True)
class Metric:
    """A table column: ``key`` (in a cell's metrics), ``label`` (heading), ``digits``; ``table``
    names the table it belongs to (a study may print several); ``reference`` columns hold the
    published numbers (:attr:`Study.reference`), not measurements."""

    key: str
    label: str
    digits: int = 1
    table: str = ""
    reference: bool = False


@dataclass(frozen=True)
class Row:
    """One table row: a variant evaluated one way (``single``, ``multicrop`` = the 10-crop test with
    crops of 87.5% of the side, ``multicrop@R`` = crops of R of the side); ``group`` is the heading
    of the rows it belongs to (e.g. the network)."""

    variant: Variant
    evaluation: str = "single"
    group: str = ""

    @property
    def label(self) -> str:
        return self.variant.label + (" + 10-crop" if self.evaluation.startswith("multicrop") else "")


@dataclass(frozen=True)
class Study:
    """A grid: sections (one per dataset) of rows, and the metric columns.

    Attributes:
        family: the dataset family the study runs on; ``synthetic`` studies carry their dataset
            specs, the others take the user's (:func:`bind_dataset`).
        thresholds: fixed CAM thresholds of the ``cam2016`` columns (and of their best).
        seeds: default number of training seeds.
        device: default device.
        reference: ``{(variant key, evaluation): {metric key: published value}}``.
        reference_source: where the reference numbers come from.
    """

    name: str
    title: str
    description: str
    datasets: tuple[DatasetConfig, ...]
    rows: tuple[Row, ...]
    columns: tuple[Metric, ...]
    family: str = "synthetic"
    thresholds: tuple[float, ...] = (0.2, 0.3, 0.4, 0.5)
    seeds: int = 3
    device: str = "cpu"
    reference: dict = field(default_factory=dict, hash=False, compare=False)
    reference_source: str = ""


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
ACOL = Variant("acol", "ACoL", "acol")
SPG = Variant("spg", "SPG", "spg")
ER = Variant("er", "ER", "er")
CAM_GMP = Variant("cam-gmp", "CAM, GMP head", "cam", pool="gmp")
HAS_MIX_GMP = Variant("has-mix-gmp", "HaS-mixed, GMP head", "has", {"patch_sizes": [0, 16, 32, 44, 56]}, pool="gmp")
CAM_LR = Variant("cam-lr0.01", "CAM, lr 0.01", "cam", recipe={"lr": 0.01})
HAS_MIX_LR = Variant("has-mix-lr0.01", "HaS-mixed, lr 0.01", "has", {"patch_sizes": [0, 16, 32, 44, 56]},
                     recipe={"lr": 0.01})
CAM_GMP_LR = Variant("cam-gmp-lr0.01", "CAM, GMP head, lr 0.01", "cam", pool="gmp", recipe={"lr": 0.01})
HAS_MIX_GMP_LR = Variant("has-mix-gmp-lr0.01", "HaS-mixed, GMP head, lr 0.01", "has",
                         {"patch_sizes": [0, 16, 32, 44, 56]}, pool="gmp", recipe={"lr": 0.01})
METHOD_VARIANTS = (CAM, HAS16, HAS32, HAS_MIX, CUTMIX, ADL, ACOL, SPG, ER)

TOP1 = Metric("top1_cls", "top-1 cls")
GTK = Metric("gt_known_cam2016_0.2", "GT-known loc (cam2016, 0.2)")
V2 = Metric("maxboxacc_v2", "MaxBoxAccV2")
PXAP = Metric("pxap", "PxAP")
BODY = Metric("body_pxap", "body PxAP")

STUDIES = {
    "methods": Study(
        "methods", "Study 1: CAM vs HaS vs CutMix vs ADL vs ACoL vs SPG vs ER",
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


def bind_dataset(study: Study, spec: str | None, options: dict | None = None) -> Study:
    """The study on the dataset ``spec`` with adapter ``options`` (required by real-data studies, whose
    family it must be; refused by synthetic ones, which carry their own datasets)."""
    import dataclasses

    if study.family == "synthetic":
        if spec or options:
            raise WsolbenchError(f"study {study.name} runs on the synthetic benchmark it defines; --dataset is for "
                                 f"{', '.join(n for n, s in STUDIES.items() if s.family != 'synthetic')}")
        return study
    if not spec:
        raise WsolbenchError(f"study {study.name} needs --dataset {study.family}:PATH (the {study.family} dataset "
                             "to train and evaluate on)")
    from wsolbench.nn.runner import family_of_spec

    family = family_of_spec(spec)
    if family != study.family:
        raise WsolbenchError(f"study {study.name} runs on {study.family}, but --dataset {spec} is "
                             f"{family or 'no known dataset family'}; give --dataset {study.family}:PATH")
    datasets = tuple(dataclasses.replace(d, spec=spec, options=dict(options or {})) for d in study.datasets)
    return dataclasses.replace(study, datasets=datasets)


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
    ``overrides``, e.g. ``{"epochs": 1}`` for a quick check). A variant naming its recipe
    (``recipe_name``) gets it as it is but for the seed and the overrides."""
    from wsolbench.nn.recipe import get_recipe, resolve_recipe

    if cell.variant.recipe_name:
        return get_recipe(cell.variant.recipe_name).replace(seed=cell.seed, **(overrides or {}))
    recipe = resolve_recipe(cell.variant.method, dataset="synthetic", backbone=BACKBONE)
    changes = {**cell.variant.recipe, **(overrides or {})}
    return recipe.replace(seed=cell.seed, pool=cell.variant.pool, workers=0,
                          method_options={**recipe.method_options, **cell.variant.options}, **changes)


def _evaluation_options(evaluation: str):
    """``single``, ``multicrop`` (10 crops of 87.5% of the side) or ``multicrop@RATIO``."""
    from wsolbench.nn.multicrop import MultiCrop
    from wsolbench.nn.runner import EvalOptions

    if not evaluation.startswith("multicrop"):
        return EvalOptions()
    _, _, ratio = evaluation.partition("@")
    return EvalOptions(multicrop=MultiCrop(ratio=float(ratio) if ratio else 0.875))


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
                mask = gt_mask(annotations[image_id].masks.load_at(protocol.resolution), protocol.resolution)
                part = resize_nearest(load_part_mask(annotations, image_id).astype(np.float32),
                                      protocol.resolution) > 0.5
                mask[part] = 255
                accumulator.update(cam, mask, image_id=image_id)
    return float(accumulator.compute().pxap)


def _cam2016(maps_path: Path, annotations, threshold: float, spec: str, workers: int = 1) -> dict:
    """GT-known loc, top-1 loc and top-1 cls of the maps at one fixed threshold (``cam2016``)."""
    from wsolbench.pipeline import evaluate_maps
    from wsolbench.protocol import get_protocol

    result = evaluate_maps(maps_path, annotations, get_protocol("cam2016", threshold=threshold), spec=spec,
                           workers=workers)
    return {k: result.metrics[k] for k in ("gt_known_loc", "top1_loc", "top1_cls")}


#: Metrics read from the run's result (the recipe's protocol, wsoleval), measured per fixed threshold
#: (``gt_known_cam2016_T``, ``top1_loc_cam2016_T``), or computed (``body_pxap``, ``train_seconds``).
WSOLEVAL_KEYS = ("top1_cls", "maxboxacc", "maxboxacc_v2", "pxap", "top1_loc")
SYNTHETIC_MEASURED = WSOLEVAL_KEYS + ("best_threshold", "body_pxap", "train_seconds") + tuple(
    f"gt_known_cam2016_{t:g}" for t in CAM2016_THRESHOLDS)
MEASURED = SYNTHETIC_MEASURED  # what a synthetic study measures (the name earlier versions used)
#: Columns derived from the fixed-threshold ones: the best threshold of the study's (by GT-known loc,
#: the smallest on ties) and the GT-known / top-1 loc there.
FIXED_BEST_KEYS = ("fixed_best_threshold", "gt_known_fixed_best", "top1_loc_fixed_best")


def _fixed_key(key: str) -> tuple[str, float] | None:
    for prefix in ("gt_known_cam2016_", "top1_loc_cam2016_"):
        if key.startswith(prefix):
            return prefix, float(key[len(prefix):])
    return None


def _measure_key(key: str, metrics: dict, run_dir: Path, maps_name: str, result: dict, annotations, spec: str,
                 workers: int) -> None:
    from wsolbench.protocol import Protocol

    if key in WSOLEVAL_KEYS:
        metrics[key] = result["metrics"].get(key)
    elif key == "best_threshold":
        metrics[key] = result["box"]["largest"]["best_threshold"]["50"]
    elif _fixed_key(key):
        t = _fixed_key(key)[1]
        at = _cam2016(run_dir / maps_name, annotations, t, spec, workers)
        metrics[f"gt_known_cam2016_{t:g}"], metrics[f"top1_loc_cam2016_{t:g}"] = at["gt_known_loc"], at["top1_loc"]
    elif key == "body_pxap":
        metrics[key] = body_pxap(run_dir / maps_name, annotations, Protocol.from_dict(result["protocol"]))
    elif key == "train_seconds":
        log = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines() if line.strip()]
        metrics[key] = float(sum(e["seconds"] for e in log))
    else:
        raise WsolbenchError(f"study metric {key!r} cannot be measured")


def measure(run_dir: Path, evaluation: str, annotations, spec: str, keys=SYNTHETIC_MEASURED, *,
            workers: int = 1) -> dict:
    """The metrics ``keys`` of one evaluated cell, cached in ``metrics.<evaluation>.json``
    (recomputed when the result is newer, completed when a metric is missing); ``workers``
    processes evaluate the fixed thresholds."""
    cache = run_dir / f"metrics.{evaluation}.json"
    maps_name, result_name = _evaluation_options(evaluation).file_names()
    cached = None
    if cache.exists() and cache.stat().st_mtime >= (run_dir / result_name).stat().st_mtime:
        cached = _load_json(cache)
    metrics = dict(cached or {})
    missing = [k for k in keys if k not in metrics]
    if not missing:
        return metrics
    result = _load_json(run_dir / result_name)
    for key in missing:
        if key not in metrics:
            _measure_key(key, metrics, run_dir, maps_name, result, annotations, spec, workers)
    _save_json(cache, metrics)
    return metrics


def study_keys(study: Study) -> tuple[str, ...]:
    """What a study's cells must measure: its measured columns (the fixed thresholds behind a
    best-of-thresholds column) and the training time."""
    keys = []
    for metric in study.columns:
        if metric.reference:
            continue
        if metric.key in FIXED_BEST_KEYS:
            keys += [f"{p}{t:g}" for t in study.thresholds for p in ("gt_known_cam2016_", "top1_loc_cam2016_")]
        else:
            keys.append(metric.key)
    return tuple(dict.fromkeys(keys + ["train_seconds"]))


def with_fixed_best(metrics: dict, thresholds) -> dict:
    """``metrics`` plus :data:`FIXED_BEST_KEYS` when the fixed-threshold values are there."""
    if not all(f"gt_known_cam2016_{t:g}" in metrics for t in thresholds):
        return metrics
    best = max(thresholds, key=lambda t: (metrics[f"gt_known_cam2016_{t:g}"], -t))
    return {**metrics, "fixed_best_threshold": best, "gt_known_fixed_best": metrics[f"gt_known_cam2016_{best:g}"],
            "top1_loc_fixed_best": metrics.get(f"top1_loc_cam2016_{best:g}")}


def _is_done(run_dir: Path, recipe, result_name: str) -> bool:
    """The run folder holds a result of exactly this recipe (a changed recipe, e.g. more epochs,
    resumes training: the runner checks the checkpoint)."""
    written = run_dir / "recipe.toml"
    return (run_dir / result_name).exists() and written.exists() and written.read_text(encoding="utf-8") == \
        recipe.to_toml()


def cell_is_done(cell: Cell, evaluations, out, overrides: dict | None = None) -> bool:
    """Whether every evaluation of the cell has its result (nothing to train or extract)."""
    recipe = cell_recipe(cell, overrides)
    return all(_is_done(cell.run_dir(out), recipe, _evaluation_options(e).file_names()[1]) for e in evaluations)


@dataclass(frozen=True)
class CellJob:
    """How the cells of a study run: the device, torch CPU threads, recipe overrides, the metrics to
    measure and the evaluation processes."""

    out: str
    device: str = "cpu"
    threads: int | None = 1
    overrides: dict | None = None
    keys: tuple[str, ...] = SYNTHETIC_MEASURED
    eval_workers: int = 1


def run_cell(cell: Cell, evaluations: tuple[str, ...], out, *, threads: int | None = None,
             overrides: dict | None = None, device: str = "cpu", keys=SYNTHETIC_MEASURED,
             eval_workers: int = 1) -> dict:
    """Train (or resume) a cell, evaluate it each way and measure it; returns ``{evaluation: metrics}``.

    Safe to call again: finished trainings, maps and measurements are read back from the run folder.
    """
    import torch

    from wsolbench.nn.runner import load_split, run_trained

    if threads:
        torch.set_num_threads(threads)
    run_dir = cell.run_dir(out)
    recipe = cell_recipe(cell, overrides)
    annotations = load_split(cell.dataset.spec, recipe.eval_split, **cell.dataset.options)
    metrics = {}
    for evaluation in evaluations:
        options = _evaluation_options(evaluation)
        if not _is_done(run_dir, recipe, options.file_names()[1]):
            run_trained(recipe, spec=cell.dataset.spec, out_dir=run_dir, device=device, resume=True,
                        evaluation=options, eval_workers=eval_workers, dataset_options=cell.dataset.options)
        metrics[evaluation] = measure(run_dir, evaluation, annotations, cell.dataset.spec, keys,
                                      workers=eval_workers)
    return metrics


def _run_cell_job(args) -> tuple[int, dict, float]:
    index, cell, evaluations, job = args
    start = time.perf_counter()
    metrics = run_cell(cell, evaluations, job.out, threads=job.threads, overrides=job.overrides, device=job.device,
                       keys=job.keys, eval_workers=job.eval_workers)
    return index, metrics, time.perf_counter() - start


# --------------------------------------------------------------------------- a whole study

def run_study(study: str | Study, *, out, seeds=(0, 1, 2), jobs: int = 1, threads: int | None = 1,
              progress: Callable[[int, int, str], None] | None = None, overrides: dict | None = None,
              device: str | None = None, eval_workers: int = 1,
              on_estimate: Callable[[dict], None] | None = None) -> dict:
    """Run (or finish) a study and summarise it.

    Args:
        study: a key of :data:`STUDIES`, or a :class:`Study` (a real-data study bound to its dataset
            with :func:`bind_dataset`).
        out: the studies folder (run folders under ``out/runs``).
        seeds: training seeds (3 for mean +- std).
        jobs: cells trained in parallel (processes; on CUDA one GPU per process).
        threads: torch CPU threads per process.
        progress: ``progress(done_cells, total_cells, message)``.
        overrides: recipe fields changed in every cell (e.g. ``{"epochs": 2}``; the published
            tables use the recipes as they are).
        device: ``cpu`` or ``cuda`` (default: the study's).
        eval_workers: processes of each evaluation.
        on_estimate: when given, the cost of the cells left is measured and estimated before any
            cell runs (:func:`wsolbench.nn.study_cost.estimate_study`) and passed to it.

    Returns:
        The summary (see :func:`summarize`), with ``wall_seconds_this_call`` (small when every cell
        was already done), ``train_seconds_total`` (the training time of the study's cells, summed),
        ``machine`` (CPUs, jobs, threads per job, device) and ``estimate`` (or ``None``).
    """
    from wsolbench.nn.runner import load_split

    study = get_study(study) if isinstance(study, str) else study
    if any(d.spec is None for d in study.datasets):
        raise WsolbenchError(f"study {study.name} runs on a dataset you name: bind it first (--dataset "
                             f"{study.family}:PATH)")
    device = device or study.device
    start = time.perf_counter()
    cells = study_cells(study, seeds)
    for dataset in study.datasets:  # generate or check each dataset once, before the workers start
        recipe = cell_recipe(next(c for c, _ in cells if c.dataset == dataset), overrides)
        load_split(dataset.spec, recipe.eval_split, **dataset.options)
    job = CellJob(out=os.fspath(out), device=device, threads=threads, overrides=overrides, keys=study_keys(study),
                  eval_workers=eval_workers)
    estimate = None
    if on_estimate is not None:
        from wsolbench.nn.study_cost import estimate_study

        estimate = estimate_study(cells, job)
        on_estimate(estimate)
    results: dict[Cell, dict] = {}
    args = [(i, cell, evals, job) for i, (cell, evals) in enumerate(cells)]
    for done, (index, metrics, seconds) in enumerate(_map_jobs(args, jobs, device), 1):
        cell = cells[index][0]
        results[cell] = metrics
        if progress is not None:
            progress(done, len(cells), f"{cell.dataset.key}/{cell.variant.key}/seed{cell.seed} ({seconds:.0f}s)")
    summary = summarize(study, results, seeds)
    summary["wall_seconds_this_call"] = round(time.perf_counter() - start, 1)
    summary["train_seconds_total"] = round(sum(m["train_seconds"] for r in results.values()
                                               for m in list(r.values())[:1]), 1)
    summary["machine"] = {"cpus": os.cpu_count(), "jobs": jobs, "threads_per_job": threads, "device": device}
    summary["estimate"] = estimate
    return summary


def _gpu_ids(jobs: int) -> list[str]:
    """The GPUs the job processes take, one each (of ``CUDA_VISIBLE_DEVICES`` when set)."""
    import torch

    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [v.strip() for v in visible.split(",") if v.strip()] if visible else \
        [str(i) for i in range(torch.cuda.device_count())]
    if len(ids) < jobs:
        raise WsolbenchError(f"--jobs {jobs} with --device cuda runs one cell per GPU, but {len(ids)} GPU(s) are "
                             f"visible; use --jobs {max(len(ids), 1)}")
    return ids[:jobs]


def _claim_gpu(queue) -> None:
    """Process-pool initializer: this job process sees one GPU only (before torch initialises CUDA)."""
    os.environ["CUDA_VISIBLE_DEVICES"] = queue.get()


def _map_jobs(args, jobs: int, device: str = "cpu", fn=_run_cell_job):
    """``fn(a)`` for every ``a`` of ``args``, in ``jobs`` processes (one GPU each on CUDA), as they finish."""
    if jobs <= 1:
        yield from map(fn, args)
        return
    import multiprocessing
    from contextlib import ExitStack

    from wsolbench.interrupts import process_pool

    with ExitStack() as stack:
        initializer, initargs = None, ()
        if device == "cuda":
            queue = stack.enter_context(multiprocessing.get_context("spawn").Manager()).Queue()
            for gpu in _gpu_ids(jobs):
                queue.put(gpu)
            initializer, initargs = _claim_gpu, (queue,)
        pool = stack.enter_context(process_pool(jobs, context="spawn", initializer=initializer, initargs=initargs))
        futures = [pool.submit(fn, a) for a in args]
        for future in as_completed(futures):
            yield future.result()


def _mean_std(values: list[float]) -> tuple[float, float]:
    mean = float(np.mean(values))
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return mean, std


def _summary_cell(study: Study, row: Row, metric: Metric, per_seed: list[dict]) -> dict:
    if metric.reference:
        value = study.reference.get((row.variant.key, row.evaluation), {}).get(metric.key)
        return {"mean": value, "std": None, "values": [] if value is None else [value]}
    values = [m.get(metric.key) for m in per_seed]
    if any(v is None for v in values):  # e.g. top-1 loc without predicted labels
        return {"mean": None, "std": None, "values": values}
    mean, std = _mean_std(values)
    return {"mean": mean, "std": std, "values": values}


def summarize(study: Study, results: dict[Cell, dict], seeds) -> dict:
    """Aggregate cell metrics: ``sections[d]["rows"][r]["cells"][metric] = {mean, std, values}``
    (reference columns: the published value, ``std`` ``None``)."""
    sections = []
    for dataset in study.datasets:
        rows = []
        for row in study.rows:
            per_seed = [with_fixed_best(results[Cell(dataset, row.variant, int(s))][row.evaluation], study.thresholds)
                        for s in seeds]
            cells = {metric.key: _summary_cell(study, row, metric, per_seed) for metric in study.columns}
            rows.append({"label": row.label, "variant": row.variant.key, "method": row.variant.method,
                         "options": row.variant.options, "pool": row.variant.pool, "recipe": row.variant.recipe,
                         "recipe_name": row.variant.recipe_name, "evaluation": row.evaluation, "group": row.group,
                         "train_seconds_mean": float(np.mean([m["train_seconds"] for m in per_seed])),
                         "cells": cells})
        sections.append({"dataset": dataset.key, "label": dataset.label, "spec": dataset.spec, "rows": rows})
    return {"study": study.name, "title": study.title, "description": study.description,
            "seeds": [int(s) for s in seeds], "reference_source": study.reference_source,
            "columns": [{"key": m.key, "label": m.label, "digits": m.digits, "table": m.table,
                         "reference": m.reference} for m in study.columns],
            "sections": sections}


# --------------------------------------------------------------------------- tables

def _fmt(cell: dict, digits: int) -> str:
    if cell["mean"] is None or (isinstance(cell["mean"], float) and math.isnan(cell["mean"])):
        return "-"
    if cell["std"] is None or len(cell["values"]) < 2:  # a published value, or a single seed
        return f"{cell['mean']:.{digits}f}"
    return f"{cell['mean']:.{digits}f} ± {cell['std']:.{digits}f}"


def _ordered(values) -> list:
    return list(dict.fromkeys(values))


def _table_lines(rows: list[dict], cols: list[dict]) -> list[str]:
    lines = ["| method | " + " | ".join(c["label"] for c in cols) + " |",
             "| --- | " + " | ".join("---:" for _ in cols) + " |"]
    for row in rows:
        lines.append(f"| {row['label']} | " + " | ".join(_fmt(row["cells"][c["key"]], c["digits"]) for c in cols)
                     + " |")
    return lines + [""]


def to_markdown(summary: dict, *, command: str | None = None) -> str:
    """The summary as markdown: per dataset, one table per column table (and row group), cells
    ``mean ± std`` over the seeds (the mean alone for one seed and for published values)."""
    cols = summary["columns"]
    lines = [f"### {summary['title']}", "", summary["description"], ""]
    if command:
        lines += [f"Command: `{command}`", ""]
    if summary.get("reference_source"):
        lines += [f"Reference columns: {summary['reference_source']}", ""]
    seeds = ", ".join(str(s) for s in summary["seeds"])
    over = f"mean ± std over seeds {seeds}" if len(summary["seeds"]) > 1 else f"seed {seeds}"
    for section in summary["sections"]:
        lines += [f"**{section['label']}** (`{section['spec']}`), {over}:", ""]
        for table in _ordered(c.get("table", "") for c in cols):
            table_cols = [c for c in cols if c.get("table", "") == table]
            for group in _ordered(r.get("group", "") for r in section["rows"]):
                title = " — ".join(t for t in (group, table) if t)
                lines += [f"*{title}*", ""] if title else []
                lines += _table_lines([r for r in section["rows"] if r.get("group", "") == group], table_cols)
    return "\n".join(lines)


def to_csv_rows(summary: dict) -> list[dict]:
    """Long format: one row per (dataset, table row, metric) with mean, std and the seeds' values."""
    out = []
    for section in summary["sections"]:
        for row in section["rows"]:
            for col in summary["columns"]:
                c = row["cells"][col["key"]]
                out.append({"study": summary["study"], "dataset": section["dataset"], "group": row.get("group", ""),
                            "row": row["label"], "method": row["method"], "evaluation": row["evaluation"],
                            "metric": col["key"], "reference": bool(col.get("reference")),
                            "mean": c["mean"], "std": c["std"],
                            "values": " ".join("-" if v is None else f"{v:.6g}" for v in c["values"])})
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


from wsolbench.nn.studies_has import HAS_STUDIES  # noqa: E402  (real-data grids, built from the classes above)

STUDIES.update(HAS_STUDIES)
