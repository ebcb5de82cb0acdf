"""End-to-end speed of ``wsolbench evaluate`` (file -> metrics) with 1 and 2 worker processes,
against the naive per-threshold box implementation, in the same run.

Usage: ``python benchmarks/bench_evaluate.py [--n 200] [--naive 10]``

Writes a score-map file of ``n`` CAM-like 224x224 maps (normalised, float16) and matching
wsolevaluation metadata in a temporary folder, then times ``evaluate_maps`` (reading, GT resizing,
MaxBoxAcc + MaxBoxAccV2 + top-1) at CAM steps 0.01 and 0.001. The naive baseline is
``benchmarks/naive_boxes.py`` on ``--naive`` of the same maps (box metrics only, one process).
Numba compilation is excluded (a warm-up evaluation first).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_boxes import cam_like_map  # noqa: E402
from naive_boxes import naive_best_ious  # noqa: E402

from wsolbench.datasets import load_annotations  # noqa: E402
from wsolbench.pipeline import evaluate_maps  # noqa: E402
from wsolbench.protocol import get_protocol  # noqa: E402
from wsolbench.scoremaps import write_scoremaps  # noqa: E402


def make_case(folder: Path, n: int, seed: int):
    rng = np.random.default_rng(seed)
    ids, maps, boxes = [], [], []
    for i in range(n):
        m, b = cam_like_map(rng)
        ids.append(f"img/{i:05d}.jpg"), maps.append(m.astype(np.float16)), boxes.append(b)
    meta = folder / "meta"
    meta.mkdir()
    (meta / "image_ids.txt").write_text("".join(f"{i}\n" for i in ids))
    (meta / "class_labels.txt").write_text("".join(f"{i},{k % 5}\n" for k, i in enumerate(ids)))
    (meta / "image_sizes.txt").write_text("".join(f"{i},224,224\n" for i in ids))
    (meta / "localization.txt").write_text("".join(f"{i},{x0},{y0},{x1},{y1}\n"
                                                   for i, b in zip(ids, boxes) for x0, y0, x1, y1 in b))
    path = write_scoremaps(folder / "maps.h5", ids, np.stack(maps), normalized=True,
                           predicted_labels=[k % 5 for k in range(n)])
    return path, meta, [m.astype(np.float32) for m in maps], boxes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--naive", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path, meta, maps, boxes = make_case(Path(tmp), args.n, args.seed)
        gt = load_annotations(f"wsoleval:{meta}")
        evaluate_maps(path, gt, get_protocol())                       # warm-up (compile / load cache)
        print(f"evaluate, {args.n} maps of 224x224 (file -> MaxBoxAcc, MaxBoxAccV2, top-1), images/s")
        print(f"{'step':>6} {'naive 1 proc':>13} {'workers=1':>10} {'workers=2':>10} {'w1/naive':>9} {'w2/naive':>9}")
        for step in (0.01, 0.001):
            protocol = get_protocol(cam_step=step)
            t = protocol.cam_thresholds()
            t0 = time.perf_counter()
            for m, b in zip(maps[:args.naive], boxes[:args.naive]):
                naive_best_ious(m.astype(np.float64), np.asarray(b), t)
            naive = args.naive / (time.perf_counter() - t0)
            speed = []
            for workers in (1, 2):
                t0 = time.perf_counter()
                evaluate_maps(path, gt, protocol, workers=workers)
                speed.append(args.n / (time.perf_counter() - t0))
            print(f"{step:>6} {naive:>13.1f} {speed[0]:>10.1f} {speed[1]:>10.1f} "
                  f"{speed[0] / naive:>8.1f}x {speed[1] / naive:>8.1f}x")


if __name__ == "__main__":
    main()
