"""``wsolbench baseline``: reference baselines (``list``, ``run``).

Trained methods (``cam``, ...) import torch lazily; the sanity baselines (center-gaussian,
random, full-image) need no torch. Results on stdout, progress and messages on stderr.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

import click

from wsolbench.cli.options import WORKERS, option_flag, parse_options
from wsolbench.cli.render import echo_json, result_table, stderr_console, stdout_console

SANITY_KINDS = ("center-gaussian", "random", "full-image")
DEVICES = ("auto", "cpu", "cuda")


@click.group()
def baseline():
    """Reference baselines: train + extract + evaluate WSOL methods, or write sanity maps."""


# -- list ------------------------------------------------------------------------------------

def _recipe_rows() -> list[dict]:
    from wsolbench.nn.recipe import list_recipes

    keys = ("name", "method", "backbone", "dataset", "epochs", "batch_size", "lr", "lr_decay_every",
            "weight_decay", "pretrained", "image_size", "cam_step", "amp")
    return [{**{k: getattr(r, k) for k in keys}, "large_feature_map": r.backbone_options.get("large_feature_map"),
             "lr_source": r.sources.get("lr"), "sources": r.sources} for r in list_recipes()]


_SOURCE_KINDS = (("not published", "not published"), ("third-party:", "third-party"), ("authors:", "authors"),
                 ("wsolevaluation code", "reference code"), ("wsolbench", "wsolbench"))


def short_source(text: str | None) -> str | None:
    """A short label of a value's source: ``third-party dual-cam``, ``not published``, ``authors``, ..."""
    if not text:
        return None
    for prefix, label in _SOURCE_KINDS:
        if text.startswith(prefix):
            if label == "third-party":
                repo = text.removeprefix(prefix).split()[0]
                return f"{label} {repo.split('/')[-1]}"
            return label
    return text.split(" (")[0].split(";")[0]


def _backbone_rows() -> list[dict] | None:
    try:
        from wsolbench.nn.backbones import list_backbones
    except ImportError:  # torch not installed
        return None
    return [{"name": b.name, "aliases": list(b.aliases), "family": b.family, "torchvision": b.torchvision,
             "summary": b.summary} for b in list_backbones()]


def _cell(value) -> str:
    return "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


_HEADERS = {"epochs": "ep", "batch_size": "batch", "lr_decay_every": "decay", "weight_decay": "wd",
            "pretrained": "init", "large_feature_map": "lfm", "lr_source": "lr source"}


def _table(title: str, rows: list[dict], columns: tuple[str, ...]):
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for c in columns:
        # Names fold rather than squeeze the number columns to nothing on an 80-column terminal.
        table.add_column(_HEADERS.get(c, c), overflow="fold",
                         no_wrap=c not in ("name", "lr_source", "summary", "aliases", "torchvision"))
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    return table


@baseline.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def list_cmd(as_json):
    """List the recipes (one per baseline), the backbones and the sanity baselines."""
    recipes, backbones = _recipe_rows(), _backbone_rows()
    if as_json:
        click.echo(json.dumps({"recipes": recipes, "backbones": backbones, "sanity": list(SANITY_KINDS)}))
        return
    out = stdout_console()
    shown = [{**r, "lr_source": short_source(r["lr_source"])} for r in recipes]
    out.print(_table("recipes (wsolbench baseline run METHOD --recipe NAME; the source of every value: "
                     "\\[recipe.sources] in the TOML, or --json)", shown,
                     ("name", "epochs", "lr", "lr_source", "lr_decay_every", "weight_decay", "large_feature_map")))
    if backbones is None:
        stderr_console().print("backbones: install torch to list them (pip install torch==2.13.0)")
    else:
        rows = [{**b, "aliases": ", ".join(b["aliases"]) or None} for b in backbones]
        out.print(_table("backbones (--backbone NAME or alias; --pretrained loads the named torchvision checkpoint)",
                         rows, ("name", "aliases", "family", "torchvision", "summary")))
    out.print(_table("sanity baselines (no training)", [{"kind": k} for k in SANITY_KINDS], ("kind",)))


# -- run -------------------------------------------------------------------------------------

def require_torch(threads: int | None = None) -> None:
    """Trained baselines need torch; say how to install it instead of a traceback. ``threads`` sets
    torch's intra-op CPU threads (``None`` keeps torch's default)."""
    try:
        import torch
    except ImportError as e:
        from wsolbench.errors import WsolbenchError

        raise WsolbenchError("trained baselines need PyTorch, which is not installed: pip install torch==2.13.0 "
                             "(or your CUDA build) then pip install 'wsolbench[torch]'; sanity baselines "
                             "(center-gaussian, random, full-image) work without it") from e
    if threads:
        torch.set_num_threads(threads)


