"""Peak memory of writing and streaming a large score-map file.

Writes N smooth random maps (default 50,000 maps of 224x224 float16, 4.7 GiB before compression)
with :class:`~wsolbench.scoremaps.ScoreMapWriter` into a temporary folder, then iterates over every
map with :meth:`~wsolbench.scoremaps.ScoreMapFile.iter_batches` (which checks each map's values).
Each phase runs in a fresh Python process, so each peak RSS (``resource.getrusage``) belongs to one
phase. A third process that only imports numpy and h5py gives the baseline.

    python benchmarks/bench_scoremaps_memory.py                      # the 50,000 x 224 x 224 case
    python benchmarks/bench_scoremaps_memory.py --n 2000 --size 224  # a quick run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np


def peak_rss_mib() -> float:
    """Peak resident set size of this process in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def smooth_maps(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """n smooth CAM-like maps [n, size, size] float16: an 8x8 random grid, bilinearly upsampled."""
    grid = np.linspace(0, 7, size)
    lo = np.minimum(np.floor(grid).astype(int), 6)
    frac = grid - lo
    interp = np.zeros((size, 8))
    interp[np.arange(size), lo] = 1 - frac
    interp[np.arange(size), lo + 1] = frac
    coarse = rng.normal(size=(n, 8, 8))
    return np.einsum("ik,nkl,jl->nij", interp, coarse, interp, optimize=True).astype(np.float16)


def phase_write(path: str, n: int, size: int, batch: int, compression: str | None, level: int) -> dict:
    from wsolbench.scoremaps import ScoreMapWriter

    rng = np.random.default_rng(0)
    start = time.perf_counter()
    with ScoreMapWriter(path, compression=compression, compression_opts=level if compression == "gzip" else None,
                        attrs={"method": "bench"}) as writer:
        for first in range(0, n, batch):
            b = min(batch, n - first)
            ids = [f"val/{i // 50:04d}/{i:06d}.JPEG" for i in range(first, first + b)]
            writer.append(ids, smooth_maps(rng, b, size), predicted_labels=rng.integers(0, 1000, b))
    return {"seconds": time.perf_counter() - start, "peak_rss_mib": peak_rss_mib()}


def phase_read(path: str, batch: int) -> dict:
    from wsolbench.scoremaps import ScoreMapFile

    start = time.perf_counter()
    n, total = 0, 0.0
    with ScoreMapFile(path) as f:
        for b in f.iter_batches(batch_size=batch):
            n += len(b)
            total += float(np.asarray(b.maps, np.float32).sum(dtype=np.float64))  # touch every value
    return {"seconds": time.perf_counter() - start, "peak_rss_mib": peak_rss_mib(), "maps_read": n,
            "checksum": total}


def phase_baseline() -> dict:
    import h5py  # noqa: F401

    import wsolbench.scoremaps  # noqa: F401

    return {"peak_rss_mib": peak_rss_mib()}


def run_phase(args: list[str]) -> dict:
    """Run one phase of this script in a fresh interpreter and return its JSON report."""
    env = dict(os.environ)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = repo + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, os.path.abspath(__file__), *args], check=True, capture_output=True,
                         text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=50_000, help="number of maps")
    p.add_argument("--size", type=int, default=224, help="maps are size x size")
    p.add_argument("--batch-size", type=int, default=256, help="maps per append / per read batch")
    p.add_argument("--compression", choices=("gzip", "lzf", "none"), default="gzip")
    p.add_argument("--level", type=int, default=1, help="gzip level")
    p.add_argument("--dir", default=None, help="folder for the file (default: a new temporary folder)")
    p.add_argument("--keep", action="store_true", help="keep the written file")
    p.add_argument("--phase", choices=("write", "read", "baseline"), help=argparse.SUPPRESS)
    p.add_argument("--path", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None) -> None:
    a = parse_args(argv)
    compression = None if a.compression == "none" else a.compression
    if a.phase == "write":
        print(json.dumps(phase_write(a.path, a.n, a.size, a.batch_size, compression, a.level)))
        return
    if a.phase == "read":
        print(json.dumps(phase_read(a.path, a.batch_size)))
        return
    if a.phase == "baseline":
        print(json.dumps(phase_baseline()))
        return
    folder = tempfile.mkdtemp(prefix="wsolbench-bench-", dir=a.dir)
    path = os.path.join(folder, "maps.h5")
    common = ["--n", str(a.n), "--size", str(a.size), "--batch-size", str(a.batch_size),
              "--compression", a.compression, "--level", str(a.level), "--path", path]
    try:
        base = run_phase(["--phase", "baseline"])
        write = run_phase(["--phase", "write", *common])
        read = run_phase(["--phase", "read", *common])
        raw_gib = a.n * a.size * a.size * 2 / 2 ** 30
        size_gib = os.path.getsize(path) / 2 ** 30
    finally:
        if not a.keep:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"maps: {a.n} x {a.size}x{a.size} float16 = {raw_gib:.2f} GiB uncompressed; file {size_gib:.2f} GiB "
          f"({a.compression}{' level ' + str(a.level) if a.compression == 'gzip' else ''}); batch {a.batch_size}")
    print(f"baseline (python + numpy + h5py + wsolbench.scoremaps): peak RSS {base['peak_rss_mib']:.0f} MiB")
    print(f"write: {write['seconds']:.1f} s, peak RSS {write['peak_rss_mib']:.0f} MiB")
    print(f"read : {read['seconds']:.1f} s ({read['maps_read']} maps, {read['maps_read'] / read['seconds']:.0f} "
          f"maps/s), peak RSS {read['peak_rss_mib']:.0f} MiB")
    verdict = "under" if read["peak_rss_mib"] < 1024 else "OVER"
    print(f"streaming read peak RSS is {verdict} 1 GiB "
          f"({read['peak_rss_mib'] / 1024 / raw_gib * 100:.1f}% of the uncompressed maps)")
    if a.keep:
        print(f"kept {path}")


if __name__ == "__main__":
    main()
