"""Training a WSOL classifier with image labels (SGD, step decay, checkpoints every epoch).

The schedule is the wsolevaluation one by default: SGD with (Nesterov) momentum and weight decay,
the new layers at ``lr * lr_classifier_ratio``, the lr multiplied by ``lr_decay_gamma`` every
``lr_decay_every`` epochs; recipes may instead decay it linearly per epoch (``lr_schedule =
"linear"``) or follow piecewise-constant (lr, weight decay) regimes (``"regimes"``, the
Hide-and-Seek code's). Float32 by default, as the reference (``recipe.amp`` opts into bf16/fp16
autocast, :mod:`wsolbench.nn.precision`); channels_last on CUDA. Deterministic on CPU: the
initialisation, the data order, the augmentation and the methods' per-step randomness are pure
functions of the recipe's seed, the epoch and the step, so ``resume`` reproduces an uninterrupted
run exactly.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch.utils.data import DataLoader, DistributedSampler

from wsolbench.datasets.records import AnnotationSet
from wsolbench.errors import WsolbenchError
from wsolbench.nn import checkpoint as ckpt
from wsolbench.nn import distributed as dist
from wsolbench.nn.backbones import create_backbone
from wsolbench.nn.data import EpochSampler, InputNorm, WSOLDataset
from wsolbench.nn.methods import create_method
from wsolbench.nn.precision import grad_scaler, precision
from wsolbench.nn.recipe import Recipe

#: progress(done_steps, total_steps, message)
Progress = Callable[[int, int, str], None]
TRAIN_LOG = "train_log.jsonl"
PROGRESS_EVERY = 10  # steps between progress messages that read the running loss


@dataclass
class EpochStats:
    """Statistics of one training epoch (``epoch`` = number of epochs completed, 1-based)."""

    epoch: int
    loss: float
    top1: float
    images: int
    seconds: float
    lr: float


@dataclass
class TrainResult:
    """A trained model (unwrapped, eval mode), its method and what happened."""

    model: torch.nn.Module
    method: object
    history: list[EpochStats] = field(default_factory=list)
    checkpoint: Path | None = None
    start_epoch: int = 0
    pretrained: ckpt.PretrainedReport | None = None


class StepDecay:
    """lr factor of 0-based epoch e: ``gamma ** ((e + 1) // every)`` (wsolevaluation decays before
    the epochs numbered every, 2*every, ... counting from 1). A picklable callable, so the
    scheduler's state dict holds only numbers."""

    def __init__(self, every: int, gamma: float):
        self.every, self.gamma = int(every), float(gamma)

    def __call__(self, epoch: int) -> float:
        return self.gamma ** ((epoch + 1) // self.every)


class LinearDecay:
    """lr factor of 0-based epoch e of ``epochs``: linear from 1 (first epoch) to ``final_ratio``
    (last epoch): ``1 + (final_ratio - 1) * e / (epochs - 1)``."""

    def __init__(self, epochs: int, final_ratio: float):
        self.epochs, self.final_ratio = int(epochs), float(final_ratio)

    def __call__(self, epoch: int) -> float:
        span = max(self.epochs - 1, 1)
        return 1.0 + (self.final_ratio - 1.0) * min(epoch, span) / span


class Regimes:
    """Piecewise-constant lr and weight decay: ``regimes`` rows ``(first_epoch, lr, weight_decay)``,
    1-based epochs; the lr factor of 0-based epoch e is the lr of the last row starting at or before
    e + 1, divided by the base ``lr``."""

    def __init__(self, regimes, lr: float):
        self.regimes, self.lr = [list(r) for r in regimes], float(lr)

    def row(self, epoch: int) -> list:
        return [r for r in self.regimes if r[0] <= epoch + 1][-1]

    def __call__(self, epoch: int) -> float:
        return self.row(epoch)[1] / self.lr if self.lr else 0.0

    def weight_decay(self, epoch: int) -> float:
        return float(self.row(epoch)[2])


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when available else ``cpu``; ``cuda`` without a GPU is an error."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise WsolbenchError("--device cuda: no CUDA device is available (torch.cuda.is_available() is False); "
                             "use --device cpu or auto")
    if device not in ("cpu", "cuda"):
        raise WsolbenchError(f"unknown device {device!r}; use auto, cpu or cuda")
    return device


