"""Speed of the box engine (``best_ious``) against the naive per-threshold implementation.

Usage: ``python benchmarks/bench_boxes.py [--n 50] [--seed 0] [--json]``

Both compute the per-threshold best IoU of the largest region (MaxBoxAcc) and of all regions with
holes (MaxBoxAccV2) on 224x224 CAM-like maps (smooth anisotropic Gaussian blobs plus smoothed noise,
min-max normalised; deterministic seed), single process, at the CAM-threshold steps 0.01 and 0.001.
Their outputs are asserted equal. The engine is loaded before timing (a warm-up call).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from naive_boxes import naive_best_ious  # noqa: E402

from wsolbench.metrics.boxes import best_ious  # noqa: E402

SIDE = 224


def cam_like_map(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A (224, 224) float32 map in [0, 1] with 1-3 blobs, and 1-2 GT boxes (k, 4) near the blobs."""
    yy, xx = np.mgrid[:SIDE, :SIDE]
    m = np.zeros((SIDE, SIDE))
    boxes = []
    for _ in range(int(rng.integers(1, 4))):
        cy, cx = rng.uniform(30, SIDE - 30, 2)
        sy, sx = rng.uniform(8, 45, 2)
        m += rng.uniform(0.3, 1.0) * np.exp(-((yy - cy) ** 2 / (2 * sy ** 2) + (xx - cx) ** 2 / (2 * sx ** 2)))
        boxes.append([max(0, cx - 2 * sx), max(0, cy - 2 * sy), min(SIDE - 1, cx + 2 * sx), min(SIDE - 1, cy + 2 * sy)])
    m += 0.15 * ndimage.gaussian_filter(rng.random((SIDE, SIDE)), 4)
    m = (m - m.min()) / (m.max() - m.min())
    gt = np.array(boxes[: int(rng.integers(1, 3))], dtype=np.float64).astype(np.int64)
    return m.astype(np.float32), gt


def _time(fn, items) -> tuple[float, float, list]:
    """Wall seconds and CPU seconds of this process for ``fn`` over all items, and the outputs.

    The CPU time is the robust number on a shared machine (wall time counts waiting for a core).
    """
    wall, cpu = time.perf_counter(), time.process_time()
    out = [fn(m, gt) for m, gt in items]
    return time.perf_counter() - wall, time.process_time() - cpu, out


def bench_step(items, step: float) -> dict:
    thresholds = np.arange(0, 1, step)
    best_ious(items[0][0], items[0][1], thresholds)                   # warm-up: load the engine
    fast_s, fast_cpu, fast = _time(lambda m, gt: best_ious(m, gt, thresholds), items)
    largest_s, _, _ = _time(lambda m, gt: best_ious(m, gt, thresholds, all_regions=False), items)
    naive_s, naive_cpu, naive = _time(lambda m, gt: naive_best_ious(m, gt, thresholds), items)
    for f, (n_largest, n_all) in zip(fast, naive):
        assert np.array_equal(f.largest, n_largest) and np.array_equal(f.all, n_all), "engine != naive"
    n = len(items)
    return {
        "step": step, "n_thresholds": len(thresholds), "n_images": n,
        "engine_images_per_s": n / fast_s, "engine_ms_per_image": 1e3 * fast_s / n,
        "engine_largest_only_ms_per_image": 1e3 * largest_s / n,
        "naive_images_per_s": n / naive_s, "naive_ms_per_image": 1e3 * naive_s / n,
        "speedup": naive_s / fast_s,
        "engine_cpu_ms_per_image": 1e3 * fast_cpu / n, "naive_cpu_ms_per_image": 1e3 * naive_cpu / n,
        "speedup_cpu": naive_cpu / fast_cpu,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50, help="number of maps (default 50)")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    items = [cam_like_map(rng) for _ in range(args.n)]
    rows = [bench_step(items, step) for step in (0.01, 0.001)]
    if args.json:
        print(json.dumps({"machine": platform.processor() or platform.machine(), "rows": rows}, indent=1))
        return 0
    print(f"box engine vs naive, {args.n} maps of {SIDE}x{SIDE}, one process, outputs equal")
    print(f"{'step':>6} {'T':>5} {'engine img/s':>13} {'ms/img':>8} {'(largest only)':>15} "
          f"{'naive img/s':>12} {'ms/img':>9} {'speedup':>8} {'cpu ms/img engine, naive':>26} {'cpu speedup':>12}")
    for r in rows:
        print(f"{r['step']:>6} {r['n_thresholds']:>5} {r['engine_images_per_s']:>13.1f} "
              f"{r['engine_ms_per_image']:>8.2f} {r['engine_largest_only_ms_per_image']:>15.2f} "
              f"{r['naive_images_per_s']:>12.2f} {r['naive_ms_per_image']:>9.1f} {r['speedup']:>7.1f}x "
              f"{r['engine_cpu_ms_per_image']:>14.2f}, {r['naive_cpu_ms_per_image']:>9.1f} "
              f"{r['speedup_cpu']:>11.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
