"""Bootstrap cost: time and peak memory of 1,000 resamples from per-image state.

Builds the per-image rows an evaluation of N images leaves (box correctness bits of both region
modes at IoU 30/50/70, the largest region's IoU curve, pointing-game values and, with
``--box-sizes``, the box-area curves) from random smooth IoU curves, without evaluating maps, then
times ``FrameEvaluator.summarize`` + ``image_state`` + ``bootstrap`` in the same process and reports
the peak RSS (of the whole run: the comparison below works in bounded chunks). For comparison it
times the straightforward procedure on a subset of the resamples: per resample, draw indices, sum
the drawn images' unpacked bits, take the maxima (``--naive R``; the same numbers are asserted
equal).

    python benchmarks/bench_bootstrap.py --n 5000 --step 0.01              # CUB scale
    python benchmarks/bench_bootstrap.py --n 50000 --step 0.001 --box-sizes # ILSVRC scale
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from wsolbench.metrics.bootstrap import image_units, resample_weights, resampled_metrics
from wsolbench.metrics.evaluator import FrameEvaluator, ImageRow
from wsolbench.protocol import get_protocol


def random_rows(frame: FrameEvaluator, n: int, seed: int, box_sizes: bool) -> dict:
    """``{key: ImageRow}`` with plausible per-threshold IoU curves (a bump over the thresholds)."""
    rng = np.random.default_rng(seed)
    t = frame.thresholds
    levels = np.array(frame.protocol.iou_thresholds)[:, None] / 100
    rows = {}
    for i in range(n):
        centre, width, peak = rng.uniform(0.1, 0.8), rng.uniform(0.05, 0.4), rng.uniform(0.2, 0.95)
        curves = [np.clip(peak * np.exp(-(t - centre) ** 2 / (2 * width ** 2)) + rng.normal(0, 0.03, len(t)), 0, 1)
                  for _ in frame.modes]
        bits = np.stack([c[None, :] >= levels for c in curves])
        row = ImageRow(image_id=f"n{i:06d}/{i}.JPEG", label=int(i % 1000), pred=int(rng.integers(0, 1000)),
                       constant=False, largest=curves[0].astype(np.float32), correct=np.packbits(bits, axis=-1),
                       hit=bool(rng.random() < 0.6), energy=float(rng.random()), gt_area=int(rng.integers(500, 40000)))
        if box_sizes:
            row.box_area = (np.linspace(50000, 1, len(t)) * rng.uniform(0.2, 1)).astype(np.uint16)
        rows[(i, 0)] = row
    return rows


def naive(state, weights, units, key: int) -> np.ndarray:
    """The box counts of every mode and IoU per resample the straightforward way (index the drawn
    images' unpacked bits, sum, take the maxima); returns MaxBoxAcc per resample."""
    n = len(units)
    out = []
    for w in weights:
        idx = np.repeat(np.arange(n), w[units])
        counts = sum(state.correct_bits(idx[s:s + 4096]).sum(axis=0, dtype=np.int64)   # chunks: bounded memory
                     for s in range(0, len(idx), 4096))
        curves = counts * 100. / float(len(idx))                                      # (modes, IoUs, T)
        out.append(curves.max(axis=-1)[0, key])
    return np.array(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="images")
    parser.add_argument("--step", type=float, default=0.01, help="CAM-threshold step")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--box-sizes", action="store_true", help="also keep box-area curves per image")
    parser.add_argument("--naive", type=int, default=20, help="resamples timed the straightforward way")
    args = parser.parse_args()

    protocol = get_protocol(cam_step=args.step)
    frame = FrameEvaluator(protocol, with_boxes=True, with_masks=False, num_classes=1000, box_sizes=args.box_sizes)
    state = frame.new_state()
    state.rows = random_rows(frame, args.n, 0, args.box_sizes)
    built = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.process_time()
    wall = time.perf_counter()
    summary = frame.summarize(state)
    image_state = frame.image_state(state)
    t_summary = time.perf_counter() - wall
    units, n_units = image_units(image_state)
    t0, c0 = time.perf_counter(), time.process_time()
    weights = resample_weights(n_units, args.resamples, 0)
    values = resampled_metrics(image_state, weights, units)
    t_boot, c_boot = time.perf_counter() - t0, time.process_time() - c0
    cpu = time.process_time() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    key = protocol.iou_thresholds.index(protocol.maxboxacc_iou)
    t1, c1 = time.perf_counter(), time.process_time()
    slow = naive(image_state, weights[:args.naive], units, key)
    scale = args.resamples / max(args.naive, 1)
    t_naive, c_naive = (time.perf_counter() - t1) * scale, (time.process_time() - c1) * scale
    assert np.array_equal(slow, values["maxboxacc"][:args.naive])
    print(f"{args.n} images, step {args.step} ({len(frame.thresholds)} thresholds), {args.resamples} resamples, "
          f"box sizes {'on' if args.box_sizes else 'off'}")
    print(f"  summarize + columnar state: {t_summary:.2f} s wall; bootstrap of {len(values)} numbers: {t_boot:.2f} s "
          f"wall, {c_boot:.2f} s CPU (both stages: {cpu:.2f} s CPU)")
    print(f"  straightforward box counts (index + sum per resample): {t_naive:.1f} s wall, {c_naive:.1f} s CPU for "
          f"{args.resamples} resamples (extrapolated from {args.naive}); ratio {c_naive / c_boot:.0f}x in CPU time")
    print(f"  peak RSS: {peak:.0f} MiB (rows built: {built:.0f} MiB); MaxBoxAcc {summary['metrics']['maxboxacc']:.2f} "
          f"[{np.percentile(values['maxboxacc'], 2.5):.2f}, {np.percentile(values['maxboxacc'], 97.5):.2f}]")


if __name__ == "__main__":
    main()