def num_classes_of(annotations: AnnotationSet) -> int:
    """``annotations.num_classes``, or 1 + the largest label."""
    if annotations.num_classes:
        return int(annotations.num_classes)
    return 1 + max(max(r.labels) for r in annotations.records)


def build_model(recipe: Recipe, num_classes: int, *, pretrained=None):
    """Seeded backbone prepared by the recipe's method (+ pretrained weights, see
    :func:`load_recipe_weights`); returns ``(model, method)``."""
    method = create_method(recipe.method, **recipe.method_options)
    method.input_norm = InputNorm.named(recipe.normalize)
    torch.manual_seed(recipe.seed)
    model = create_backbone(recipe.backbone, num_classes=num_classes, pool=recipe.pool,
                            architecture=method.architecture, **recipe.backbone_options)
    model = method.prepare_model(model)
    if pretrained:
        load_recipe_weights(model, method, recipe, pretrained)
    return model, method


def load_recipe_weights(model, method, recipe: Recipe, pretrained) -> ckpt.PretrainedReport:
    """Load ``--pretrained`` weights the way wsolevaluation does for this recipe: the ImageNet
    classifier is kept when training on ILSVRC (its own 1000 classes) with a method that keeps
    the CAM architecture (``method.keeps_imagenet_head``), replaced otherwise."""
    keep_head = recipe.dataset == "ilsvrc" and method.keeps_imagenet_head
    return ckpt.load_pretrained(model, pretrained, keep_head=keep_head)


def make_optimizer(model, recipe: Recipe) -> torch.optim.SGD:
    """SGD over the backbone's parameter groups (new layers at ``lr * lr_classifier_ratio``)."""
    groups = model.param_groups(lr=recipe.lr, classifier_ratio=recipe.lr_classifier_ratio)
    return torch.optim.SGD(groups, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay,
                           nesterov=recipe.nesterov and recipe.momentum > 0)


def lr_factor(recipe: Recipe):
    """The recipe's lr schedule: a picklable callable, 0-based epoch -> factor of the base lr."""
    if recipe.lr_schedule == "linear":
        return LinearDecay(recipe.epochs, recipe.lr_final / recipe.lr if recipe.lr else 1.0)
    if recipe.lr_schedule == "regimes":
        return Regimes(recipe.lr_regimes, recipe.lr)
    return StepDecay(recipe.lr_decay_every, recipe.lr_decay_gamma)