def _protocol_for(annotations, name: str, cam_step: float | None):
    from wsolbench.protocol import get_protocol

    protocol = get_protocol(name, cam_step=cam_step)
    resolution = getattr(annotations, "resolution", None)
    return protocol.with_(resolution=tuple(resolution)) if resolution is not None else protocol


def _sanity_paths(kind: str, out: str | None) -> tuple[Path, Path]:
    target = Path(out) if out else Path("runs") / f"sanity-{kind}"
    maps = target if target.suffix in (".h5", ".hdf5") else target / f"sanity-{kind}.h5"
    return maps, maps.with_name(maps.stem + ".result.json")


def _emit(result_dict: dict, as_json: bool) -> None:
    if as_json:
        echo_json(result_dict)
    else:
        stdout_console().print(result_table(result_dict))


def run_sanity(kind: str, *, spec: str, split: str | None, out: str | None, seed: int, protocol_name: str,
               cam_step: float | None, workers: int, options: dict, quiet: bool) -> dict:
    """Write a sanity baseline's maps and evaluate them; returns the result dict."""
    from wsolbench.cli.render import progress_bar
    from wsolbench.datasets import load_annotations
    from wsolbench.outputs import check_outputs, output_file, staged_folder
    from wsolbench.pipeline import evaluate_maps
    from wsolbench.sanity import write_sanity_maps

    maps_path, result_path = _sanity_paths(kind, out)
    check_outputs([output_file(maps_path, "--out"), output_file(result_path, "--out")])
    annotations = load_annotations(spec, split=split, **options)
    protocol = _protocol_for(annotations, protocol_name, cam_step)
    with staged_folder(maps_path.parent) as stage:     # maps and result appear together or not at all
        written = write_sanity_maps(kind, annotations, stage / maps_path.name, protocol=protocol, seed=seed)
        with progress_bar(f"evaluating {kind}", disable=quiet) as update:
            result = evaluate_maps(written, annotations, protocol, workers=workers, progress=update, spec=spec)
        result.maps["path"] = os.path.abspath(maps_path)
        result.save(stage / result_path.name)
    stderr_console().print(f"maps: {maps_path}\nresult: {result_path}")
    return result.to_dict()


@contextmanager
def run_progress(disable: bool):
    """Rich progress on stderr; yields :class:`~wsolbench.nn.runner.Callbacks`."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from wsolbench.interrupts import check as check_interrupt
    from wsolbench.nn.runner import Callbacks

    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=stderr_console(), disable=disable)
    tasks: dict[str, int] = {}

    def task(name: str) -> int:
        if name not in tasks:
            tasks[name] = progress.add_task(name, total=None)
        return tasks[name]

    def train(done, total, message):
        check_interrupt()
        progress.update(task("train"), completed=done, total=total, description=f"train: {message}")

    def counter(name):
        def update(done, total):
            check_interrupt()
            progress.update(task(name), completed=done, total=total)
        return update

    with progress:
        yield Callbacks(stage=lambda name: task(name), train=train, extract=counter("extract"),
                        evaluate=counter("evaluate"),
                        message=lambda text: progress.console.print(text, markup=False, highlight=False))


def parse_method_options(pairs: tuple[str, ...]) -> dict:
    """``("key=value", ...)`` -> method options; values are read as TOML values (``16``, ``[0, 16, 32]``,
    ``true``, ``1e-4``, ``"mean"``), else kept as text (``mean``)."""
    import tomllib

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r} (e.g. -m patch_sizes=32, "
                                     "-m 'patch_sizes=[0,16,32]')", param_hint="-m/--method-option")
        try:
            out[key.strip()] = tomllib.loads(f"v = {value.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = value.strip()
    return out


def evaluation_options(multicrop: float | None, explainer: str | None):
    """The runner's :class:`~wsolbench.nn.runner.EvalOptions` from ``--multicrop`` / ``--explainer``."""
    from wsolbench.errors import WsolbenchError
    from wsolbench.nn.multicrop import MultiCrop
    from wsolbench.nn.runner import EvalOptions

    try:
        crops = MultiCrop(ratio=multicrop) if multicrop is not None else None
    except ValueError as e:
        raise WsolbenchError(f"--multicrop: {e}") from e
    return EvalOptions(multicrop=crops, explainer=explainer)


