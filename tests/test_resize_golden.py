"""Map post-processing against the reference: golden CAM normalisation, and OpenCV as a local oracle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from wsolbench.errors import FormatError
from wsolbench.metrics.resize import (
    normalize_minmax,
    postprocess_map,
    resize_bicubic,
    resize_bilinear,
    resize_nearest,
)
from wsolbench.protocol import get_protocol

GOLDEN = Path(__file__).parent / "data" / "golden"
NORM_KEYS = [f"{k:02d}" for k in range(12)]


@pytest.fixture(scope="module")
def golden():
    with np.load(GOLDEN / "golden.npz") as z:
        data = {k: z[k] for k in z.files if k.startswith("norm_")}
    data["expected"] = json.loads((GOLDEN / "expected.json").read_text())["normalization"]
    return data


@pytest.mark.parametrize("key", NORM_KEYS)
def test_golden_cam_postprocessing_is_bit_identical(golden, key):
    cam = golden[f"norm_cam_{key}"]
    expected = golden[f"norm_expected_{key}"]
    ours, was_constant = postprocess_map(cam, get_protocol("wsoleval"), normalized=False)
    assert ours.dtype == np.float64 and ours.shape == (224, 224)
    assert np.array_equal(ours, expected)  # bit-identical, not merely close
    info = golden["expected"][int(key)]
    assert was_constant == (info["expected_max"] == 0.0)
    assert ours.min() == info["expected_min"] and ours.max() == info["expected_max"]


@pytest.mark.parametrize("key", NORM_KEYS)
def test_golden_two_step_functions_equal_postprocess(golden, key):
    cam = golden[f"norm_cam_{key}"]
    two_step = normalize_minmax(resize_bicubic(cam.astype(np.float64), (224, 224)))
    assert np.array_equal(two_step, golden[f"norm_expected_{key}"])


# --- OpenCV as an oracle (local only) ---------------------------------------------------------------

SHAPES = [  # (src_h, src_w, dst_h, dst_w)
    (7, 7, 224, 224), (14, 14, 224, 224), (28, 28, 224, 224), (56, 56, 224, 224),
    (13, 9, 224, 224), (9, 31, 57, 100), (7, 7, 31, 17),                       # odd sizes
    (1063, 1600, 224, 224), (333, 500, 224, 224), (448, 448, 224, 224),       # down-sampling
    (100, 60, 50, 30), (17, 33, 50, 6), (224, 224, 224, 224),
    (5, 1, 224, 224), (1, 300, 1, 224), (1, 1, 5, 5), (2, 2, 1, 1), (1000, 3, 7, 1000),
]


@pytest.fixture
def cv2_portable():
    """cv2 with IPP switched off for the test's duration (restored afterwards)."""
    cv2 = pytest.importorskip("cv2")
    before = cv2.ipp.useIPP()
    cv2.ipp.setUseIPP(False)
    yield cv2
    cv2.ipp.setUseIPP(before)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_bicubic_and_nearest_equal_cv2(shape):
    cv2 = pytest.importorskip("cv2")
    h, w, out_h, out_w = shape
    arr = np.random.default_rng(h * 1000 + w).standard_normal((h, w))
    assert np.array_equal(resize_bicubic(arr, (out_w, out_h)),
                          cv2.resize(arr, (out_w, out_h), interpolation=cv2.INTER_CUBIC))
    for dtype in (np.float64, np.float32, np.uint8):
        a = (np.abs(arr) * 60).astype(dtype)
        ours = resize_nearest(a, (out_w, out_h))
        assert ours.dtype == dtype
        assert np.array_equal(ours, cv2.resize(a, (out_w, out_h), interpolation=cv2.INTER_NEAREST))


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_bilinear_equals_portable_cv2(cv2_portable, shape):
    cv2 = cv2_portable
    h, w, out_h, out_w = shape
    arr = np.random.default_rng(h + 7 * w).standard_normal((h, w))
    assert np.array_equal(resize_bilinear(arr, (out_w, out_h)),
                          cv2.resize(arr, (out_w, out_h), interpolation=cv2.INTER_LINEAR))


def test_bicubic_float32_input_is_computed_in_float64():
    cv2 = pytest.importorskip("cv2")
    cam = np.random.default_rng(3).random((14, 14)).astype(np.float32)
    ref = cv2.resize(cam.astype(np.float64), (224, 224), interpolation=cv2.INTER_CUBIC)
    assert np.array_equal(resize_bicubic(cam, (224, 224)), ref)


def test_nearest_on_large_odd_masks_equals_cv2():
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(11)
    for h, w in [(1063, 1600), (1600, 1063), (333, 500), (241, 319)]:
        mask = (rng.random((h, w)) > 0.5).astype(np.float32)
        for size in [(224, 224), (223, 97)]:
            assert np.array_equal(resize_nearest(mask, size), cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST))


def test_resize_rejects_bad_rank():
    with pytest.raises(FormatError, match="2-D"):
        resize_bicubic(np.zeros((3, 3, 3)), (224, 224))
    with pytest.raises(FormatError, match="2-D"):
        resize_nearest(np.zeros(5), (224, 224))