def make_scheduler(optimizer, recipe: Recipe):
    """A per-epoch ``LambdaLR`` over every parameter group (:func:`lr_factor`)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(recipe))


def set_epoch_weight_decay(optimizer, scheduler, epoch: int) -> None:
    """Under ``regimes`` the weight decay changes with the epoch too (set before the epoch trains)."""
    schedule = scheduler.lr_lambdas[0]
    if isinstance(schedule, Regimes):
        for group in optimizer.param_groups:
            group["weight_decay"] = schedule.weight_decay(epoch)


def step_generator(seed: int, epoch: int, step: int) -> torch.Generator:
    """The CPU generator a method draws its per-step randomness from."""
    g = torch.Generator()
    g.manual_seed(((seed * 1_000_003 + epoch) * 1_000_003 + step) % (2**63 - 1))
    return g


def _loader(dataset, recipe: Recipe, ctx: dist.DistContext, *, device: str):
    if recipe.batch_size % ctx.world_size:
        raise WsolbenchError(f"batch size {recipe.batch_size} (the global batch) is not divisible by the "
                             f"{ctx.world_size} processes; choose a multiple")
    if ctx.enabled:
        sampler = DistributedSampler(dataset, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True,
                                     seed=recipe.seed)
    else:
        sampler = EpochSampler(len(dataset), shuffle=True, seed=recipe.seed)
    loader = DataLoader(dataset, batch_size=recipe.batch_size // ctx.world_size, sampler=sampler,
                        num_workers=recipe.workers, pin_memory=device == "cuda",
                        generator=torch.Generator().manual_seed(recipe.seed))
    return loader, sampler


def _check_resume(state: dict, recipe: Recipe, path) -> None:
    saved = dict(state["recipe"])
    mine = recipe.to_dict()
    defaults = Recipe().to_dict()  # a key a checkpoint of an older version lacks had its default value
    ignore = {"epochs", "workers", "eval_batch_size", "name", "description", "source", "sources", "variant"}
    diff = sorted(k for k in mine if k not in ignore and saved.get(k, defaults.get(k)) != mine[k])
    if diff:
        raise ckpt.CheckpointError(f"{path}: the checkpoint was trained with a different recipe ({', '.join(diff)} "
                                   "differ); resume with the same settings or use another --out")


def _restore(out_dir: Path, model, optimizer, scheduler, recipe: Recipe, *, resume: bool) -> int:
    path = out_dir / ckpt.LAST_CHECKPOINT
    if not path.exists():
        return 0
    if not resume:
        raise WsolbenchError(f"{path} exists: pass --resume to continue that run, or choose another --out")
    state = ckpt.load_checkpoint(path)
    _check_resume(state, recipe, path)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    ckpt.set_rng_state(state["rng"])
    return int(state["epoch"])


def uses_bce(recipe: Recipe, annotations: AnnotationSet) -> bool:
    """Whether training uses BCE over multi-hot label sets (``loss = bce``, or ``auto`` on multi-label data)."""
    return recipe.loss == "bce" or (recipe.loss == "auto" and annotations.multilabel)


def _num_correct(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Top-1 hits: the predicted class is the label (class indices) or one of the labels (multi-hot)."""
    predicted = logits.detach().argmax(1)
    if labels.ndim == 2:
        return (labels.gather(1, predicted[:, None]) > 0).sum()
    return (predicted == labels).sum()


def _train_epoch(model, method, loader, optimizer, *, device, epoch, seed, progress, done, total, amp, scaler):
    model.train()
    # Running sums stay on the device: no host synchronisation per step (only for progress messages).
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    seen, start, message = 0, time.perf_counter(), f"epoch {epoch + 1}"
    for step, (images, labels, _, *pixels) in enumerate(loader):
        images = images.to(device, non_blocking=True)
        if device == "cuda":
            images = images.contiguous(memory_format=torch.channels_last)
        labels = labels.to(device, non_blocking=True)
        # pixel-level targets, only for methods that train on them (the few-shot learning baseline)
        extra = {"pixel_targets": pixels[0].to(device, non_blocking=True)} if pixels else {}
        with precision(device, amp):
            out = method.training_step(model, images, labels, generator=step_generator(seed, epoch, step), **extra)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(out.loss).backward()
        scaler.step(optimizer)
        scaler.update()
        loss_sum += out.loss.detach().double() * len(labels)
        correct += _num_correct(out.logits, labels)
        seen += len(labels)
        if progress is not None:
            if step % PROGRESS_EVERY == 0:
                message = f"epoch {epoch + 1} loss {float(loss_sum) / seen:.3f}"
            progress(done + step + 1, total, message)
    return float(loss_sum), int(correct), seen, time.perf_counter() - start