def run_trained_cli(method: str, *, spec: str, backbone, recipe_name, overrides: dict, device: str, out,
                    resume: bool, pretrained, image_root, split, workers: int, options: dict, quiet: bool,
                    threads: int | None = None, method_options: dict | None = None,
                    multicrop: float | None = None, explainer: str | None = None,
                    large_feature_map: bool | None = None):
    """The trained-method branch of ``baseline run``; returns the runner's outputs."""
    from wsolbench.nn.recipe import require_family

    if not recipe_name:
        require_family(spec)  # before torch is even imported
    require_torch(threads)
    from wsolbench.nn import distributed as dist
    from wsolbench.nn.backbones import check_backbone_options
    from wsolbench.nn.methods import merge_method_options, method_architecture
    from wsolbench.nn.runner import choose_recipe, run_trained
    from wsolbench.outputs import check_outputs, output_folder

    recipe = choose_recipe(method, spec=spec, backbone=backbone, recipe=recipe_name)
    recipe = recipe.replace(eval_split=split, **overrides)
    if large_feature_map is not None:
        recipe = recipe.replace(backbone_options={**recipe.backbone_options, "large_feature_map": large_feature_map})
    check_backbone_options(recipe.backbone, recipe.backbone_options, architecture=method_architecture(method))
    if method_options:
        recipe = recipe.replace(method_options=merge_method_options(recipe.method, recipe.method_options,
                                                                    method_options))
    evaluation = evaluation_options(multicrop, explainer)
    err = stderr_console()
    if recipe.pretrained == "imagenet" and not pretrained:
        err.print(f"[yellow]note:[/] recipe {recipe.name} starts from ImageNet weights in the published protocol; "
                  "without --pretrained PATH the backbone trains from scratch and numbers are not comparable")
    out_dir = Path(out) if out else Path("runs") / recipe.name
    check_outputs([output_folder(out_dir, "--out")], inputs={"--pretrained": pretrained})
    is_main = int(os.environ.get("RANK", "0")) == 0
    try:
        with run_progress(disable=quiet or not is_main) as callbacks:
            outputs = run_trained(recipe, spec=spec, out_dir=out_dir, device=device, resume=resume,
                                  pretrained=pretrained, image_root=image_root, eval_workers=workers,
                                  callbacks=callbacks, dataset_options=options, evaluation=evaluation)
    finally:
        dist.shutdown(dist.current())
    if outputs.result is not None:
        for h in outputs.train.history:
            err.print(f"epoch {h.epoch}: loss {h.loss:.4f}, train top-1 {h.top1:.1f}%, {h.seconds:.1f}s")
        maps_name, result_name = evaluation.file_names()
        err.print(f"run folder: {out_dir} (recipe.toml, checkpoint_last.pt, {maps_name}, {result_name})")
    return outputs


@baseline.command("run")
@click.argument("method")
@click.option("--dataset", "spec", required=True, metavar="NAME:PATH",
              help="Dataset spec, e.g. synthetic:, wsoleval:metadata/CUB (with --image-root), cub:/data/CUB_200_2011.")
@click.option("--backbone", default=None, help="Backbone (default: the recipe's; see `wsolbench baseline list`).")
@click.option("--recipe", "recipe_name", default=None, help="Recipe name or TOML file (default: by method, dataset "
              "and backbone).")
@click.option("--epochs", type=click.IntRange(1), default=None, help="Override the recipe's epochs.")
@click.option("--batch-size", type=click.IntRange(1), default=None, help="Override the (global) batch size.")
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=None, help="Override the learning rate.")
@click.option("--pool", type=click.Choice(["gap", "gmp"]), default=None,
              help="Global pooling of the head: gap (CAM) or gmp (max pooling); default: the recipe's.")
@click.option("--large-feature-map/--no-large-feature-map", "large_feature_map", default=None,
              help="wsolevaluation's large_feature_map (28x28 maps at 224: VGG16 without pool4, ResNet50 layer3 at "
                   "stride 1, InceptionV3 without the pool after Mixed_5d); default: the recipe's.")
@click.option("--amp", type=click.Choice(["none", "bf16", "fp16"]), default=None,
              help="Mixed precision for training and map extraction (default: the recipe's, none = float32 "
                   "as the reference); recorded in recipe.toml and the result.")
@click.option("-m", "--method-option", "method_option", multiple=True, metavar="KEY=VALUE",
              help="Method option, repeatable, overriding the recipe's [method] table (TOML values: "
                   "-m patch_sizes=32, -m 'patch_sizes=[0,16,32]', -m lambda=1e-3).")
