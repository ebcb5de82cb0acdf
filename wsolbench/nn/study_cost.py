"""What a study will cost: throughput measured on the device, extrapolated to the cells left.

Before a real-data study starts, every distinct network of its unfinished cells (backbone and its
options, head pooling, input size, batch sizes) is timed on the study's device for a few SGD steps
(the training step of the method of its first cell, input transforms included) and a few forward
passes of CAM extraction, on random inputs. A cell then costs ``epochs left x training images / training
throughput`` plus ``maps to extract x crops / extraction throughput``. Data loading and the
evaluation on the CPU are not timed: the figure is device time, a lower bound where the data
loader cannot keep up. The steps run in fp32.

Example:
    >>> estimate = estimate_study(cells, job)            # doctest: +SKIP
    >>> round(estimate["device_hours"], 1)               # doctest: +SKIP
    57.3
"""

from __future__ import annotations

import json
import time
from pathlib import Path

#: SGD steps (and extraction batches) timed per model, after one untimed warm-up; the timing stops
#: earlier once it has taken BUDGET_SECONDS (a CPU needs seconds per step, a GPU milliseconds).
TIMED_STEPS = 3
BUDGET_SECONDS = 2.0


def _synchronize(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def _seconds_per_call(fn, device: str, steps: int) -> float:
    fn()  # warm-up: cuDNN autotuning, allocations, lazy initialisation
    _synchronize(device)
    start = time.perf_counter()
    done = 0
    while done < steps and (done == 0 or time.perf_counter() - start < BUDGET_SECONDS):
        fn()
        _synchronize(device)
        done += 1
    return (time.perf_counter() - start) / done


def measure_throughput(recipe, num_classes: int, device: str, *, steps: int = TIMED_STEPS) -> dict:
    """Images per second of ``recipe``'s training step and of its CAM extraction on ``device``.

    Returns:
        ``{"train_images_per_s": ..., "extract_images_per_s": ...}``.
    """
    import torch

    from wsolbench.nn.train import build_model, make_optimizer, step_generator

    model, method = build_model(recipe, num_classes)
    model.to(device)
    optimizer = make_optimizer(model, recipe)
    side = recipe.image_size
    images = torch.randn(recipe.batch_size, 3, side, side, device=device)
    labels = torch.randint(0, num_classes, (recipe.batch_size,), device=device)

    def train_step():
        out = method.training_step(model, images, labels, generator=step_generator(recipe.seed, 0, 0))
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        optimizer.step()

    model.train()
    train_seconds = _seconds_per_call(train_step, device, steps)
    batch = torch.randn(recipe.eval_batch_size, 3, side, side, device=device)

    def extract_step():
        with torch.no_grad():
            method.cams_and_logits(model, batch, None)

    model.eval()
    extract_seconds = _seconds_per_call(extract_step, device, steps)
    del model, optimizer, images, batch
    if device == "cuda":
        torch.cuda.empty_cache()
    return {"train_images_per_s": recipe.batch_size / train_seconds,
            "extract_images_per_s": recipe.eval_batch_size / extract_seconds}


def _epochs_done(run_dir: Path) -> int:
    log = run_dir / "train_log.jsonl"
    if not log.exists():
        return 0
    return sum(1 for line in log.read_text(encoding="utf-8").splitlines() if line.strip())


def _model_key(recipe) -> str:
    return json.dumps([recipe.backbone, recipe.backbone_options, recipe.pool, recipe.image_size, recipe.batch_size,
                       recipe.eval_batch_size], sort_keys=True, default=str)


def _crops(evaluation: str) -> int:
    return 10 if evaluation.startswith("multicrop") else 1


def estimate_study(cells, job) -> dict:
    """Estimate the device time of the unfinished ``cells`` (``[(cell, evaluations)]``) of a study run
    as ``job`` (:class:`wsolbench.nn.studies.CellJob`) says.

    Returns:
        ``{"device", "cells_left", "cells_total", "device_hours", "models": [{recipe, backbone,
        image_size, batch_size, train_images_per_s, extract_images_per_s, cells}], "note"}``.
    """
    import torch

    from wsolbench.nn.runner import load_split
    from wsolbench.nn.studies import _evaluation_options, _is_done, cell_recipe
    from wsolbench.nn.train import num_classes_of

    if job.threads:
        torch.set_num_threads(job.threads)  # as the cells will run
    sizes, speeds, models, seconds, left = {}, {}, {}, 0.0, 0
    for cell, evaluations in cells:
        recipe = cell_recipe(cell, job.overrides)
        run_dir = cell.run_dir(job.out)
        epochs = max(recipe.epochs - _epochs_done(run_dir), 0)
        todo = [e for e in evaluations if not _is_done(run_dir, recipe, _evaluation_options(e).file_names()[1])]
        if not todo:
            continue
        left += 1
        key = (cell.dataset.spec, recipe.train_split, recipe.eval_split)
        if key not in sizes:
            train_set, eval_set = (load_split(cell.dataset.spec, s, **cell.dataset.options) for s in key[1:])
            sizes[key] = (len(train_set), len(eval_set), max(num_classes_of(train_set), num_classes_of(eval_set)))
        n_train, n_eval, n_classes = sizes[key]
        model = _model_key(recipe)
        if model not in speeds:
            speeds[model] = measure_throughput(recipe, n_classes, job.device)
            models[model] = {"recipe": recipe.name, "backbone": recipe.backbone, "image_size": recipe.image_size,
                             "batch_size": recipe.batch_size, **{k: round(v, 1) for k, v in speeds[model].items()},
                             "cells": 0}
        models[model]["cells"] += 1
        speed = speeds[model]
        seconds += epochs * n_train / speed["train_images_per_s"]
        seconds += sum(n_eval * _crops(e) for e in todo) / speed["extract_images_per_s"]
    return {"device": job.device, "cells_left": left, "cells_total": len(cells), "device_hours": seconds / 3600.0,
            "models": list(models.values()),
            "note": "device time of training and map extraction, measured on random inputs (fp32); data loading "
                    "and the CPU evaluation come on top"}
