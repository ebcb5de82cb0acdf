"""Training throughput of a CAM backbone: the real training loop vs raw forward+backward.

Usage::

    python benchmarks/bench_train_throughput.py                      # ResNet50-CAM, 224x224, batch 32
    python benchmarks/bench_train_throughput.py --device cpu --size 64 --batch 4 --steps 3 --warmup 1

Two measurements in the same process, same model, same optimiser (SGD, Nesterov momentum, the
recipe's parameter groups), bf16 autocast + channels_last on CUDA:

* ``raw``: forward + backward + step on one random tensor already on the device (the model's
  ceiling).
* ``pipeline``: ``wsolbench.nn.train.train`` for one epoch over generated PNG images through
  ``WSOLDataset`` (decode, resize, random crop, flip, normalise) and a DataLoader with ``--workers``
  processes, i.e. what ``wsolbench baseline run`` does.

Images/s exclude the first ``--warmup`` steps of each (allocator, cuDNN autotuning). The ratio
pipeline/raw is the fraction of the model's speed the data path keeps; below ~0.9 the loader is
the bottleneck (raise --workers).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from wsolbench.datasets.records import AnnotationSet, ImageRecord  # noqa: E402
from wsolbench.nn.recipe import get_recipe  # noqa: E402
from wsolbench.nn.train import build_model, make_optimizer, resolve_device, train  # noqa: E402


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def raw_throughput(recipe, *, device: str, size: int, batch: int, steps: int, warmup: int,
                   num_classes: int) -> float:
    """Images/s of forward + backward + SGD step on a random batch already on the device."""
    model, _ = build_model(recipe, num_classes)
    model.to(device).train()
    amp = device == "cuda"
    images = torch.randn(batch, 3, size, size, device=device)
    if amp:
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, num_classes, (batch,), device=device)
    optimizer = make_optimizer(model, recipe)
    for step in range(warmup + steps):
        if step == warmup:
            _sync(device)
            start = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            loss = torch.nn.functional.cross_entropy(model(images).float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    _sync(device)
    return steps * batch / (time.perf_counter() - start)


def write_images(folder: Path, n: int, *, side: int, num_classes: int, seed: int = 0) -> AnnotationSet:
    """``n`` random RGB PNGs of ``side x side`` (noise + a bright square) and their annotation set."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        img = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
        x, y = rng.integers(0, side // 2, 2)
        img[y:y + side // 3, x:x + side // 3] = 255
        image_id = f"{i:05d}.png"
        Image.fromarray(img).save(folder / image_id)
        records.append(ImageRecord(image_id, (int(i % num_classes),), (side, side)))
    return AnnotationSet(records=records, name="bench", split="train", num_classes=num_classes, root=str(folder))


def pipeline_throughput(recipe, annotations, *, device: str, batch: int, warmup: int, out_dir: Path) -> float:
    """Images/s of one epoch of :func:`wsolbench.nn.train.train` (steps after ``warmup``)."""
    stamps = []

    def progress(done, total, message):
        _sync(device)
        stamps.append(time.perf_counter())

    train(recipe, annotations, out_dir=out_dir, device=device, progress=progress)
    steps = len(stamps) - warmup
    return steps * batch / (stamps[-1] - stamps[warmup - 1]) if warmup else float("nan")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", default="resnet50")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--size", type=int, default=224, help="input (crop) size")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20, help="timed steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (>= 1)")
    parser.add_argument("--workers", type=int, default=4, help="DataLoader workers of the pipeline")
    parser.add_argument("--classes", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    warmup = max(1, args.warmup)
    resize = args.size * 8 // 7
    recipe = get_recipe("cam-resnet50-cub").replace(
        name="bench", backbone=args.backbone, backbone_options={}, pretrained="none", epochs=1,
        batch_size=args.batch, image_size=args.size, resize_size=resize, workers=args.workers)
    raw = raw_throughput(recipe, device=device, size=args.size, batch=args.batch, steps=args.steps, warmup=warmup,
                         num_classes=args.classes)
    with tempfile.TemporaryDirectory() as tmp:
        images = Path(tmp) / "images"
        images.mkdir()
        annotations = write_images(images, (warmup + args.steps) * args.batch, side=resize, num_classes=args.classes)
        pipe = pipeline_throughput(recipe, annotations, device=device, batch=args.batch, warmup=warmup,
                                   out_dir=Path(tmp) / "run")
    report = {"backbone": args.backbone, "device": device,
              "device_name": torch.cuda.get_device_name() if device == "cuda" else platform.processor() or "cpu",
              "torch_threads": torch.get_num_threads(), "size": args.size, "batch": args.batch, "steps": args.steps,
              "workers": args.workers, "bf16_channels_last": device == "cuda",
              "raw_images_per_s": round(raw, 2), "pipeline_images_per_s": round(pipe, 2),
              "pipeline_over_raw": round(pipe / raw, 3)}
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{args.backbone}-CAM {args.size}x{args.size} batch {args.batch} on {report['device_name']} "
              f"({device}, {report['torch_threads']} threads, bf16+channels_last: {report['bf16_channels_last']})")
        print(f"  raw forward+backward : {raw:10.2f} images/s")
        print(f"  training pipeline    : {pipe:10.2f} images/s  ({args.workers} loader workers)")
        print(f"  pipeline / raw       : {pipe / raw:10.3f}")
    return report


if __name__ == "__main__":
    main()
