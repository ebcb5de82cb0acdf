"""Start-up costs: CLI help, a small ``evaluate``, and compiling the engine from a cold state.

Usage: ``python benchmarks/bench_startup.py [--repeat 5]``

* ``wsolbench --help`` and ``wsolbench evaluate --help``: wall time of a fresh process (best and
  median of ``--repeat``), and which heavy modules the CLI imports at start-up (none expected).
* ``evaluate`` of the bundled example (24 maps) in a fresh process: import + evaluation.
* Cold compile: ``engine.c`` compiled into an empty folder exactly as ``wsolbench.metrics.native``
  does when no up-to-date build exists (an install builds it with ``setup.py`` instead), with the
  line it prints on stderr.

The machine's load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import wsolbench  # noqa: E402

SCRIPT = Path(sys.executable).parent / "wsolbench"           # the console script users run
CLI = [str(SCRIPT)] if SCRIPT.is_file() else [sys.executable, "-m", "wsolbench"]
HEAVY = ("numpy", "h5py", "scipy", "PIL", "matplotlib", "torch", "numba", "pandas")


def timed(cmd, repeat: int) -> tuple[float, float, float]:
    """Best and median wall seconds of a fresh process, and its median CPU seconds (user + sys: what
    a loaded machine distorts least)."""
    times, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return min(times), statistics.median(times), statistics.median(cpus)


def heavy_imports() -> list[str]:
    code = f"import sys, wsolbench.cli.main; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return [m for m in out.strip().split(",") if m]


def cold_compile() -> tuple[float, float, str]:
    """Wall and CPU seconds (the compiler's included) of the fallback build, and its stderr line."""
    code = ("import resource, sys, time; from pathlib import Path; from wsolbench.metrics import native; "
            "t = time.perf_counter(); native._compile(Path(sys.argv[1]) / 'engine.so'); "
            "r = resource.getrusage(resource.RUSAGE_CHILDREN); "
            "print(time.perf_counter() - t, r.ru_utime + r.ru_stime)")
    with tempfile.TemporaryDirectory() as tmp:
        run = subprocess.run([sys.executable, "-c", code, tmp], capture_output=True, text=True, check=True)
    wall, cpu = (float(v) for v in run.stdout.split())
    return wall, cpu, run.stderr.strip()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    data = Path(wsolbench.__file__).resolve().parent / "data" / "example"
    rows = [
        ("wsolbench --help", timed([*CLI, "--help"], args.repeat)),
        ("wsolbench evaluate --help", timed([*CLI, "evaluate", "--help"], args.repeat)),
        ("python -c pass (interpreter alone)", timed([sys.executable, "-c", "pass"], args.repeat)),
        ("wsolbench evaluate (bundled example, 24 maps)",
         timed([*CLI, "evaluate", str(data / "maps.h5"), "--gt", f"wsoleval:{data / 'metadata'}"], args.repeat)),
    ]
    print(f"{'command':<48} {'best s':>7} {'median s':>9} {'CPU s':>7}")
    for name, (best, median, cpu) in rows:
        print(f"{name:<48} {best:>7.3f} {median:>9.3f} {cpu:>7.3f}")
    heavy = heavy_imports()
    print(f"heavy modules imported by the CLI at start-up: {', '.join(heavy) if heavy else 'none'}")
    wall, cpu, line = cold_compile()
    print(f"cold compile of engine.c (no up-to-date build): {wall:.2f} s wall, {cpu:.2f} s CPU of the compiler; "
          f"stderr: {line!r}")
    print("load average:", " ".join(f"{v:.2f}" for v in os.getloadavg()), f"({os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
