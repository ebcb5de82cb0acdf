"""Train -> extract -> evaluate: one trained baseline run, end to end.

Run folder (``out_dir``)::

    recipe.toml            the exact recipe of the run (rerun with --recipe out_dir/recipe.toml)
    checkpoint_last.pt     the training checkpoint (every epoch; --resume continues from it)
    train_log.jsonl        one line of statistics per epoch
    maps.h5                raw CAMs of the evaluation split (score-map format v1)
    result.json            the evaluation result (docs/result-json.md)
    result.state.npz       its per-image state (bootstrap intervals, paired tests; docs/result-json.md)
    maps.TAG.h5, result.TAG.json    the same for another evaluation of the trained model
                           (:class:`EvalOptions`: ``multicrop10-0.875``, ``torchcam-GradCAMpp``, ...)

A finished run is evaluated again in another way (multi-crop, an explainer) without retraining
by running it again with ``resume=True``: training finds every epoch done and stops at once.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from wsolbench import __version__
from wsolbench.datasets import load_annotations
from wsolbench.datasets.holdout import parse_split, split_part
from wsolbench.datasets.records import AnnotationSet
from wsolbench.errors import DatasetError, WsolbenchError
from wsolbench.nn import distributed as dist
from wsolbench.nn.checkpoint import LAST_CHECKPOINT
from wsolbench.nn.data import InputNorm, require_image_root
from wsolbench.nn.extract import extract_maps
from wsolbench.nn.multicrop import MultiCrop
from wsolbench.nn.recipe import Recipe, family_of_spec, load_recipe, require_family, resolve_recipe  # noqa: F401
from wsolbench.nn.train import TrainResult, num_classes_of, resolve_device, train
from wsolbench.protocol import get_protocol

MAPS_FILE = "maps.h5"
RESULT_FILE = "result.json"
RECIPE_FILE = "recipe.toml"


@dataclass(frozen=True)
class EvalOptions:
    """How maps are made from the trained model (not part of the recipe: no retraining needed).

    Attributes:
        multicrop: average maps and scores over crops (:class:`~wsolbench.nn.multicrop.MultiCrop`),
            or ``None`` (one pass per image).
        explainer: ``torchcam:NAME`` (:mod:`wsolbench.nn.explainers`), or ``None`` (the method's CAM).
        split: evaluate this split instead of the recipe's ``eval_split`` (the tuner tests the model it
            selected on ``val`` this way: ``maps.test.h5``, ``result.test.json``), or ``None``.
    """

    multicrop: MultiCrop | None = None
    explainer: str | None = None
    split: str | None = None

    def tag(self) -> str:
        """``""`` for the default, else e.g. ``torchcam-GradCAMpp+multicrop10-0.875`` or ``test``."""
        parts = [self.split.replace("[", "-").replace("]", "")] if self.split else []
        parts += [self.explainer.replace(":", "-")] if self.explainer else []
        parts += [self.multicrop.tag()] if self.multicrop else []
        return "+".join(parts)

    def file_names(self) -> tuple[str, str]:
        """``(maps file, result file)`` in the run folder."""
        tag = self.tag()
        return (MAPS_FILE, RESULT_FILE) if not tag else (f"maps.{tag}.h5", f"result.{tag}.json")

    def check(self) -> None:
        """Fail early (before training) on a bad explainer spec or a missing torchcam."""
        if self.explainer:
            from wsolbench.nn.explainers import parse_explainer, require_torchcam

            parse_explainer(self.explainer)
            require_torchcam()

    def attrs(self) -> dict:
        """Provenance attributes stored in the maps file."""
        return {"map_source": self.explainer or "method",
                "multicrop": self.multicrop.tag() if self.multicrop else "none"}


@dataclass
class RunOutputs:
    """What a run produced. In a distributed run only rank 0 extracts and evaluates; the other ranks
    return after training with ``maps_path``/``result`` ``None``."""

    out_dir: Path
    recipe: Recipe
    train: TrainResult
    maps_path: Path | None = None
    result_path: Path | None = None
    result: object = None


@dataclass
class Callbacks:
    """Progress reporting hooks (the CLI renders them; library code prints nothing).

    Attributes:
        stage: ``stage(name)`` when a stage starts (``train``, ``extract``, ``evaluate``).
        train: ``train(done_steps, total_steps, message)``.
        extract: ``extract(done, total)``.
        evaluate: ``evaluate(done, total)``.
        message: ``message(text)``: a one-line note (what ``--pretrained`` loaded).
    """

    stage: Callable[[str], None] | None = None
    train: Callable[[int, int, str], None] | None = None
    extract: Callable[[int, int], None] | None = None
    evaluate: Callable[[int, int], None] | None = None
    message: Callable[[str], None] | None = None


def choose_recipe(method: str, *, spec: str, backbone: str | None = None, recipe: str | None = None) -> Recipe:
    """``--recipe`` (name or TOML path) if given, else the packaged recipe for method/dataset/backbone.

    ``backbone`` may be an alias (``alexnet-gap``, ``inceptionv3``); an unknown one is an error here,
    before any folder is written. Without ``--recipe``, a dataset whose family has no recipes is an
    error (:func:`~wsolbench.nn.recipe.require_family`).
    """
    from wsolbench.nn.backbones import canonical_backbone

    backbone = canonical_backbone(backbone) if backbone else None
    if recipe:
        chosen = load_recipe(recipe)
        if chosen.method != method:
            raise WsolbenchError(f"recipe {chosen.name!r} is for method {chosen.method!r}, not {method!r}")
        if backbone and backbone != canonical_backbone(chosen.backbone):  # its own defaults, not the recipe's
            return chosen.replace(backbone=backbone, backbone_options={}, name=f"{chosen.name}-{backbone}")
        return chosen
    return resolve_recipe(method, dataset=require_family(spec), backbone=backbone)


def check_image_root(annotations: AnnotationSet) -> None:
    """Fail before anything heavy when the images cannot be found: no image folder (a wsoleval:
    metadata folder needs ``--image-root``), a missing folder, or a first image that is not there."""
    require_image_root(annotations)
    if not os.path.isdir(annotations.root):
        raise DatasetError(f"{annotations.root}: image folder not found (split {annotations.split}); check "
                           "--image-root")
    if annotations.records:
        first = annotations.records[0].image_id
        if not os.path.isfile(os.path.join(annotations.root, first)):
            raise DatasetError(f"{os.path.join(annotations.root, first)}: image '{first}' of split "
                               f"{annotations.split} not found; --image-root must be the folder the image ids are "
                               "relative to")


def check_recipe(recipe: Recipe) -> Recipe:
    """``recipe`` with its backbone's registry name, after checking that the backbone and the method
    (with its options) exist, so that a bad name fails before any run folder is written."""
    from wsolbench.nn.backbones import canonical_backbone
    from wsolbench.nn.methods import create_method

    recipe = recipe.replace(backbone=canonical_backbone(recipe.backbone))
    create_method(recipe.method, **recipe.method_options)
    return recipe


def load_split(spec: str, split: str, *, image_root: str | None = None, **options) -> AnnotationSet:
    """Load one split (``val``, or a part of one: ``val[fit]``, ``val[holdout]``, see
    :mod:`wsolbench.datasets.holdout`); ``image_root`` overrides the folder images are read from."""
    base, part = parse_split(split)
    annotations = load_annotations(spec, split=base, **options)
    if part:
        annotations = split_part(annotations, part)
    if image_root:
        annotations.root = os.fspath(image_root)
    return annotations


def _maps_attrs(recipe: Recipe, annotations: AnnotationSet, spec: str, pretrained) -> dict:
    return {"method": recipe.method, "backbone": recipe.backbone, "dataset": annotations.name,
            "split": annotations.split, "recipe": recipe.name, "dataset_spec": spec,
            "pretrained": os.path.basename(os.fspath(pretrained)) if pretrained else "none",
            "epochs": recipe.epochs, "seed": recipe.seed, "amp": recipe.amp, "wsolbench_version": __version__,
            "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}


def run_trained(recipe: Recipe, *, spec: str, out_dir, device: str = "auto", resume: bool = False,
                pretrained=None, image_root: str | None = None, eval_workers: int = 1,
                callbacks: Callbacks | None = None, dataset_options: dict | None = None,
                evaluation: EvalOptions | None = None, box_sizes: bool = False) -> RunOutputs:
    """Train ``recipe`` on ``spec``'s training split, extract maps of its evaluation split, evaluate.

    Args:
        recipe: the hyper-parameters (see :func:`choose_recipe`).
        spec: dataset spec ``NAME:PATH``.
        out_dir: the run folder (see the module docstring).
        device: ``auto``, ``cpu`` or ``cuda``.
        resume: continue an interrupted run from ``out_dir/checkpoint_last.pt``.
        pretrained: ImageNet weights for the trunk (torchvision names), or ``None``.
        image_root: folder the image ids are relative to, when the annotations do not name it.
        eval_workers: processes for the evaluation.
        callbacks: progress hooks.
        dataset_options: extra adapter options (e.g. ``mask_root``).
        evaluation: multi-crop / explainer options; their maps and result go to
            ``maps.TAG.h5`` / ``result.TAG.json`` (see :class:`EvalOptions`).
        box_sizes: record box areas for the size diagnostics (:class:`wsolbench.Evaluator`).

    Returns:
        :class:`RunOutputs`; ``result`` is the :class:`~wsolbench.metrics.result.EvaluationResult`.
    """
    from wsolbench.pipeline import evaluate_maps

    cb = callbacks or Callbacks()
    recipe = check_recipe(recipe)
    if evaluation is not None:
        evaluation.check()
    device = resolve_device(device)
    ctx = dist.init_from_env(device=device)
    out_dir = Path(out_dir)
    options = dict(dataset_options or {})
    train_set = load_split(spec, recipe.train_split, image_root=image_root, **options)
    eval_split = evaluation.split if evaluation is not None and evaluation.split else recipe.eval_split
    eval_set = load_split(spec, eval_split, image_root=image_root, **options)
    check_image_root(train_set)
    check_image_root(eval_set)
    fresh = not (out_dir / LAST_CHECKPOINT).exists()
    if ctx.is_main and fresh:  # a resumed run's recipe is checked against its checkpoint first
        _write_recipe(out_dir, recipe)
    _stage(cb, "train")
    trained = train(recipe, train_set, out_dir=out_dir, device=device, resume=resume, pretrained=pretrained,
                    progress=cb.train, num_classes=max(num_classes_of(train_set), num_classes_of(eval_set)),
                    notify=cb.message)
    outputs = RunOutputs(out_dir=out_dir, recipe=recipe, train=trained)
    if ctx.is_main:
        _write_recipe(out_dir, recipe)
        evaluation = evaluation or EvalOptions()
        maps_name, result_name = evaluation.file_names()
        _stage(cb, "extract")
        outputs.maps_path = extract_evaluation_maps(trained, recipe, eval_set, out_dir / maps_name, evaluation,
                                                    device=device, progress=cb.extract,
                                                    attrs=_maps_attrs(recipe, eval_set, spec, pretrained))
        _stage(cb, "evaluate")
        protocol = get_protocol(recipe.protocol, cam_step=recipe.cam_step)
        if getattr(eval_set, "resolution", None) is not None:
            protocol = protocol.with_(resolution=tuple(eval_set.resolution))
        outputs.result = evaluate_maps(outputs.maps_path, eval_set, protocol, workers=eval_workers,
                                       progress=cb.evaluate, spec=spec, box_sizes=box_sizes)
        outputs.result_path = Path(outputs.result.save(out_dir / result_name))
    return outputs


def extract_evaluation_maps(trained: TrainResult, recipe: Recipe, eval_set: AnnotationSet, path: Path,
                            evaluation: EvalOptions, *, device: str, attrs: dict, progress=None) -> Path:
    """Write the maps of ``eval_set`` made as ``evaluation`` says (method CAM or explainer, single
    pass or multi-crop)."""
    source = None
    if evaluation.explainer:
        from wsolbench.nn.explainers import make_map_source

        trained.model.eval()
        source = make_map_source(evaluation.explainer, trained.model)
    try:
        return extract_maps(trained.model, trained.method, eval_set, path, image_size=recipe.image_size,
                            batch_size=recipe.eval_batch_size, device=device, workers=recipe.workers,
                            attrs={**attrs, **evaluation.attrs()}, progress=progress, source=source,
                            multicrop=evaluation.multicrop, norm=InputNorm.named(recipe.normalize), amp=recipe.amp)
    finally:
        if source is not None:
            source.extractor.remove_hooks()


def _write_recipe(out_dir: Path, recipe: Recipe) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / RECIPE_FILE).write_text(recipe.to_toml(), encoding="utf-8")


def _stage(cb: Callbacks, name: str) -> None:
    if cb.stage is not None:
        cb.stage(name)