@click.option("--multicrop", type=float, is_flag=False, flag_value=0.875, default=None, metavar="[RATIO]",
              help="Evaluate with the 10-crop test (4 corners + centre and their flips; crop = RATIO of the "
                   "image side, default 0.875): maps and scores averaged in the full image. Writes "
                   "maps.multicrop10-RATIO.h5 / result.multicrop10-RATIO.json; with --resume on a finished "
                   "run, no retraining.")
@click.option("--explainer", default=None, metavar="torchcam:NAME",
              help="Map source instead of the method's CAM: a torchcam explainer (GradCAM, GradCAMpp, "
                   "SmoothGradCAMpp, XGradCAM, LayerCAM, ScoreCAM, SSCAM, ISCAM); needs pip install torchcam.")
@click.option("--seed", type=click.IntRange(0), default=None, help="Seed (training; the random sanity baseline).")
@click.option("--workers", "loader_workers", type=click.IntRange(0), default=None, help="DataLoader workers.")
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True)
@click.option("--threads", type=click.IntRange(1), default=None,
              help="CPU threads of torch (default: torch's; 1 is faster on a machine shared with other jobs).")
@click.option("--out", default=None, help="Run folder (trained methods; default runs/RECIPE) or, for sanity "
              "baselines, the maps file or a folder (default runs/sanity-KIND).")
@click.option("--resume", is_flag=True, help="Continue an interrupted run from OUT/checkpoint_last.pt.")
@click.option("--pretrained", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Weights to start from: a torchvision ImageNet state dict (the trunk; ResNet50 keeps its "
                   "classifier on ILSVRC, as wsolevaluation) or a wsolevaluation checkpoint "
                   "(last_checkpoint.pth.tar: the whole model). Says which keys it loaded and re-indexed.")
@click.option("--image-root", type=click.Path(exists=True, file_okay=False), default=None,
              help="Folder the image ids are relative to (needed for wsoleval: metadata).")
@click.option("--split", default=None, help="Split to extract and evaluate (default: the recipe's, usually test).")
@click.option("--mask-root", type=click.Path(file_okay=False), default=None, help="Mask folder (wsoleval: masks).")
@click.option("--protocol", "protocol_name", type=click.Choice(["wsoleval", "cam2016"]), default=None,
              help="Evaluation protocol (default: the recipe's, wsoleval).")
@click.option("--cam-step", type=float, default=None,
              help="CAM-threshold step (trained methods: the recipe's, 0.001 in the real-dataset recipes; sanity "
                   "baselines: the protocol's, 0.001).")
@click.option("--eval-workers", type=WORKERS, default=1, show_default=True,
              help="Processes for the evaluation.")
@click.option("--json", "as_json", is_flag=True, help="Print the result JSON instead of a table.")
@option_flag
def run_cmd(method, spec, backbone, recipe_name, epochs, batch_size, lr, pool, large_feature_map, amp, method_option,
            multicrop, explainer, seed, loader_workers, device, threads, out, resume, pretrained, image_root, split,
            mask_root, protocol_name, cam_step, eval_workers, as_json, options):
    """Run baseline METHOD on a dataset: a trained method (cam, has, cutmix, adl, er, input-dropout,
    augment) is trained, its maps extracted and evaluated; a sanity baseline (center-gaussian, random,
    full-image) is written and evaluated. Without --recipe the recipe follows the dataset's family
    (cub, ilsvrc, openimages, synthetic), the method and the backbone."""
    adapter_options = parse_options(options)
    if mask_root:
        adapter_options["mask_root"] = mask_root
    if method in SANITY_KINDS:
        data = run_sanity(method, spec=spec, split=split, out=out, seed=seed or 0,
                          protocol_name=protocol_name or "wsoleval", cam_step=cam_step, workers=eval_workers,
                          options=adapter_options, quiet=as_json)
        _emit(data, as_json)
        return
    overrides = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "pool": pool, "seed": seed,
                 "workers": loader_workers, "amp": amp,
                 "protocol": protocol_name, "cam_step": cam_step}
    outputs = run_trained_cli(method, spec=spec, backbone=backbone, recipe_name=recipe_name, overrides=overrides,
                              device=device, out=out, resume=resume, pretrained=pretrained, image_root=image_root,
                              split=split, workers=eval_workers, options=adapter_options, quiet=as_json,
                              threads=threads, method_options=parse_method_options(method_option),
                              multicrop=multicrop, explainer=explainer, large_feature_map=large_feature_map)
    if outputs.result is not None:
        _emit(outputs.result.to_dict(), as_json)
