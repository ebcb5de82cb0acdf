"""``wsolbench tune``: the protocol's model selection (Choe et al., CVPR 2020).

Hyper-parameters are chosen by a search with a fixed budget (30 trials of random search) on the
small fully supervised split ``train-fullsup`` (wsolevaluation's ``val``); the chosen model is then
evaluated once on ``test``, and that is the number to report. Each trial is an ordinary baseline
run (:func:`wsolbench.nn.runner.run_trained`): trained on ``train`` with the sampled configuration,
its maps of the selection split scored with the protocol's selection metric (MaxBoxAccV2 for box
datasets, PxAP for mask datasets). Optuna schedules the trials and keeps the study
(:mod:`wsolbench.nn.tune_study`); wsolbench owns the search spaces
(:mod:`wsolbench.nn.search_space`) and the run folders. Many processes (machines, GPUs) may run
trials of one study at the same time through a shared storage (``--storage postgresql://...``).

The output folder ``OUT``::

    study.db                the Optuna study (SQLite; another database with --storage)
    trials/trial-NNN/       one baseline run folder per trial (recipe.toml, checkpoint_last.pt,
                            maps.h5 + result.json of the selection split; for the chosen trial also
                            maps.test.h5 + result.test.json)
    refit/trial-NNN/        spaces with a refit split (FSL): the chosen configuration retrained on
                            all of train-fullsup and tested
    tune.json, tune.md      every trial (parameters, selection metric, state, folder), the best, the test
    tune.png                the selection metric of every trial against each knob, the best marked
    best-recipe.toml        the chosen configuration; ``wsolbench baseline run METHOD --recipe`` reruns it
    result.test.json        the chosen model's test result

Example:
    >>> summary = run_tune(TuneOptions(method="cam", spec="synthetic:", out="runs/tune-cam", trials=4,
    ...                                recipe_overrides={"epochs": 2}))      # doctest: +SKIP
    >>> summary["best"]["value"], summary["test"]["metrics"]["maxboxacc_v2"]   # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from wsolbench.datasets.holdout import parse_split
from wsolbench.errors import DatasetError, WsolbenchError
from wsolbench.metric_names import METRIC_KEYS, METRIC_NAMES
from wsolbench.nn import tune_report, tune_study
from wsolbench.nn.recipe import Recipe, family_of_spec
from wsolbench.nn.search_space import SearchSpace, SpaceError, get_space
from wsolbench.outputs import check_outputs, output_folder

STUDY_FILE = "study.db"
TRIALS_DIR = "trials"
REFIT_DIR = "refit"
TEST_RESULT = "result.test.json"
BEST_RECIPE = "best-recipe.toml"
POLL_SECONDS = 2.0


@dataclass(frozen=True)
class TuneOptions:
    """What ``wsolbench tune`` was asked.

    Attributes:
        method, spec, backbone, recipe: as for ``baseline run`` (the recipe the search starts from).
        out: the output folder (see the module docstring).
        recipe_overrides: recipe fields set for every trial (``epochs``, ``batch_size``, ``workers``).
        space: search space name or TOML path (default: the method's).
        trials: the budget; sampler: ``random`` (the protocol's) or ``tpe``; seed: the sampler's seed.
        metric: selection metric key (default: MaxBoxAccV2 with boxes, else PxAP / mPxAP).
        select_split: the split trials are scored on (default: the space's, ``val``).
        study_name, storage: the Optuna study (defaults: ``METHOD-BACKBONE-DATASET``, ``OUT/study.db``).
        device, pretrained, image_root, dataset_options, eval_workers: as for ``baseline run``.
        heartbeat: seconds between a running trial's heartbeats (a trial silent for two is rerun).
        test: evaluate the chosen model on the test split at the end.
    """

    method: str
    spec: str
    out: str | Path | None = None
    backbone: str | None = None
    recipe: str | None = None
    recipe_overrides: dict = field(default_factory=dict)
    space: str | None = None
    trials: int = 30
    sampler: str = "random"
    seed: int = 0
    metric: str | None = None
    select_split: str | None = None
    study_name: str | None = None
    storage: str | None = None
    device: str = "auto"
    pretrained: str | None = None
    image_root: str | None = None
    dataset_options: dict = field(default_factory=dict)
    eval_workers: int = 1
    heartbeat: int = tune_study.DEFAULT_HEARTBEAT
    test: bool = True


@dataclass
class TuneCallbacks:
    """Progress hooks (the CLI renders them; library code prints nothing).

    Attributes:
        run: the runner's :class:`~wsolbench.nn.runner.Callbacks` for the stages of each trial.
        trial_started: ``(number, slot, params)``; trial_finished: ``(record)`` (a row of ``tune.json``).
        budget: ``(finished, budget)`` after every claim and every finished trial.
        waiting: ``(running_elsewhere)`` while this worker waits for other workers' trials.
        testing: ``(record of the chosen trial)`` before the test evaluation.
    """

    run: object = None
    trial_started: Callable[[int, int, dict], None] | None = None
    trial_finished: Callable[[dict], None] | None = None
    budget: Callable[[int, int], None] | None = None
    waiting: Callable[[int], None] | None = None
    testing: Callable[[dict], None] | None = None


@dataclass(frozen=True)
class Location:
    """Where a study lives: its name, its storage URL and its output folder."""

    name: str
    url: str
    out: Path


@dataclass(frozen=True)
class Plan:
    """A resolved search: the base recipe, the space for this backbone, the splits, the metric."""

    location: Location
    base: Recipe
    space: SearchSpace
    train_split: str
    select_split: str
    refit_split: str | None
    test_split: str
    metric: str


# --------------------------------------------------------------------------- where

def _base_recipe(options: TuneOptions) -> Recipe:
    from wsolbench.nn.recipe import load_recipe, resolve_recipe

    if options.recipe:
        base = load_recipe(options.recipe)
        if base.method != options.method:
            raise WsolbenchError(f"recipe {base.name!r} is for method {base.method!r}, not {options.method!r}")
        if options.backbone and options.backbone != base.backbone:
            base = base.replace(backbone=options.backbone, backbone_options={}, name=f"{base.name}-{options.backbone}")
    else:
        base = resolve_recipe(options.method, dataset=family_of_spec(options.spec), backbone=options.backbone)
    return base.replace(**{k: v for k, v in options.recipe_overrides.items() if v is not None})


def _dataset_label(spec: str) -> str:
    from wsolbench.datasets import parse_spec

    return family_of_spec(spec) or parse_spec(spec)[0]


def locate(options: TuneOptions) -> Location:
    """The study's name, storage URL and output folder (nothing is opened; no torch, no Optuna)."""
    base = _base_recipe(options)
    name = options.study_name or f"{options.method}-{base.backbone}-{_dataset_label(options.spec)}"
    out = Path(options.out) if options.out else Path("runs") / "tune" / name
    url = options.storage or f"sqlite:///{(out / STUDY_FILE).resolve()}"
    return Location(name=name, url=url, out=out)


# --------------------------------------------------------------------------- the plan

def _has_backbone_option(backbone: str) -> Callable[[str], bool]:
    import inspect

    from wsolbench.nn.backbones import list_backbones

    infos = {b.name: b for b in list_backbones()}
    if backbone not in infos:
        raise WsolbenchError(f"unknown backbone {backbone!r}; choose one of {', '.join(sorted(infos))}")
    params = inspect.signature(infos[backbone].builder).parameters
    return lambda key: key in params and key not in ("num_classes", "pool")


def check_space(space: SearchSpace, base: Recipe) -> None:
    """Every knob's extreme values make a valid recipe and a valid method (fail before any training)."""
    from wsolbench.nn.methods import create_method

    for p in space.params:
        for value in p.extremes():
            try:
                recipe = space.apply(base, {p.name: value})
                create_method(recipe.method, **recipe.method_options)
            except WsolbenchError as e:
                raise SpaceError(f"{space.path}: [params.\"{p.name}\"] value {value!r} does not work with "
                                 f"recipe {base.name!r}: {e}") from None


def prepare(options: TuneOptions) -> Plan:
    """Resolve the recipe, the space (for this backbone, checked) and the splits of a search."""
    if options.trials < 1:
        raise WsolbenchError(f"--trials must be >= 1, got {options.trials}")
    if options.sampler not in tune_study.SAMPLERS:
        raise WsolbenchError(f"unknown sampler {options.sampler!r}; use one of {', '.join(tune_study.SAMPLERS)}")
    if options.metric is not None and options.metric not in METRIC_KEYS:
        raise WsolbenchError(f"unknown selection metric {options.metric!r}; use one of {', '.join(METRIC_KEYS)}")
    base = _base_recipe(options)
    space = get_space(options.space or options.method)
    if space.method != options.method:
        raise SpaceError(f"{space.path}: this search space is for method {space.method!r}, not {options.method!r}")
    space = space.for_backbone(base.backbone, _has_backbone_option(base.backbone))
    check_space(space, base)
    train = space.splits.train or base.train_split
    select = options.select_split or space.splits.select
    return Plan(location=locate(options), base=base, space=space, train_split=train, select_split=select,
                refit_split=space.splits.refit, test_split=base.eval_split, metric=options.metric or "")


# --------------------------------------------------------------------------- the data

def _probe_splits(options: TuneOptions) -> list[str]:
    from wsolbench.nn.runner import load_split

    found = []
    for split in ("train", "val", "test"):
        with contextlib.suppress(WsolbenchError, OSError):
            if load_split(options.spec, split, image_root=options.image_root,
                          **options.dataset_options).split == split:
                found.append(split)
    return found


def _no_fullsup(options: TuneOptions, split: str, reason: str) -> DatasetError:
    found = _probe_splits(options)
    return DatasetError(
        f"{options.spec}: no train-fullsup split {split!r} to select on ({reason}); splits found: "
        f"{', '.join(found) or 'none'}. The protocol scores trials on a few fully annotated images per class, "
        "not on test: use wsolevaluation's metadata/<DATASET>/val (CUB: -o val_metadata=metadata/CUB/val; "
        "ILSVRC/OpenImages: their metadata folder), or write a wsoleval metadata folder 'val' with a few "
        "annotated images per class beside your other splits")


def load_data(plan: Plan, options: TuneOptions) -> dict:
    """Load and check the splits: the selection split must exist, be what was asked for, and share no
    image with the test split. Returns ``{"train", "select", "test"}`` annotation sets."""
    from wsolbench.nn.runner import load_split

    def load(split):
        return load_split(options.spec, split, image_root=options.image_root, **options.dataset_options)

    try:   # first: a dataset without one is the error a user most needs explained
        select = load(plan.select_split)
    except WsolbenchError as e:
        raise _no_fullsup(options, plan.select_split, str(e)) from None
    train, test = load(plan.train_split), load(plan.test_split)
    base = parse_split(plan.select_split)[0]
    if parse_split(select.split)[0] != base:
        raise _no_fullsup(options, plan.select_split, f"the adapter gave its {select.split!r} split instead")
    shared = set(select.image_ids) & set(test.image_ids)
    if shared:
        raise _no_fullsup(options, plan.select_split, f"{len(shared)} of its {len(select)} images are in the test "
                          f"split {plan.test_split!r}, e.g. {sorted(shared)[0]!r}")
    if not (select.has_boxes or select.has_masks):
        raise _no_fullsup(options, plan.select_split, "it has neither boxes nor masks")
    return {"train": train, "select": select, "test": test}


def selection_metric(select) -> str:
    """The protocol's selection metric for a split: MaxBoxAccV2 with boxes, else PxAP (mPxAP multi-label)."""
    if select.has_boxes:
        return "maxboxacc_v2"
    return "mpxap" if select.multilabel else "pxap"


def _fingerprint(annotations) -> str:
    h = hashlib.sha256()
    for r in annotations.records:
        h.update(json.dumps([r.image_id, list(r.labels), [list(map(float, b)) for b in r.boxes]]).encode())
    return h.hexdigest()[:16]


def identity(plan: Plan, data: dict, options: TuneOptions) -> dict:
    """What a study is (stored with it; a worker with another identity is refused)."""
    recipe = {k: v for k, v in plan.base.to_dict().items()
              if k not in ("workers", "eval_batch_size", "name", "description", "source")}
    return _as_stored({
        "method": plan.base.method, "backbone": plan.base.backbone, "recipe": recipe,
        "space": plan.space.to_dict(), "metric": plan.metric, "sampler": options.sampler, "seed": options.seed,
        "splits": {"train": plan.train_split, "select": plan.select_split, "refit": plan.refit_split,
                   "test": plan.test_split},
        "data": {"name": data["select"].name, "n_train": len(data["train"]), "n_select": len(data["select"]),
                 "select": _fingerprint(data["select"])},
        "pretrained": Path(options.pretrained).name if options.pretrained else None,
    })


def _as_stored(identity: dict) -> dict:
    """The identity as the study storage gives it back (JSON: tuples become lists), so that a stored
    identity and a freshly computed one compare equal."""
    return json.loads(json.dumps(identity))


# --------------------------------------------------------------------------- trials

def trial_recipe(plan: Plan, params: dict, slot: int) -> Recipe:
    """The recipe of a trial: the base recipe on the search's splits with the sampled values."""
    base = plan.base.replace(train_split=plan.train_split, eval_split=plan.select_split,
                             name=f"{plan.base.name}-trial{slot:03d}")
    return plan.space.apply(base, params)


def trial_folder(out: Path, slot: int) -> Path:
    return out / TRIALS_DIR / f"trial-{slot:03d}"


def _finished_count(study) -> tuple[int, int]:
    """``(finished slots, budget)``: a slot is finished by a completed or a failed (not requeued) trial."""
    records = tune_report.trial_records(study)
    done = sum(1 for r in records if r["state"] in ("complete", "failed"))
    return done, int(study.user_attrs.get(tune_study.BUDGET_ATTR, 0))


def _emit(callback, *args) -> None:
    if callback is not None:
        callback(*args)


def _failure(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return f"diverged: {text}" if "NaN or infinite" in text else text


def _run_trial(study, storage, trial_id: int, plan: Plan, options: TuneOptions, cb: TuneCallbacks) -> str | None:
    """Run one claimed trial; returns ``None``, or the error of a failed configuration."""
    import optuna

    from wsolbench.nn.runner import run_trained

    frozen = storage.get_trial(trial_id)
    slot = tune_study.slot_of(frozen)
    study.sampler = tune_study.make_sampler(options.sampler, options.seed, slot)
    trial = optuna.trial.Trial(study, trial_id)
    params = {p.name: p.suggest(trial) for p in plan.space.params}
    folder = trial_folder(plan.location.out, slot)
    trial.set_user_attr("folder", str(folder.relative_to(plan.location.out)))
    trial.set_user_attr("worker", tune_study.worker_name())
    _emit(cb.trial_started, frozen.number, slot, params)
    started = time.perf_counter()
    with tune_study.Heartbeat(storage, trial_id, options.heartbeat):
        try:
            outputs = run_trained(trial_recipe(plan, params, slot), spec=options.spec, out_dir=folder,
                                  device=options.device, resume=True, pretrained=options.pretrained,
                                  image_root=options.image_root, eval_workers=options.eval_workers,
                                  callbacks=cb.run, dataset_options=options.dataset_options)
            value = outputs.result.metrics.get(plan.metric)
            if value is None or not math.isfinite(value):
                raise WsolbenchError(f"the result has no {plan.metric} (is the selection split annotated for it?)")
        except (WsolbenchError, FloatingPointError) as e:   # this configuration failed: the budget is spent
            trial.set_user_attr("error", _failure(e))
            trial.set_user_attr("seconds", round(time.perf_counter() - started, 1))
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            return _failure(e)
        except BaseException:   # interrupted (Ctrl-C, SIGTERM) or a bug: give the slot back, then stop
            tune_study.requeue(study, storage, trial_id)
            raise
    trial.set_user_attr("metrics", outputs.result.metrics)
    trial.set_user_attr("seconds", round(time.perf_counter() - started, 1))
    study.tell(trial, float(value))
    return None


def _report_finished(study, trial_id: int, storage, cb: TuneCallbacks) -> None:
    frozen = storage.get_trial(trial_id)
    records = [r for r in tune_report.trial_records(study) if r["number"] == frozen.number]
    if records:
        _emit(cb.trial_finished, records[0])


def _stop_if_systemic(study, storage, failed: list[tuple[int, str]]) -> None:
    """Two trials in a row failing with the same error (not a divergence) point at the set-up, not at
    their configurations: their slots are requeued (a fixed rerun runs them) and the worker stops."""
    if len(failed) < 2 or failed[-1][1] != failed[-2][1] or failed[-1][1].startswith("diverged"):
        return
    for trial_id, _ in failed[-2:]:
        tune_study.requeue_failed(study, storage, trial_id)
    raise tune_study.StudyError(f"two trials in a row failed with the same error, which does not depend on their "
                                f"configuration: {failed[-1][1]}; fix it and rerun (their slots were requeued)")


def work(study, storage, plan: Plan, options: TuneOptions, cb: TuneCallbacks) -> None:
    """Run trials of the study until none is waiting and none runs elsewhere."""
    from optuna.trial import TrialState

    failed: list[tuple[int, str]] = []
    while True:
        tune_study.fail_stale(study)
        _emit(cb.budget, *_finished_count(study))
        trial_id = tune_study.claim_next(study, storage, plan.location.url)
        if trial_id is not None:
            error = _run_trial(study, storage, trial_id, plan, options, cb)
            _report_finished(study, trial_id, storage, cb)
            failed = failed + [(trial_id, error)] if error else []
            _stop_if_systemic(study, storage, failed)
            _write_progress(study, plan)
            continue
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if not running:
            _emit(cb.budget, *_finished_count(study))
            return
        _emit(cb.waiting, len(running))
        time.sleep(POLL_SECONDS)


# --------------------------------------------------------------------------- the test of the chosen model

def best_trial(study):
    """The completed trial with the highest value (the lowest number among ties), or ``None``."""
    from optuna.trial import TrialState

    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.value is not None]
    return max(done, key=lambda t: (t.value, -t.number)) if done else None


def chosen_recipe(plan: Plan, best) -> Recipe:
    """The chosen configuration as a recipe that trains as the chosen model did (or on the refit split)
    and evaluates on test: ``best-recipe.toml``."""
    slot = tune_study.slot_of(best)
    recipe = trial_recipe(plan, best.params, slot)
    metric = METRIC_NAMES.get(plan.metric, plan.metric)
    family = plan.base.dataset
    return recipe.replace(
        name=f"{plan.base.method}-{plan.base.backbone.replace('_', '')}-{family}-tuned",
        train_split=plan.refit_split or plan.train_split, eval_split=plan.test_split,
        description=f"{plan.base.description} | tuned: trial {best.number} (slot {slot}) of study "
                    f"{plan.location.name}, {metric} {best.value:.2f} on {plan.select_split}",
        source=f"wsolbench tune ({plan.space.path}): the protocol's search on {plan.select_split}, best of the "
               f"study's trials; base recipe {plan.base.name}")


def test_chosen(plan: Plan, best, options: TuneOptions, cb: TuneCallbacks) -> Path:
    """Evaluate the chosen model on the test split once (or reuse that evaluation); returns its result path.

    Without a refit split, the chosen trial's own model is evaluated (its checkpoint is reused; a
    worker on another machine without the folder retrains it from the same recipe). With one (FSL),
    the chosen configuration is trained on the refit split first.
    """
    from wsolbench.nn.runner import EvalOptions, run_trained

    slot = tune_study.slot_of(best)
    recipe = chosen_recipe(plan, best)
    if plan.refit_split:
        folder, evaluation = plan.location.out / REFIT_DIR / f"trial-{slot:03d}", None
        result_path = folder / "result.json"
    else:
        folder, evaluation = plan.location.out / best.user_attrs.get("folder", ""), EvalOptions(split=plan.test_split)
        recipe = trial_recipe(plan, best.params, slot)   # the checkpoint's own recipe
        result_path = folder / evaluation.file_names()[1]
    with tune_study.file_lock(plan.location.out / ".test.lock"):   # workers sharing OUT test it once
        if not result_path.is_file():
            _emit(cb.testing, {"number": best.number, "slot": slot, "params": best.params})
            run_trained(recipe, spec=options.spec, out_dir=folder, device=options.device, resume=True,
                        pretrained=options.pretrained, image_root=options.image_root,
                        eval_workers=options.eval_workers, callbacks=cb.run,
                        dataset_options=options.dataset_options, evaluation=evaluation)
    return result_path


# --------------------------------------------------------------------------- outputs

def _write_progress(study, plan: Plan) -> None:
    tune_report.write_tables(tune_report.summarize(study, plan.location), plan.location.out)


def _check_out(location: Location) -> None:
    path = location.out / tune_report.TUNE_JSON
    if path.is_file():
        with contextlib.suppress(OSError, ValueError, AttributeError):
            other = json.loads(path.read_text(encoding="utf-8"))["study"]["name"]
            if other != location.name:
                raise tune_study.StudyError(f"{location.out} holds the outputs of study {other!r}; give study "
                                            f"{location.name!r} its own --out folder")


def finish(study, plan: Plan, options: TuneOptions, cb: TuneCallbacks) -> dict:
    """Test the chosen model (once), write every output file; returns the summary (``tune.json``)."""
    from wsolbench.atomic import write_text_atomic

    best = best_trial(study)
    test = None
    if best is not None and options.test:
        result_path = test_chosen(plan, best, options, cb)
        write_text_atomic(plan.location.out / TEST_RESULT, result_path.read_text(encoding="utf-8"))
        write_text_atomic(plan.location.out / BEST_RECIPE, chosen_recipe(plan, best).to_toml())
        test = {"result": TEST_RESULT, "from": str(result_path.relative_to(plan.location.out)),
                "recipe": BEST_RECIPE, "split": plan.test_split, "refit_split": plan.refit_split,
                "metrics": json.loads(result_path.read_text(encoding="utf-8"))["metrics"]}
    summary = tune_report.summarize(study, plan.location, test=test)
    tune_report.write_tables(summary, plan.location.out)
    summary["figure"] = tune_report.draw_figure(summary, plan.location.out)
    summary["test"] = test
    tune_report.write_tables(summary, plan.location.out)
    return summary


def run_tune(options: TuneOptions, callbacks: TuneCallbacks | None = None) -> dict:
    """Run (or join, or resume) a search and test its chosen model; returns the summary.

    Raises:
        WsolbenchError: bad options, an unknown space key, no train-fullsup split, an unreachable
            storage, a study created for another search.
    """
    cb = callbacks or TuneCallbacks()
    plan = prepare(options)
    data = load_data(plan, options)
    plan = dataclasses.replace(plan, metric=plan.metric or selection_metric(data["select"]))
    check_outputs([output_folder(plan.location.out, "--out")])
    plan.location.out.mkdir(parents=True, exist_ok=True)
    _check_out(plan.location)
    storage = tune_study.open_storage(plan.location.url, heartbeat=options.heartbeat)
    study = tune_study.create_or_join(storage, plan.location.name, identity=identity(plan, data, options),
                                      budget=options.trials, url=plan.location.url)
    _write_progress(study, plan)
    work(study, storage, plan, options, cb)
    return finish(study, plan, options, cb)


def tune_status(options: TuneOptions) -> dict:
    """The summary of an existing study without running anything (``wsolbench tune --status``)."""
    location = locate(options)
    storage = tune_study.open_storage(location.url, heartbeat=options.heartbeat)
    study = tune_study.load_existing(storage, location.name, location.url)
    summary = tune_report.summarize(study, location)
    with contextlib.suppress(WsolbenchError, KeyError, TypeError):   # the test of this worker's last run
        written = tune_report.read_summary(location.out)
        if written["test"] and written["best"]["number"] == summary["best"]["number"]:
            summary["test"] = written["test"]
    return summary
