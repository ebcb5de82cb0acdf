"""Behaviour of the box engine (wsolbench.metrics.boxes): semantics on hand-made maps, input
validation, and randomized comparisons against the naive per-threshold implementation
(``benchmarks/naive_boxes.py``) and, where installed, against OpenCV itself."""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from wsolbench.errors import AnnotationError, FormatError, ProtocolError
from wsolbench.metrics import best_boxes, best_ious, box_iou, extract_boxes, quantize


def _load_naive():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "naive_boxes.py"
    spec = importlib.util.spec_from_file_location("naive_boxes", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


naive = _load_naive()


# ---------------------------------------------------------------------------- random map families

def _smooth(rng, h, w):
    return ndimage.gaussian_filter(rng.random((h, w)), sigma=rng.uniform(1, 4))


def _noise(rng, h, w):
    return rng.random((h, w))


def _rings(rng, h, w):
    yy, xx = np.mgrid[:h, :w]
    m = np.zeros((h, w))
    for _ in range(rng.integers(1, 4)):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        radius, width = rng.uniform(2, max(3, min(h, w) / 2)), rng.uniform(1, 3)
        ring = np.clip(1 - np.abs(np.hypot(yy - cy, xx - cx) - radius) / width, 0, 1)
        m = np.maximum(m, ring * rng.uniform(0.5, 1))
    return m


def _diagonal(rng, h, w):
    m = (rng.random((h, w)) < 0.15) * rng.random((h, w))
    k = rng.integers(-h, w)
    for i in range(h):
        if 0 <= i + k < w:
            m[i, i + k] = rng.uniform(0.5, 1)
    return m


def _sparse(rng, h, w):
    m = np.zeros((h, w))
    n = rng.integers(1, max(2, h * w // 4))
    m[rng.integers(0, h, n), rng.integers(0, w, n)] = rng.random(n)
    return m


def _mirrored(rng, h, w):
    half = _smooth(rng, h, max(1, w // 2))
    return np.concatenate([half, half[:, ::-1]], axis=1)        # tied contour areas


FAMILIES = (_smooth, _noise, _rings, _diagonal, _sparse, _mirrored)


def random_map(rng, *, max_side=40):
    """A small random map in [0, 1] (80 % min-max normalised) of a random family and size."""
    family = FAMILIES[rng.integers(len(FAMILIES))]
    m = family(rng, int(rng.integers(1, max_side)), int(rng.integers(1, max_side)))
    if rng.random() < 0.8 and m.max() > m.min():
        m = (m - m.min()) / (m.max() - m.min())
    return np.clip(m, 0, 1)


def random_gt(rng, h, w, n=None):
    n = int(rng.integers(1, 4)) if n is None else n
    x = np.sort(rng.integers(0, w, (n, 2)), axis=1)
    y = np.sort(rng.integers(0, h, (n, 2)), axis=1)
    return np.stack([x[:, 0], y[:, 0], x[:, 1], y[:, 1]], axis=1)


def _multiset(boxes):
    return Counter(map(tuple, np.asarray(boxes).tolist()))


# ---------------------------------------------------------------------------- quantisation, IoU

def test_quantize_truncates():
    below = np.nextafter(np.float32(100 / 255), np.float32(0))
    m = np.array([[0.0, 0.5, 1.0, 1 / 255, below]], dtype=np.float32)
    assert quantize(m).tolist() == [[0, 127, 255, 1, 99]]
    assert quantize(m).dtype == np.uint8


@pytest.mark.parametrize("bad, words", [
    (np.zeros((2, 3, 4)), "2-D"),
    (np.zeros((0, 4)), "2-D"),
    (np.array([[0.2, np.nan]]), "NaN"),
    (np.array([[0.2, np.inf]]), "NaN"),
    (np.array([[0.2, 1.5]]), "[0, 1]"),
    (np.array([[-0.1, 0.5]]), "[0, 1]"),
    (np.array([["a"]]), "real numbers"),
])
def test_bad_maps_raise_format_error(bad, words):
    with pytest.raises(FormatError, match=words.replace("[", r"\[").replace("]", r"\]")):
        best_ious(bad, np.array([[0, 0, 1, 1]]), np.array([0.5]))


def test_box_iou_reference_arithmetic():
    assert box_iou(np.array([[0, 0, 0, 0]]), np.array([[0, 0, 1, 0]])).tolist() == [[0.5]]
    a = np.array([[0, 0, 9, 9], [20, 20, 29, 29]])
    b = np.array([[5, 5, 14, 14], [0, 0, 9, 9], [100, 100, 101, 101]])
    iou = box_iou(a, b)
    assert iou.shape == (2, 3) and iou.dtype == np.float64
    assert iou[0, 0] == 25 / (100 + 100 - 25)
    assert iou[0, 1] == 1.0 and iou[1, 2] == 0.0


@pytest.mark.parametrize("bad", [[[-1, 0, 3, 3]], [[4, 0, 3, 3]], [[0, 5, 3, 3]], [[0, 0, 3]]])
def test_box_iou_rejects_bad_boxes(bad):
    with pytest.raises(ValueError):
        box_iou(np.array(bad), np.array([[0, 0, 1, 1]]))


def test_bad_gt_and_thresholds():
    m = np.eye(5)
    with pytest.raises(AnnotationError, match="x1 < x0"):
        best_ious(m, np.array([[3, 0, 1, 2]]), np.array([0.5]))
    with pytest.raises(AnnotationError, match="integer"):
        best_ious(m, np.array([[0.5, 0, 1, 2]]), np.array([0.5]))
    with pytest.raises(ProtocolError, match=r"\[0, 1\)"):
        best_ious(m, np.array([[0, 0, 1, 2]]), np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="regions"):
        extract_boxes(m, 0.5, regions="biggest")


# ---------------------------------------------------------------------------- box semantics

def test_box_is_one_past_the_extent_clipped_at_the_border():
    m = np.zeros((10, 12))
    m[2:5, 3:7] = 1.0           # rows 2..4, cols 3..6
    m[7:10, 9:12] = 0.8         # touches the bottom-right corner
    assert _multiset(extract_boxes(m, 0.5, regions="all")) == _multiset([[3, 2, 7, 5], [9, 7, 11, 9]])


def test_strict_threshold_on_the_quantised_maximum():
    m = np.array([[0.2, 0.5, 0.6]])                        # u8 = 51, 127, 153; max 153
    # thr = int(0.5 * 153) = 76: 127 and 153 are foreground; int(0.83 * 153) = 126: only 127 and 153
    assert extract_boxes(m, 0.5, regions="all").tolist() == [[1, 0, 2, 0]]
    assert extract_boxes(m, 0.83, regions="all").tolist() == [[1, 0, 2, 0]]
    assert extract_boxes(m, 0.84, regions="all").tolist() == [[2, 0, 2, 0]]    # thr 128 > 127


def test_diagonal_pixels_are_one_region():
    m = np.eye(6)[::-1]
    assert extract_boxes(m, 0.5, regions="all").tolist() == [[0, 0, 5, 5]]


def test_hole_gives_its_own_box_and_never_wins_largest():
    m = np.zeros((20, 20))
    m[5:15, 5:15] = 1.0
    m[6:14, 6:14] = 0.0                                  # hole rows/cols 6..13
    assert _multiset(extract_boxes(m, 0.5, regions="all")) == _multiset([[5, 5, 15, 15], [5, 5, 15, 15]])
    m[8:12, 8:12] = 1.0                                  # an island inside the hole
    boxes = extract_boxes(m, 0.5, regions="all")
    assert _multiset(boxes) == _multiset([[5, 5, 15, 15], [5, 5, 15, 15], [8, 8, 12, 12]])
    assert extract_boxes(m, 0.5).tolist() == [[5, 5, 15, 15]]


def test_diagonally_touching_holes_are_separate():
    m = np.ones((5, 5))
    m[1, 1] = m[2, 2] = 0.0            # background is 4-connected: two holes
    boxes = extract_boxes(m, 0.5, regions="all").tolist()
    assert _multiset(boxes) == _multiset([[0, 0, 4, 4], [0, 0, 3, 3], [1, 1, 4, 4]])


def test_largest_is_by_contour_area_not_pixel_count():
    m = np.zeros((12, 12))
    m[1, 0:9] = 1.0                    # 9 pixels, contour area 0
    m[5:7, 5:7] = 1.0                  # 4 pixels, contour area 1
    assert extract_boxes(m, 0.5).tolist() == [[5, 5, 7, 7]]


def test_tie_goes_to_the_last_region_in_raster_order():
    m = np.zeros((10, 10))
    m[1:3, 6:8] = 1.0                  # first in raster order, area 1
    m[6:8, 1:3] = 1.0                  # last in raster order, area 1
    assert extract_boxes(m, 0.5).tolist() == [[1, 6, 3, 8]]
    single = np.zeros((4, 4))
    single[0, 3] = single[2, 0] = 1.0
    assert extract_boxes(single, 0.5).tolist() == [[0, 2, 1, 3]]


def test_empty_foreground_gives_the_origin_pixel_box():
    m = np.full((6, 6), 0.003)         # quantises to 0 everywhere
    assert extract_boxes(m, 0.0).tolist() == [[0, 0, 0, 0]]
    best = best_ious(m, np.array([[0, 0, 1, 0]]), np.array([0.0, 0.5]))
    assert best.largest.tolist() == [0.5, 0.5] and best.all.tolist() == [0.5, 0.5]


def test_one_dimensional_maps_give_intervals():
    signal = np.array([[0.0, 0.9, 1.0, 0.1, 0.0, 0.8, 0.95, 0.9, 0.0, 0.7]])
    assert extract_boxes(signal, 0.5, regions="all").tolist() == [[1, 0, 3, 0], [5, 0, 8, 0], [9, 0, 9, 0]]
    assert extract_boxes(signal, 0.5).tolist() == [[5, 0, 8, 0]]     # 1-D: the longest interval
    column = signal.T
    assert extract_boxes(column, 0.5, regions="all").tolist() == [[0, 1, 0, 3], [0, 5, 0, 8], [0, 9, 0, 9]]
    assert extract_boxes(column, 0.5).tolist() == [[0, 5, 0, 8]]
    best = best_ious(signal, np.array([[5, 0, 7, 0]]), np.arange(0, 1, 0.1))
    assert best.all.max() == 0.75 and best.largest.shape == (10,)
    assert best_ious(np.array([[0.7]]), np.array([[0, 0, 0, 0]]), np.array([0.2])).largest.tolist() == [1.0]


def test_best_boxes_picks_the_best_match():
    m = np.zeros((20, 20))
    m[1:4, 1:4] = 1.0
    m[10:18, 10:18] = 0.9
    box, iou = best_boxes(m, 0.5, np.array([[1, 1, 4, 4]]), regions="all")
    assert box.tolist() == [1, 1, 4, 4] and iou == 1.0
    box, iou = best_boxes(m, 0.5, np.array([[1, 1, 4, 4]]), regions="largest")
    assert box.tolist() == [10, 10, 18, 18] and iou == 0.0


def test_grid_values_do_not_depend_on_the_rest_of_the_grid():
    rng = np.random.default_rng(3)
    m = ndimage.gaussian_filter(rng.random((50, 60)), 3)
    m = (m - m.min()) / (m.max() - m.min())
    gt = np.array([[10, 5, 40, 30], [0, 0, 5, 5]])
    grid = np.arange(0, 1, 0.001)
    full = best_ious(m, gt, grid)
    pick = np.array([3, 500, 999, 77])
    part = best_ious(m, gt, grid[pick])
    assert np.array_equal(full.largest[pick], part.largest) and np.array_equal(full.all[pick], part.all)
    assert best_ious(m, gt, grid, all_regions=False).all is None
    assert (full.all >= full.largest).all()
    for k in (0, 250, 900):
        assert best_boxes(m, grid[k], gt, regions="all")[1] == full.all[k]
        assert best_boxes(m, grid[k], gt)[1] == full.largest[k]


def test_no_gt_box_scores_zero():
    best = best_ious(np.eye(4), np.zeros((0, 4), np.int64), np.array([0.0, 0.5]))
    assert best.largest.tolist() == [0.0, 0.0] and best.all.tolist() == [0.0, 0.0]


# ---------------------------------------------------------------------------- randomized oracles

def test_random_maps_equal_naive_implementation():
    rng = np.random.default_rng(20240611)
    grid = np.arange(0, 1, 0.05)
    for _ in range(150):
        m = random_map(rng, max_side=30)
        gt = random_gt(rng, *m.shape)
        ours = best_ious(m, gt, grid)
        ref_largest, ref_all = naive.naive_best_ious(m, gt, grid)
        assert np.array_equal(ours.largest, ref_largest)
        assert np.array_equal(ours.all, ref_all)
        tau = float(rng.random())
        assert extract_boxes(m, tau).tolist() == naive.naive_extract_boxes(m, tau).tolist()
        assert _multiset(extract_boxes(m, tau, regions="all")) == _multiset(
            naive.naive_extract_boxes(m, tau, regions="all"))


def test_large_noisy_map_equals_naive_implementation():
    rng = np.random.default_rng(9)
    m = ndimage.gaussian_filter(rng.random((224, 224)), 1.0)
    m = (m - m.min()) / (m.max() - m.min())
    gt = np.array([[30, 40, 150, 200], [100, 10, 220, 90]])
    grid = np.arange(0, 1, 0.01)[::7]
    ours = best_ious(m, gt, grid)
    ref_largest, ref_all = naive.naive_best_ious(m, gt, grid)
    assert np.array_equal(ours.largest, ref_largest) and np.array_equal(ours.all, ref_all)


def _cv2_boxes(cv2, m, tau, multi):
    """The reference's compute_bboxes_from_scoremaps for one map and one threshold."""
    u8 = (m.astype(np.float64) * 255).astype(np.uint8)
    H, W = u8.shape
    _, fg = cv2.threshold(u8, int(tau * np.max(u8)), 255, cv2.THRESH_BINARY)
    contours = cv2.findContours(fg, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[0]
    if len(contours) == 0:
        return np.zeros((1, 4), np.int64)
    if not multi:
        contours = [max(contours, key=cv2.contourArea)]
    boxes = []
    for c in contours:
        x, y, w, h = cv2.boundingRect(c)
        boxes.append([x, y, min(x + w, W - 1), min(y + h, H - 1)])
    return np.array(boxes, np.int64)


def _has_area_tie(cv2, m, tau):
    """Several contours share the largest cv2.contourArea with different boxes."""
    u8 = (m.astype(np.float64) * 255).astype(np.uint8)
    fg = (u8 > int(tau * np.max(u8))).astype(np.uint8)
    contours = cv2.findContours(fg, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[0]
    if len(contours) < 2:
        return False
    areas = [cv2.contourArea(c) for c in contours]
    return len({cv2.boundingRect(c) for c, a in zip(contours, areas) if a == max(areas)}) > 1


def test_random_maps_equal_opencv():
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(77)
    grid = np.arange(0, 1, 0.1)
    n_ties = 0
    for _ in range(300):
        m = random_map(rng)
        gt = random_gt(rng, *m.shape)
        best = best_ious(m, gt, grid)
        one_d = 1 in m.shape          # 1-D signals: wsolbench's longest-interval rule, not OpenCV's order
        for k, tau in enumerate(grid):
            ref_largest = _cv2_boxes(cv2, m, tau, multi=False)
            if one_d:
                ref_largest = naive.naive_extract_boxes(m, tau)
            ref_all = _cv2_boxes(cv2, m, tau, multi=True)
            assert extract_boxes(m, tau).tolist() == ref_largest.tolist(), (m.shape, tau)
            assert _multiset(extract_boxes(m, tau, regions="all")) == _multiset(ref_all), (m.shape, tau)
            assert best.largest[k] == box_iou(ref_largest, gt).max()
            assert best.all[k] == box_iou(ref_all, gt).max()
            n_ties += _has_area_tie(cv2, m, tau)
    assert n_ties > 100                 # the tie rule is exercised, not just the easy cases


def test_contour_areas_match_opencv():
    """Twice cv2.contourArea of every outer border: the engine's Suzuki-Abe trace and the naive
    Pick-formula oracle both equal OpenCV's."""
    cv2 = pytest.importorskip("cv2")
    from wsolbench.metrics import boxkernel

    rng = np.random.default_rng(5)
    for _ in range(200):
        u8 = quantize(random_map(rng, max_side=25))
        fg = (u8 > 127).astype(np.uint8)
        contours, hierarchy = cv2.findContours(fg, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
        outer = [] if hierarchy is None else [c for c, h in zip(contours, hierarchy[0]) if h[3] < 0]
        expected = sorted(int(round(2 * cv2.contourArea(c))) for c in outer)
        lab, n = ndimage.label(fg, structure=np.ones((3, 3)))
        assert sorted(naive.contour_area2(lab == i) for i in range(1, n + 1)) == expected
        flat = np.ascontiguousarray(u8).reshape(-1)
        order, starts = boxkernel.bucket_by_value(flat)
        _, area2, _ = boxkernel.components_at(flat, u8.shape[1], u8.shape[0], order, starts, 127)
        assert sorted(area2.tolist()) == expected


def test_one_dimensional_largest_region_is_the_longest_interval():
    # A 1 x L map (a signal): every region encloses zero area, so the 2-D rule would pick the last
    # interval; for signals the largest region is the longest one.
    from wsolbench.metrics.boxes import best_ious, extract_boxes

    signal = np.zeros((1, 60))
    signal[0, 5:25] = 0.9        # long interval first
    signal[0, 40:44] = 1.0       # short one last
    assert extract_boxes(signal, 0.5, regions="largest").tolist() == [[5, 0, 25, 0]]
    assert sorted(extract_boxes(signal, 0.5, regions="all").tolist()) == [[5, 0, 25, 0], [40, 0, 44, 0]]
    best = best_ious(signal, np.array([[5, 0, 24, 0]]), np.array([0.5]))
    assert best.largest[0] == pytest.approx(20 / 21)