# --- postprocess_map and normalize_minmax behaviour ------------------------------------------------

def test_normalize_minmax_reference_semantics():
    cam = np.array([[2.0, 4.0], [3.0, 6.0]])
    out = normalize_minmax(cam)
    assert out.tolist() == [[0.0, 0.5], [0.25, 1.0]]
    assert cam.tolist() == [[2.0, 4.0], [3.0, 6.0]]  # input untouched
    assert np.array_equal(normalize_minmax(np.full((3, 3), 7.0)), np.zeros((3, 3)))
    with_nan = np.array([[1.0, np.nan], [0.0, 2.0]])
    assert np.array_equal(normalize_minmax(with_nan), np.zeros((2, 2)))
    # divide by the max taken AFTER subtracting the min (the reference's order)
    signed = np.array([[-3.0, 1.0], [0.5, -1.0]])
    expected = signed - signed.min()
    expected /= expected.max()
    assert np.array_equal(normalize_minmax(signed), expected)


def test_postprocess_raw_map_at_resolution_skips_resize():
    raw = np.random.default_rng(0).random((224, 224)) * 5 - 1
    out, const = postprocess_map(raw, get_protocol(), normalized=False)
    assert not const
    assert np.array_equal(out, normalize_minmax(raw))


def test_postprocess_constant_and_nan_raw_maps_are_zeros():
    for raw in (np.full((7, 7), 3.5), np.full((224, 224), 0.3), np.array([[np.nan, 1.0], [0.0, 2.0]])):
        out, const = postprocess_map(raw, get_protocol(), normalized=False)
        assert const and out.shape == (224, 224) and not out.any()


def test_constant_low_res_map_keeps_the_reference_rounding_quirk():
    # OpenCV's float32 cubic weights do not sum to exactly 1 in float64: a constant 0.3 CAM comes out
    # of cv2.resize with values 0.3 +- 1 ulp, and the reference's min-max normalisation then stretches
    # that noise to [0, 1]. Reproduced exactly (parity), not "fixed".
    up = resize_bicubic(np.full((7, 7), 0.3), (224, 224))
    assert up.min() < 0.3 < up.max() and up.max() - up.min() < 1e-15
    out, const = postprocess_map(np.full((7, 7), 0.3), get_protocol(), normalized=False)
    assert not const and out.min() == 0.0 and out.max() == 1.0


def test_postprocess_normalized_map_is_validated_not_renormalised():
    m = np.random.default_rng(1).random((224, 224)) * 0.5 + 0.2
    out, const = postprocess_map(m.astype(np.float32), get_protocol(), normalized=True)
    assert np.array_equal(out, m.astype(np.float32).astype(np.float64)) and not const
    out, const = postprocess_map(np.ones((224, 224)), get_protocol(), normalized=True)
    assert const and (out == 1.0).all()
    with pytest.raises(FormatError, match=r"outside \[0, 1\].*image 'a/b.jpg'|image 'a/b.jpg'.*outside \[0, 1\]"):
        postprocess_map(m + 0.6, get_protocol(), normalized=True, image_id="a/b.jpg")
    with pytest.raises(FormatError):
        postprocess_map(np.full((224, 224), np.nan), get_protocol(), normalized=True)


def test_postprocess_normalized_low_res_map_is_resized_and_clipped():
    m = np.zeros((7, 7))
    m[3, 3] = 1.0  # bicubic overshoots below 0 around the peak
    out, _ = postprocess_map(m, get_protocol(), normalized=True)
    raw = resize_bicubic(m, (224, 224))
    assert raw.min() < 0 and out.min() == 0.0 and out.max() <= 1.0
    assert np.array_equal(out, np.clip(raw, 0, 1))


def test_postprocess_uses_protocol_interpolation_and_resolution():
    raw = np.random.default_rng(2).random((10, 12))
    p = get_protocol("wsoleval", resolution=(40, 30)).with_(interpolation="nearest")
    out, _ = postprocess_map(raw, p, normalized=False)
    assert out.shape == (30, 40)
    assert np.array_equal(out, normalize_minmax(resize_nearest(raw, (40, 30))))


def test_postprocess_one_dimensional_map_resizes_along_length_only():
    cv2 = pytest.importorskip("cv2")
    sig = np.random.default_rng(4).random((1, 100))
    out, _ = postprocess_map(sig, get_protocol("wsoleval", resolution=(256, 1)), normalized=False)
    assert out.shape == (1, 256)
    assert np.array_equal(out, normalize_minmax(cv2.resize(sig, (256, 1), interpolation=cv2.INTER_CUBIC)))


def test_postprocess_rejects_bad_maps():
    with pytest.raises(FormatError, match="2-D"):
        postprocess_map(np.zeros((7, 7, 3)), get_protocol(), normalized=False, image_id="x")
    with pytest.raises(FormatError, match="infinite"):
        postprocess_map(np.array([[0.0, np.inf]]), get_protocol(), normalized=False)
