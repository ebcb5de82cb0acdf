"""Sanity baselines: score maps that need no training, to put a method's numbers in context.

* ``center-gaussian``: the centred isotropic Gaussian of the wsolevaluation paper (Choe et al.,
  CVPR 2020, "center-gaussian baseline"). The paper sets its standard deviation to 1 and notes that
  the value does not affect the threshold-swept metrics; the unit is not stated. Here the frame is
  normalised to [-1, 1] along each axis (pixel centres) and sigma = 1 in those units, so the raw
  map falls from 1 at the centre to exp(-1) in the corners; after the protocol's min-max
  normalisation its level sets are the centred circles (ellipses in non-square frames) that any
  sigma gives, and a CAM-threshold sweep scans their radius.
* ``random``: uniform noise in [0, 1), one independent draw per pixel, seeded.
* ``full-image``: a map that evaluates to the whole-image box: constant 1.0 stored as *normalized*
  scores (a raw constant map would be normalised to zeros by the protocol, as in the reference).
  After quantisation every pixel is 255 > ``int(t * 255)`` at every threshold, so each threshold
  yields one box ``[0, 0, W-1, H-1]``; PxAP equals the foreground fraction.

No predicted labels are written (top-1 metrics are n/a). Maps are written at the protocol's
resolution (a (1, L) map under a 1-D ``(L, 1)`` protocol).

Example:
    >>> from wsolbench.sanity import sanity_map
    >>> m = sanity_map("center-gaussian", (5, 3))
    >>> m.shape, float(m[1, 2])
    ((3, 5), 1.0)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from wsolbench.datasets.records import AnnotationSet
from wsolbench.errors import DatasetError, WsolbenchError
from wsolbench.protocol import Protocol

SANITY_KINDS = ("center-gaussian", "random", "full-image")
#: Standard deviation of the centre Gaussian, in units of the half-frame (frame = [-1, 1]^2).
CENTER_GAUSSIAN_SIGMA = 1.0
_BATCH = 128


def center_gaussian(resolution: tuple[int, int], *, sigma: float = CENTER_GAUSSIAN_SIGMA) -> np.ndarray:
    """A centred isotropic Gaussian in the frame normalised to [-1, 1] per axis.

    Args:
        resolution: ``(width, height)``.
        sigma: standard deviation in half-frame units.

    Returns:
        float64 (height, width), 1.0 at the centre (a size-1 axis counts as centred).
    """
    width, height = resolution
    u = (np.arange(width) + 0.5) / width * 2 - 1
    v = (np.arange(height) + 0.5) / height * 2 - 1
    return np.exp(-(v[:, None] ** 2 + u[None, :] ** 2) / (2 * sigma * sigma))


def sanity_map(kind: str, resolution: tuple[int, int], *, rng: np.random.Generator | None = None) -> np.ndarray:
    """One sanity map, float64 (height, width).

    Args:
        kind: one of :data:`SANITY_KINDS`.
        resolution: ``(width, height)``.
        rng: the generator ``random`` draws from (default: seed 0).
    """
    width, height = resolution
    if kind == "center-gaussian":
        return center_gaussian(resolution)
    if kind == "random":
        return (rng or np.random.default_rng(0)).random((height, width))
    if kind == "full-image":
        return np.ones((height, width))
    raise DatasetError(f"unknown sanity baseline {kind!r}; choose one of {', '.join(SANITY_KINDS)}")


def _maps_path(kind: str, out_path) -> Path:
    """``out_path`` itself, or ``<out_path>/sanity-<kind>.h5`` when it is (or ends like) a folder."""
    text = os.fspath(out_path)
    path = Path(text)
    if path.is_dir() or text.endswith(("/", os.sep)):
        return path / f"sanity-{kind}.h5"
    return path


def _batches(kind: str, n: int, resolution: tuple[int, int], seed: int):
    """Yield (start, maps (b, H, W)) as float16: half the bytes of float32 (uniform noise does not
    compress) and still about five float16 steps per uint8 level of the quantised map."""
    width, height = resolution
    rng = np.random.default_rng(seed)
    fixed = None if kind == "random" else sanity_map(kind, resolution).astype(np.float16)
    for start in range(0, n, _BATCH):
        b = min(_BATCH, n - start)
        if fixed is None:
            yield start, rng.random((b, height, width)).astype(np.float16)
        else:
            yield start, np.broadcast_to(fixed, (b, height, width))


def write_sanity_maps(kind: str, annotations: AnnotationSet, out_path, *, protocol: Protocol,
                      seed: int = 0) -> Path:
    """Write a score-map file with one sanity map per image of ``annotations``.

    Args:
        kind: ``center-gaussian``, ``random`` or ``full-image``.
        annotations: the split to cover (every image id gets one map, in record order).
        out_path: the ``.h5`` file, or a folder (the file is then ``sanity-<kind>.h5`` in it).
        protocol: maps are written at ``protocol.resolution``.
        seed: seed of the ``random`` baseline.

    Returns:
        The path of the written file (written atomically by the score-map writer).
    """
    from wsolbench.scoremaps import ScoreMapWriter

    if kind not in SANITY_KINDS:
        raise DatasetError(f"unknown sanity baseline {kind!r}; choose one of {', '.join(SANITY_KINDS)}")
    if len(annotations) == 0:
        raise WsolbenchError(f"{annotations.source or annotations.name}: the split has no images; nothing to write")
    path = _maps_path(kind, out_path)
    ids = annotations.image_ids
    attrs = {"method": f"sanity/{kind}", "backbone": "none", "dataset": annotations.name,
             "split": annotations.split, "seed": int(seed) if kind == "random" else None,
             "sigma": CENTER_GAUSSIAN_SIGMA if kind == "center-gaussian" else None,
             "notes": _NOTES[kind]}
    with ScoreMapWriter(path, normalized=(kind == "full-image"), attrs=attrs) as writer:
        for start, maps in _batches(kind, len(ids), protocol.resolution, seed):
            writer.append(ids[start:start + len(maps)], maps)
    return path


_NOTES = {
    "center-gaussian": "centred isotropic Gaussian, sigma = 1 in the frame normalised to [-1, 1] per axis; raw maps",
    "random": "uniform noise in [0, 1) per pixel (numpy default_rng(seed)); raw maps",
    "full-image": "constant 1.0 stored as normalized scores: the whole-image box at every threshold",
}
