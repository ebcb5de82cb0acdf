"""Upper bounds of the numeric requests that cost memory or processes, each with its reason.

Without them ``--cam-step 1e-9`` asks for a billion thresholds (killed for memory at 23 GB) and
``--workers 64`` on two cores starts 64 processes (7.4 GB) that run no faster than two.

* :data:`MAX_THRESHOLDS`: the CAM-threshold grid ``np.arange(0, 1, step)`` may have at most
  10,001 points (``step >= 0.0001``; the field uses 0.01 and 0.001). Every accumulator keeps counts
  per threshold and every result one curve point per threshold, so memory, time and the result's
  size grow with it.
* workers: at most the CPUs this process may run on (:func:`available_cpus`); more processes
  only add memory. The evaluation also starts no more processes than it has chunks of images.

Example:
    >>> check_cam_step(0.001)
    >>> check_cam_step(1e-9)
    Traceback (most recent call last):
    ...
    wsolbench.errors.ProtocolError: cam_step 1e-09 gives 1,000,000,000 thresholds; at most 10,001 are allowed ...
"""

from __future__ import annotations

import math
import os

from wsolbench.errors import ProtocolError, WsolbenchError

MAX_THRESHOLDS = 10_001


def n_thresholds(step: float) -> int:
    """Length of ``np.arange(0, 1, step)`` (computed without building it)."""
    return int(math.ceil(1.0 / float(step)))


def check_cam_step(step: float) -> None:
    """Refuse a CAM-threshold step whose grid would exceed :data:`MAX_THRESHOLDS` points.

    Raises:
        ProtocolError: naming the step, the grid size, the bound and why.
    """
    n = n_thresholds(step)
    if n > MAX_THRESHOLDS:
        raise ProtocolError(f"cam_step {step:g} gives {n:,} thresholds; at most {MAX_THRESHOLDS:,} are allowed "
                            f"(cam_step >= {1 / (MAX_THRESHOLDS - 1):g}) because every accumulator keeps counts per "
                            "threshold and every result one curve point per threshold; the field uses 0.01 or 0.001")


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one, else the CPU count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class BoundError(WsolbenchError):
    """A numeric request exceeds its bound (the message says which and why)."""


def check_workers(workers: int, *, option: str = "--workers") -> int:
    """Accept 1 to :func:`available_cpus` worker processes; return ``workers``.

    Raises:
        BoundError: naming the option, the value, the bound and why.
    """
    limit = available_cpus()
    if workers < 1:
        raise BoundError(f"{option} {workers}: give at least 1 process")
    if workers > limit:
        raise BoundError(f"{option} {workers}: at most {limit}, the CPUs this process may use; more processes "
                         f"than CPUs run no faster and each holds its own share of memory (use {option} {limit})")
    return workers
