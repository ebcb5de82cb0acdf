"""The raw-map box path (``postprocess_best_ious``: resize + normalise + quantise + box engine in one
engine call) against the two-step path it replaces (``postprocess_map`` then ``best_ious``): the
same map, constant flag and IoUs bit for bit, on many random raw CAMs and the edge cases."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest

from wsolbench.errors import FormatError
from wsolbench.metrics.boxes import best_ious, postprocess_best_ious
from wsolbench.metrics.resize import postprocess_map
from wsolbench.protocol import get_protocol


def _two_step(raw, protocol, gt, thresholds, all_regions=True):
    m, constant = postprocess_map(raw, protocol, normalized=False)
    return m, constant, best_ious(m, gt, thresholds, all_regions=all_regions)


def _assert_same(raw, protocol, gt, thresholds=None, all_regions=True):
    t = protocol.cam_thresholds() if thresholds is None else thresholds
    m1, c1, b1 = _two_step(raw, protocol, gt, t, all_regions)
    m2, c2, b2 = postprocess_best_ious(raw, protocol, gt, t, all_regions=all_regions)
    assert m2.dtype == np.float64 and m2.shape == m1.shape
    assert np.array_equal(m1, m2) and c1 == c2
    assert np.array_equal(b1.largest, b2.largest)
    if all_regions:
        assert np.array_equal(b1.all, b2.all)
    else:
        assert b2.all is None
    assert np.array_equal(b2.thresholds, t)
    return m2, c2, b2


def _random_box(rng, w, h):
    x0, x1 = sorted(int(v) for v in rng.integers(0, w, 2))
    y0, y1 = sorted(int(v) for v in rng.integers(0, h, 2))
    return [x0, y0, x1, y1]


@pytest.mark.parametrize("step", [0.01, 0.001])
def test_random_signed_cams_match_the_two_step_path(step):
    rng = np.random.default_rng(11)
    protocol = get_protocol(cam_step=step)
    for i in range(60):
        h, w = (int(v) for v in rng.integers(1, 40, 2))
        cam = rng.normal(size=(h, w)) * 10.0 ** rng.uniform(-6, 6) + rng.normal() * 10.0 ** rng.uniform(-3, 3)
        if i % 3 == 0:
            cam = np.maximum(cam, 0)                 # ReLU'd CAM: a plateau at the minimum
        if i % 5 == 0:
            cam = cam.astype(np.float32)
        gt = np.array([_random_box(rng, 224, 224) for _ in range(int(rng.integers(0, 4)))], np.int64).reshape(-1, 4)
        _assert_same(cam, protocol, gt)


def test_tiny_large_at_size_and_integer_maps():
    rng = np.random.default_rng(12)
    protocol = get_protocol(cam_step=0.01)
    gt = np.array([[20, 30, 120, 200]])
    for raw in (np.array([[3.0]]), rng.normal(size=(1, 2)), rng.normal(size=(2, 1)),
                rng.normal(size=(300, 260)),               # down-sampling
                rng.normal(size=(224, 224)),               # at size: normalised only
                rng.integers(-5, 5, (9, 9)),               # integers
                rng.random((7, 7)) > 0.5):                 # booleans
        _assert_same(raw, protocol, gt)


def test_constant_and_nan_maps_give_zeros_and_the_constant_flag():
    protocol = get_protocol(cam_step=0.01)
    gt = np.array([[0, 0, 50, 50]])
    for raw in (np.full((7, 7), 2.5), np.zeros((14, 14)), np.where(np.eye(7) > 0, np.nan, 1.0)):
        m, constant, _ = _assert_same(raw, protocol, gt)
        assert constant and not m.any()


def test_one_dimensional_signals():
    rng = np.random.default_rng(13)
    protocol = get_protocol(cam_step=0.01, resolution=(224, 1))
    for length in (1, 7, 50, 224, 500):
        signal = np.convolve(rng.normal(size=length + 6), np.ones(7) / 7, mode="valid")[None, :length]
        _assert_same(signal, protocol, np.array([[10, 0, 80, 0]]))


def test_largest_only_and_other_protocols_fall_back_to_the_two_steps():
    rng = np.random.default_rng(14)
    cam = rng.normal(size=(14, 14))
    gt = np.array([[40, 40, 180, 150]])
    _assert_same(cam, get_protocol(cam_step=0.01), gt, all_regions=False)
    for change in ({"interpolation": "bilinear"}, {"interpolation": "nearest"}, {"normalization": "none"}):
        protocol = dataclasses.replace(get_protocol(cam_step=0.01), **change)
        raw = rng.random((14, 14)) if change.get("normalization") == "none" else cam
        _assert_same(raw, protocol, gt)


def test_bad_maps_raise_the_postprocessing_errors():
    protocol = get_protocol(cam_step=0.01)
    gt = np.array([[0, 0, 10, 10]])
    with pytest.raises(FormatError, match="infinite"):
        postprocess_best_ious(np.array([[0.0, np.inf], [1.0, 2.0]]), protocol, gt, protocol.cam_thresholds())
    with pytest.raises(FormatError, match="2-D"):
        postprocess_best_ious(np.zeros(5), protocol, gt, protocol.cam_thresholds())
    # finite values whose resize overflows (to infinities or NaN): whatever the two steps give
    for huge in (np.array([[1.7e308, -1.7e308], [-1.7e308, 1.7e308]]), np.array([[1.7e308, 1.0], [1.0, 1.0]]),
                 np.array([[1.7e308, -1.7e308, 0.0]])):
        try:
            expected = _two_step(huge, protocol, gt, protocol.cam_thresholds())
        except FormatError as e:
            with pytest.raises(FormatError) as fused:
                postprocess_best_ious(huge, protocol, gt, protocol.cam_thresholds())
            assert str(fused.value) == str(e)
        else:
            assert expected is not None
            _assert_same(huge, protocol, gt)


_KERNELS_SCRIPT = """
import sys
import numpy as np
from scipy import ndimage
from wsolbench.metrics.boxes import postprocess_best_ious
from wsolbench.protocol import get_protocol
rng = np.random.default_rng(15)
protocol = get_protocol(cam_step=0.001)
out = []
for i in range(40):
    side = int(rng.choice([7, 14, 28, 224]))
    cam = rng.normal(size=(side, side))
    if i % 2:
        cam = ndimage.gaussian_filter(cam, 1.5)
    gt = np.array([[int(rng.integers(0, 100)), int(rng.integers(0, 100)), int(rng.integers(100, 224)),
                    int(rng.integers(100, 224))]])
    m, constant, best = postprocess_best_ious(cam, protocol, gt, protocol.cam_thresholds())
    out.append(np.concatenate([best.largest, best.all, m.ravel()[::97]]))
np.save(sys.argv[1], np.stack(out))
"""


def test_the_baseline_kernels_give_the_same_results(tmp_path):
    """The engine picks SSE4.1 sweep loops where the CPU has them; the SSE2 / plain-C ones
    (``WSOLBENCH_ENGINE_KERNELS=baseline``) must give the same numbers bit for bit."""
    results = []
    for kernels in ("", "baseline"):
        env = dict(os.environ, WSOLBENCH_ENGINE_KERNELS=kernels)
        path = tmp_path / f"out{kernels}.npy"
        subprocess.run([sys.executable, "-c", _KERNELS_SCRIPT, str(path)], env=env, check=True)
        results.append(np.load(path))
    assert np.array_equal(results[0], results[1])
