"""Speed of PxAP histogramming: wsolbench's binning vs ``np.histogram`` on 224x224 maps.

Three comparisons per threshold step (0.01 and 0.001), each the best of several repeats over the
same set of maps, reported as time per map and as a ratio:

* ``binning``: histogram of all pixels of one map. ``np.histogram(map, bins=edges)`` vs
  wsolbench's per-map update with every pixel in one class (arithmetic bin + exact-edge correction +
  bincount, fused in one pass).
* ``pxap update``: what one image costs in a PxAP evaluation. The reference's
  ``np.histogram(map[mask == 1])`` + ``np.histogram(map[mask == 0])`` vs ``PixelAP._update``
  (foreground, background and ignore in one pass).
* ``numpy path``: the pure-NumPy version of the same binning (``bin_index`` + ``np.bincount``), for
  information.

Every timed variant's counts are checked against ``np.histogram`` first.

    python benchmarks/bench_pxap.py                 # 64 maps, smooth CAM-like and uniform noise
    python benchmarks/bench_pxap.py --n 16 --repeat 3

(From a source checkout without ``pip install -e .``, prefix ``PYTHONPATH=.``.) Timings on a busy
machine are noisy; the best of the repeats is the figure to quote.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from wsolbench.metrics.masks import PixelAP, bin_edges, bin_index
from wsolbench.metrics.resize import normalize_minmax, resize_bicubic


def make_maps(kind: str, n: int, seed: int) -> np.ndarray:
    """n maps (n, 224, 224) in [0, 1]: 'smooth' = 14x14 noise upsampled bicubically, 'noise' = uniform."""
    rng = np.random.default_rng(seed)
    if kind == "noise":
        return rng.random((n, 224, 224))
    return np.stack([normalize_minmax(resize_bicubic(rng.random((14, 14)), (224, 224))) for _ in range(n)])


def make_masks(n: int, seed: int) -> np.ndarray:
    """n masks (n, 224, 224) uint8: a random box of foreground (1), a band of ignore (255)."""
    rng = np.random.default_rng(seed)
    masks = np.zeros((n, 224, 224), np.uint8)
    for m in masks:
        x0, y0 = rng.integers(0, 112, 2)
        w, h = rng.integers(40, 112, 2)
        m[y0:y0 + h, x0:x0 + w] = 1
        m[y0 + h:y0 + h + 6, x0:x0 + w] = 255
    return masks


def best_per_map(fn, maps, masks, repeat: int) -> float:
    """Best-of-``repeat`` seconds per map of ``fn(map, mask)`` over the whole set."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for m, g in zip(maps, masks):
            fn(m, g)
        best = min(best, time.perf_counter() - start)
    return best / len(maps)


def check_counts(maps, masks, step: float) -> None:
    """Every variant gives np.histogram's counts (raises otherwise)."""
    edges = bin_edges(step)
    metric = PixelAP(step)
    zero = np.zeros((224, 224), np.uint8)
    for m, g in zip(maps, masks):
        fg, bg = metric._update(m, g)
        _, all_bins = metric._update(m, zero)
        ok = (np.array_equal(fg, np.histogram(m[g == 1], bins=edges)[0])
              and np.array_equal(bg, np.histogram(m[g == 0], bins=edges)[0])
              and np.array_equal(all_bins, np.histogram(m, bins=edges)[0])
              and np.array_equal(np.bincount(bin_index(m, edges).ravel(), minlength=len(edges) - 1), all_bins))
        if not ok:
            raise SystemExit(f"count mismatch at step {step}")


def run(kind: str, n: int, repeat: int) -> None:
    maps = make_maps(kind, n, seed=1)
    masks = make_masks(n, seed=2)
    zero = np.zeros((224, 224), np.uint8)
    for step in (0.01, 0.001):
        check_counts(maps, masks, step)
        edges = bin_edges(step)
        metric = PixelAP(step)
        metric._update(maps[0], masks[0])  # compile outside the timing
        t_hist = best_per_map(lambda m, g: np.histogram(m, bins=edges), maps, masks, repeat)
        t_ours = best_per_map(lambda m, g: metric._update(m, zero), maps, masks, repeat)
        t_np = best_per_map(lambda m, g: np.bincount(bin_index(m, edges).ravel(), minlength=len(edges) - 1),
                            maps, masks, repeat)
        t_ref = best_per_map(lambda m, g: (np.histogram(m[g == 1], bins=edges), np.histogram(m[g == 0], bins=edges)),
                             maps, masks, repeat)
        t_upd = best_per_map(metric._update, maps, masks, repeat)
        print(f"{kind:6s} step {step:<5}  binning: np.histogram {t_hist * 1e6:7.1f} us  ours {t_ours * 1e6:6.1f} us  "
              f"ratio {t_hist / t_ours:4.1f}x | pxap update: reference {t_ref * 1e6:7.1f} us  ours {t_upd * 1e6:6.1f} us  "
              f"ratio {t_ref / t_upd:4.1f}x | numpy path {t_np * 1e6:6.1f} us ({t_hist / t_np:3.1f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64, help="maps per set")
    parser.add_argument("--repeat", type=int, default=7, help="repeats (the best is reported)")
    args = parser.parse_args()
    print(f"{args.n} maps of 224x224 float64 per set; time per map, best of {args.repeat}")
    for kind in ("smooth", "noise"):
        run(kind, args.n, args.repeat)


if __name__ == "__main__":
    main()
