"""The box engine of another revision against this checkout's, in one process, on the same maps.

Usage (from a git checkout)::

    python benchmarks/bench_engine_versions.py                     # vs the first C engine (issue 11, round 1)
    python benchmarks/bench_engine_versions.py --rev main --n 50

Compiles ``wsolbench/metrics/engine.c`` of ``--rev`` (``git show REV:...``) and of the working tree
into temporary libraries with the flags the package uses, loads both with ctypes and times
``wsb_best_ious`` (the whole box engine: quantisation, sort, sweeps, recording; no resize and no
Python) on the maps of ``bench_reference.py``'s families, already post-processed, asserting that both
give the same IoUs bit for bit. CPU microseconds per map (``time.process_time`` around a loop over the
maps, best of ``--repeat``); the machine's load is printed with the table.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

from bench_reference import SIDE, make_family  # noqa: E402

from wsolbench.metrics.gt import resize_boxes  # noqa: E402
from wsolbench.metrics.native import CFLAGS, SIGNATURES  # noqa: E402
from wsolbench.metrics.resize import postprocess_map  # noqa: E402
from wsolbench.protocol import get_protocol  # noqa: E402

ROUND1 = "1cf96dcff3559ded7f9b1abc3dc67fc2fbd5286b"     # the last commit of the first C engine
FAMILIES = ("cam7", "cam14", "cam28", "smooth224", "plateau224", "noise224")


def build(source: str, target: Path) -> ctypes.CDLL:
    cc = os.environ.get("CC") or "cc"
    src = target.with_suffix(".c")
    src.write_text(source)
    subprocess.run([*cc.split(), *CFLAGS, str(src), "-o", str(target), "-lm"], check=True)
    lib = ctypes.CDLL(str(target))
    restype, argtypes = SIGNATURES["wsb_best_ious"]
    lib.wsb_best_ious.restype, lib.wsb_best_ious.argtypes = restype, argtypes
    return lib


def time_engine(lib, items, thresholds, repeat: int) -> tuple[float, list]:
    """Best CPU seconds of one pass over the items, and the outputs of the last pass."""
    best, outs = float("inf"), []
    for _ in range(repeat):
        outs = []
        t0 = time.process_time()
        for m, gt in items:
            largest, every = np.empty(len(thresholds)), np.empty(len(thresholds))
            rc = lib.wsb_best_ious(m.ctypes.data, 0, m.shape[0], m.shape[1], thresholds.ctypes.data, len(thresholds),
                                   gt.ctypes.data, len(gt), 1, largest.ctypes.data, every.ctypes.data)
            assert rc == 0
            outs.append((largest, every))
        best = min(best, time.process_time() - t0)
    return best, outs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default=ROUND1, help="git revision to compare with (default: the first C engine)")
    parser.add_argument("--n", type=int, default=30, help="maps per family (default 30; 5 for pixel noise)")
    parser.add_argument("--repeat", type=int, default=5, help="passes; the best is reported (default 5)")
    parser.add_argument("--families", default=",".join(FAMILIES))
    args = parser.parse_args(argv)
    try:
        old_source = subprocess.run(["git", "show", f"{args.rev}:wsolbench/metrics/engine.c"], cwd=REPO, check=True,
                                    capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"skipped: cannot read engine.c of {args.rev} from git ({e})")
        return 0
    protocol = get_protocol()
    with tempfile.TemporaryDirectory() as tmp:
        old = build(old_source, Path(tmp) / "old.so")
        new = build((REPO / "wsolbench" / "metrics" / "engine.c").read_text(), Path(tmp) / "new.so")
        print(f"box engine (wsb_best_ious), CPU us per map, best of {args.repeat}; {args.rev[:12]} vs this checkout")
        print(f"{'family':<11} {'step':>6} {'maps':>5} | {'old':>9} {'new':>9} | {'speed-up':>8}")
        for name in args.families.split(","):
            made = make_family(name, 5 if name == "noise224" else args.n, 0)
            if isinstance(made, str):
                print(f"{name:<11} {made}")
                continue
            maps, raw, _, boxes, sizes = made
            items = []
            for m, b, s in zip(maps, boxes, sizes):
                frame = postprocess_map(m, protocol, normalized=False)[0] if raw else np.ascontiguousarray(m, np.float64)
                items.append((frame, np.ascontiguousarray(resize_boxes(b, s, (SIDE, SIDE)), np.int64)))
            for step in (0.01, 0.001):
                thresholds = np.ascontiguousarray(get_protocol(cam_step=step).cam_thresholds())
                t_old, out_old = time_engine(old, items, thresholds, args.repeat)
                t_new, out_new = time_engine(new, items, thresholds, args.repeat)
                for (a, b), (c, d) in zip(out_old, out_new):
                    assert np.array_equal(a, c) and np.array_equal(b, d), f"{name} {step}: the engines differ"
                us = 1e6 / len(items)
                print(f"{name:<11} {step:>6} {len(items):>5} | {t_old * us:>9.1f} {t_new * us:>9.1f} | "
                      f"{t_old / t_new:>7.2f}x")
    print("load average:", " ".join(f"{v:.2f}" for v in os.getloadavg()), f"({os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
