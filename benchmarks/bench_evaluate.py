"""End-to-end speed of ``evaluate`` (HDF5 file -> MaxBoxAcc, MaxBoxAccV2, top-1 loc) at dataset scale.

Usage::

    python benchmarks/bench_evaluate.py                  # CUB scale: 5,794 raw 14x14 CAMs, step 0.01
    python benchmarks/bench_evaluate.py --ilsvrc         # ILSVRC scale: 50,000 raw CAMs, step 0.001
    python benchmarks/bench_evaluate.py --n 2000 --side 28 --workers 1,2

Writes, in a temporary folder, a score-map file of raw signed CAMs (float32, ``side`` x ``side``,
resized bicubic to 224 and min-max normalised by the protocol, as the reference does) with
predicted labels, for the real wsolevaluation CUB test (or ILSVRC test) image ids and GT boxes
from ``../shared/wsoleval-metadata-full`` when present (else generated metadata of the same size),
then runs ``wsolbench evaluate`` in a fresh process per setting, so that import, HDF5 reading,
GT resizing, bicubic resizing and process start are all counted. Prints maps/s (wall), the
process's wall time, its CPU time (with its workers'; maps per CPU-second is the figure that a
loaded machine does not distort), and the peak RSS of the evaluating process and of its largest
worker. The machine's load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from wsolbench.scoremaps import write_scoremaps  # noqa: E402

SHARED = HERE.parents[1] / "shared" / "wsoleval-metadata-full"


def real_metadata(dataset: str, n: int) -> Path | None:
    folder = SHARED / dataset / "test"
    if (folder / "localization.txt").is_file():
        count = sum(1 for _ in open(folder / "image_ids.txt"))
        return folder if count == n else None
    return None


def generated_metadata(folder: Path, n: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    ids = [f"img/{i:06d}.jpg" for i in range(n)]
    folder.mkdir(parents=True)
    (folder / "image_ids.txt").write_text("".join(f"{i}\n" for i in ids))
    (folder / "class_labels.txt").write_text("".join(f"{i},{k % 200}\n" for k, i in enumerate(ids)))
    (folder / "image_sizes.txt").write_text("".join(f"{i},500,375\n" for i in ids))
    lines = []
    for i in ids:
        for _ in range(int(rng.integers(1, 3))):
            x0, x1 = np.sort(rng.integers(0, 500, 2))
            y0, y1 = np.sort(rng.integers(0, 375, 2))
            lines.append(f"{i},{x0},{y0},{x1},{y1}\n")
    (folder / "localization.txt").write_text("".join(lines))
    return folder


def read_ids(metadata: Path) -> tuple[list[str], list[int]]:
    ids, labels = [], {}
    for line in (metadata / "class_labels.txt").read_text().splitlines():
        i, c = line.rsplit(",", 1)
        labels[i] = int(c)
    ids = (metadata / "image_ids.txt").read_text().split()
    return ids, [labels[i] for i in ids]


def write_maps(path: Path, ids, labels, side: int, seed: int) -> None:
    """Raw signed CAM-like maps: a blob and noise at side x side, float32, in chunks."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:side, :side] + 0.5
    maps = np.empty((len(ids), side, side), np.float32)
    for k in range(len(ids)):
        c = rng.uniform(0, side, 2)
        s = rng.uniform(side / 10, side / 3, 2)
        blob = np.exp(-((xx - c[0]) ** 2 / (2 * s[0] ** 2) + (yy - c[1]) ** 2 / (2 * s[1] ** 2)))
        maps[k] = rng.uniform(1, 4) * blob + rng.normal(0, 0.3, (side, side)) - 0.5
    preds = [c if rng.random() < 0.7 else (c + 1) % 200 for c in labels]
    write_scoremaps(path, ids, maps, normalized=False, predicted_labels=preds)


# Runs the CLI and, at exit, writes the peak RSS (KiB) of this process and of its largest reaped
# child (the --workers processes), and the CPU seconds of both, to the file named by the first argument.
PROBE = """
import atexit, resource, sys
def report(path=sys.argv.pop(1)):
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
    open(path, "w").write(f"{own.ru_maxrss} {kids.ru_maxrss} {cpu}")
atexit.register(report)
from wsolbench.cli.main import cli
cli(args=sys.argv[1:], prog_name="wsolbench")
"""


def run_evaluate(maps: Path, metadata: Path, step: float, workers: int, out: Path) -> dict:
    """One ``wsolbench evaluate`` in a fresh process: wall seconds and peak RSS (MiB)."""
    rss_file = out.with_suffix(".rss")
    cmd = [sys.executable, "-c", PROBE, str(rss_file), "evaluate", str(maps), "--gt", f"wsoleval:{metadata}",
           "--cam-step", str(step), "--workers", str(workers), "--out", str(out)]
    t0 = time.perf_counter()
    run = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    if run.returncode != 0:
        raise SystemExit(f"evaluate failed: {run.stderr[-2000:]}")
    own, kids, cpu = rss_file.read_text().split()
    return {"wall": wall, "cpu": float(cpu), "rss_main_mib": int(own) / 1024, "rss_worker_mib": int(kids) / 1024}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ilsvrc", action="store_true", help="50,000 maps (ILSVRC test) at step 0.001")
    parser.add_argument("--n", type=int, default=None, help="number of maps (default 5,794 or 50,000)")
    parser.add_argument("--side", type=int, default=14, help="raw CAM side (default 14)")
    parser.add_argument("--step", type=float, default=None, help="CAM-threshold step (default 0.01 / 0.001)")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts (default 1,2)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    dataset, n_default, step_default = ("ILSVRC", 50000, 0.001) if args.ilsvrc else ("CUB", 5794, 0.01)
    n = args.n or n_default
    step = args.step or step_default
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        metadata = real_metadata(dataset, n) or generated_metadata(tmp / "meta", n, args.seed)
        ids, labels = read_ids(metadata)
        maps = tmp / "maps.h5"
        t0 = time.perf_counter()
        write_maps(maps, ids, labels, args.side, args.seed)
        print(f"{n} raw {args.side}x{args.side} CAMs ({maps.stat().st_size / 2**20:.0f} MiB) for "
              f"{'the real ' + dataset + ' test metadata' if metadata.parent.parent == SHARED else 'generated metadata'}"
              f", written in {time.perf_counter() - t0:.1f} s; step {step}")
        print(f"{'workers':>8} {'wall s':>8} {'maps/s':>8} {'CPU s':>8} {'maps/CPU-s':>11} {'RSS main MiB':>13} "
              f"{'RSS worker MiB':>15}")
        for workers in (int(w) for w in args.workers.split(",")):
            r = run_evaluate(maps, metadata, step, workers, tmp / f"w{workers}.json")
            print(f"{workers:>8} {r['wall']:>8.2f} {n / r['wall']:>8.0f} {r['cpu']:>8.2f} {n / r['cpu']:>11.0f} "
                  f"{r['rss_main_mib']:>13.0f} {r['rss_worker_mib']:>15.0f}")
    print("load average:", " ".join(f"{v:.2f}" for v in os.getloadavg()), f"({os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