def train(recipe: Recipe, annotations: AnnotationSet, *, out_dir, device: str = "cpu", resume: bool = False,
          pretrained=None, progress: Progress | None = None, num_classes: int | None = None,
          notify: Callable[[str], None] | None = None) -> TrainResult:
    """Train ``recipe`` on the ``annotations`` split; checkpoint every epoch into ``out_dir``.

    Args:
        recipe: the hyper-parameters.
        annotations: the training split (``root`` must name the image folder).
        out_dir: run folder; ``checkpoint_last.pt`` and ``train_log.jsonl`` are written there.
        device: ``cpu`` or ``cuda`` (see :func:`resolve_device`).
        resume: continue from ``out_dir/checkpoint_last.pt`` (an existing checkpoint without
            ``resume`` is an error, so a run is never overwritten by accident).
        pretrained: ImageNet weights (path) for the backbone trunk, or ``None``.
        progress: ``progress(done_steps, total_steps, message)`` or ``None``.
        num_classes: override the number of classes (default: from the annotations).
        notify: ``notify(message)`` for one-line messages (what ``pretrained`` loaded), or ``None``.

    Returns:
        A :class:`TrainResult` with the trained (unwrapped, eval-mode) model.
    """
    out_dir = Path(out_dir)
    ctx = dist.current()
    n_classes = num_classes or num_classes_of(annotations)
    model, method = build_model(recipe, n_classes)
    report = load_recipe_weights(model, method, recipe, pretrained) if pretrained else None
    if report is not None and notify is not None and ctx.is_main:
        notify(f"pretrained: {report.summary()}")
    model.to(device)
    if device == "cuda":
        model = model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, recipe)
    scheduler = make_scheduler(optimizer, recipe)
    start = _restore(out_dir, model, optimizer, scheduler, recipe, resume=resume)
    dataset = WSOLDataset(annotations, train=True, size=recipe.image_size, resize=recipe.resize_size,
                          seed=recipe.seed, num_classes=n_classes if uses_bce(recipe, annotations) else None,
                          pixel_targets=getattr(method, "pixel_supervision", False),
                          norm=InputNorm.named(recipe.normalize), flip=recipe.train_flip)
    loader, sampler = _loader(dataset, recipe, ctx, device=device)
    wrapped = dist.wrap_model(model, ctx, device=device)
    result = TrainResult(model=model, method=method, checkpoint=out_dir / ckpt.LAST_CHECKPOINT, start_epoch=start,
                         pretrained=report)
    total = len(loader) * max(recipe.epochs - start, 0)
    scaler = grad_scaler(device, recipe.amp)
    for epoch in range(start, recipe.epochs):
        sampler.set_epoch(epoch)
        dataset.set_epoch(epoch)
        set_epoch_weight_decay(optimizer, scheduler, epoch)
        lr = optimizer.param_groups[0]["lr"]
        sums = _train_epoch(wrapped, method, loader, optimizer, device=device, epoch=epoch, seed=recipe.seed,
                            progress=progress if ctx.is_main else None, done=(epoch - start) * len(loader),
                            total=total, amp=recipe.amp, scaler=scaler)
        loss_sum, correct, seen = dist.all_reduce_sum(list(sums[:3]), ctx, device=device)
        if not math.isfinite(loss_sum):
            raise WsolbenchError(f"training diverged in epoch {epoch + 1} of {recipe.name}: the loss is NaN or "
                                 f"infinite (lr {lr:g}); lower the learning rate (--lr) or use float32 (--amp none)")
        scheduler.step()
        stats = EpochStats(epoch=epoch + 1, loss=loss_sum / seen, top1=100.0 * correct / seen, images=int(seen),
                           seconds=sums[3], lr=lr)
        result.history.append(stats)
        if ctx.is_main:
            ckpt.save_checkpoint(result.checkpoint, model=model, optimizer=optimizer, scheduler=scheduler,
                                 epoch=epoch + 1, recipe=recipe.to_dict())
            with open(out_dir / TRAIN_LOG, "a", encoding="utf-8") as f:
                f.write(json.dumps(asdict(stats)) + "\n")
        dist.barrier(ctx)
    model.eval()
    return result
