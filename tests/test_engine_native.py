"""The compiled engine (wsolbench/metrics/engine.c) and its loader: kernels against independent
oracles (NumPy, the naive per-threshold implementation, OpenCV where installed), the build and
stale-build checks of wsolbench.metrics.native, and a CLI start-up that imports nothing heavy."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys

import numpy as np
import pytest
from scipy import ndimage

from wsolbench.metrics import best_ious, box_iou, extract_boxes, native, normalize_minmax, resize_bicubic
from wsolbench.metrics.masks import PixelAP, bin_edges


from test_boxes_engine import naive  # noqa: E402  (benchmarks/naive_boxes.py, the independent oracle)


def _numpy_normalize(cam):
    """The reference normalize_scoremap, verbatim in NumPy."""
    cam = np.array(cam, dtype=np.float64, copy=True)
    if np.isnan(cam).any() or cam.min() == cam.max():
        return np.zeros_like(cam)
    cam -= cam.min()
    cam /= cam.max()
    return cam


def test_normalize_equals_the_reference_formula_bit_for_bit():
    rng = np.random.default_rng(0)
    for shape in [(224, 224), (7, 7), (1, 13), (3, 1)]:
        for scale in (1e-6, 1.0, 1e6):
            cam = rng.standard_normal(shape) * scale + rng.standard_normal()
            assert np.array_equal(normalize_minmax(cam), _numpy_normalize(cam))
    assert not normalize_minmax(np.full((4, 4), 3.0)).any()
    with_nan = rng.random((5, 5))
    with_nan[2, 3] = np.nan
    assert not normalize_minmax(with_nan).any()
    cam = rng.random((6, 6))
    before = cam.copy()
    normalize_minmax(cam)
    assert np.array_equal(cam, before)                        # the input is not modified


def test_resize_equals_opencv_bit_for_bit():
    cv2 = pytest.importorskip("cv2", reason="OpenCV (the [bench] extra) is not installed")
    rng = np.random.default_rng(1)
    for h, w, oh, ow in [(14, 14, 224, 224), (7, 9, 224, 160), (28, 28, 224, 224), (300, 200, 224, 224),
                         (1, 20, 224, 1)]:
        cam = rng.standard_normal((h, w))
        assert np.array_equal(resize_bicubic(cam, (ow, oh)), cv2.resize(cam, (ow, oh), interpolation=cv2.INTER_CUBIC))


def test_hole_box_wins_the_all_regions_iou_where_it_matches_the_gt():
    # a ring whose hole matches the GT box better than the ring does: the background sweep must run
    m = np.zeros((40, 40))
    m[5:35, 5:35] = 1.0
    m[10:30, 10:30] = 0.2
    gt = np.array([[9, 9, 31, 31]])                  # the box of the ring around the hole (rows/cols 10..29)
    best = best_ious(m, gt, np.array([0.0, 0.5]))
    ref_largest, ref_all = naive.naive_best_ious(m, gt, np.array([0.0, 0.5]))
    assert best.all.tolist() == ref_all.tolist() and best.largest.tolist() == ref_largest.tolist()
    assert best.all[1] == 1.0 > best.largest[1]


def test_pixel_noise_224_equals_naive_and_opencv():
    rng = np.random.default_rng(2)
    m = rng.random((224, 224))
    gt = np.array([[20, 30, 120, 200], [150, 10, 223, 60]])
    grid = np.array([0.0, 0.31, 0.5, 0.77, 0.95])
    best = best_ious(m, gt, grid)
    ref_largest, ref_all = naive.naive_best_ious(m, gt, grid)
    assert np.array_equal(best.largest, ref_largest) and np.array_equal(best.all, ref_all)
    if importlib.util.find_spec("cv2") is None:
        pytest.skip("OpenCV (the [bench] extra) is not installed: compared with the naive oracle only")
    import cv2

    u8 = (m * 255).astype(np.uint8)
    for k, tau in enumerate(grid):
        fg = (u8 > int(tau * u8.max())).astype(np.uint8)
        contours = cv2.findContours(fg, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[0]
        boxes = [cv2.boundingRect(c) for c in contours]
        boxes = np.array([[x, y, min(x + w, 223), min(y + h, 223)] for x, y, w, h in boxes])
        assert best.all[k] == box_iou(boxes, gt).max()
        x, y, w, h = cv2.boundingRect(max(contours, key=cv2.contourArea))
        assert best.largest[k] == box_iou(np.array([[x, y, min(x + w, 223), min(y + h, 223)]]), gt).max()


def _holey_map(rng, h, w):
    """A map whose foreground has holes of every size at many levels: a smooth or noisy base, rings
    (a high border around a lower inside, sometimes a ring in a ring, sometimes open on one side
    until a lower level closes it), and single low pixels and short runs inside high plateaus."""
    m = ndimage.gaussian_filter(rng.random((h, w)), rng.uniform(0.5, 2)) * rng.uniform(0.1, 0.5)
    for _ in range(int(rng.integers(1, 5))):
        y0, x0 = int(rng.integers(0, h - 3)), int(rng.integers(0, w - 3))
        y1, x1 = int(rng.integers(y0 + 3, h + 1)), int(rng.integers(x0 + 3, w + 1))
        hi = rng.uniform(0.5, 1.0)
        m[y0:y1, x0:x1] = np.maximum(m[y0:y1, x0:x1], hi)
        m[y0 + 1:y1 - 1, x0 + 1:x1 - 1] = rng.uniform(0, hi) + rng.random((y1 - y0 - 2, x1 - x0 - 2)) * 0.05
        if rng.random() < 0.4:                             # a gap that a lower level closes
            m[y0, (x0 + x1) // 2] = rng.uniform(0, hi)
    for _ in range(int(rng.integers(0, 12))):              # pin holes and short slits
        y, x = int(rng.integers(1, h - 1)), int(rng.integers(1, w - 2))
        m[y, x:x + int(rng.integers(1, 4))] = rng.uniform(0, 0.3)
    return (m - m.min()) / (m.max() - m.min())


def _gt_near_holes(rng, m):
    """GT boxes that hole boxes match well: boxes of background regions (the ring's box around a
    hole) at a random level, grown or shrunk a little, and tiny boxes (1-3 pixels) inside them."""
    h, w = m.shape
    u8 = (m * 255).astype(np.uint8)
    bg, n = ndimage.label(u8 <= int(rng.uniform(0.1, 0.7) * u8.max()))
    boxes = []
    for sl in ndimage.find_objects(bg)[:3]:
        if sl is None:
            continue
        (y0, y1), (x0, x1) = (sl[0].start, sl[0].stop - 1), (sl[1].start, sl[1].stop - 1)
        g = int(rng.integers(-1, 2))
        boxes.append([max(0, x0 - 1 - g), max(0, y0 - 1 - g), min(w - 1, x1 + 2 + g), min(h - 1, y1 + 2 + g)])
        cx, cy = int(rng.integers(x0, x1 + 1)), int(rng.integers(y0, y1 + 1))
        boxes.append([cx, cy, min(w - 1, cx + int(rng.integers(0, 3))), min(h - 1, cy + int(rng.integers(0, 3)))])
    if not boxes:
        boxes.append([0, 0, w - 1, h - 1])
    boxes = np.array(boxes, np.int64)
    return boxes[rng.permutation(len(boxes))[:int(rng.integers(1, min(3, len(boxes)) + 1))]]


def test_hole_bounds_never_skip_a_winning_hole():
    # The background sweep runs only at the levels where a hole could beat every component (bounds
    # from the loops the foreground sweep closes, hole_births in engine.c): on maps where holes
    # often win, every all-regions IoU still equals the naive per-threshold labelling.
    rng = np.random.default_rng(11)
    grid = np.arange(0, 1, 0.02)
    wins = 0
    for _ in range(60):
        h, w = int(rng.integers(6, 36)), int(rng.integers(6, 36))
        m = _holey_map(rng, h, w)
        gt = _gt_near_holes(rng, m)
        best = best_ious(m, gt, grid)
        ref_largest, ref_all = naive.naive_best_ious(m, gt, grid)
        assert np.array_equal(best.all, ref_all) and np.array_equal(best.largest, ref_largest)
        u8 = (m * 255).astype(np.uint8)
        for k, tau in enumerate(grid):                     # count the levels where a hole wins
            lab, _ = ndimage.label(u8 > int(tau * u8.max()), structure=np.ones((3, 3)))
            comp = [(sl[1].start, sl[0].start, min(sl[1].stop, w - 1), min(sl[0].stop, h - 1))
                    for sl in ndimage.find_objects(lab) if sl is not None]
            wins += bool(comp) and ref_all[k] > box_iou(np.array(comp), gt).max()
    assert wins > 200                  # the situation the pruning must not miss is common here


def test_threads_share_nothing_and_short_lived_threads_work():
    # The engine keeps its buffers per thread (reused between calls, freed when the thread ends);
    # ctypes releases the GIL, so calls on several threads run at once and must not interfere.
    import threading
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(7)
    maps = [ndimage.gaussian_filter(rng.random((int(rng.integers(20, 90)), int(rng.integers(20, 90)))), 2)
            for _ in range(24)]
    maps = [(m - m.min()) / (m.max() - m.min()) for m in maps]
    gts = [np.array([[2, 3, m.shape[1] // 2, m.shape[0] - 4]]) for m in maps]
    grid = np.arange(0, 1, 0.01)
    want = [best_ious(m, g, grid) for m, g in zip(maps, gts)]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda k: best_ious(maps[k % len(maps)], gts[k % len(maps)], grid),
                            range(3 * len(maps))))
    for k, b in enumerate(got):
        a = want[k % len(maps)]
        assert np.array_equal(a.largest, b.largest) and np.array_equal(a.all, b.all)
    out = {}
    threads = [threading.Thread(target=lambda k=k: out.__setitem__(k, best_ious(maps[k], gts[k], grid)))
               for k in range(len(maps))]                       # one short-lived thread per map
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(out[k].all, want[k].all) for k in range(len(maps)))


def test_components_with_holes_and_ties_equal_naive_extraction():
    rng = np.random.default_rng(3)
    for _ in range(40):
        m = ndimage.gaussian_filter(rng.random((60, 70)), rng.uniform(0.7, 2.5))
        m = np.round((m - m.min()) / (m.max() - m.min()) * 6) / 6          # plateaus: ties and holes
        tau = float(rng.choice([0.1, 0.3, 0.5, 0.7]))
        assert extract_boxes(m, tau).tolist() == naive.naive_extract_boxes(m, tau).tolist()
        assert sorted(extract_boxes(m, tau, regions="all").tolist()) == sorted(
            naive.naive_extract_boxes(m, tau, regions="all").tolist())


def test_float32_and_float64_maps_give_the_same_ious():
    rng = np.random.default_rng(4)
    m = ndimage.gaussian_filter(rng.random((50, 50)), 2).astype(np.float32)
    m = (m - m.min()) / (m.max() - m.min())
    gt = np.array([[5, 5, 30, 40]])
    t = np.arange(0, 1, 0.01)
    a, b = best_ious(m, gt, t), best_ious(m.astype(np.float64), gt, t)
    assert np.array_equal(a.largest, b.largest) and np.array_equal(a.all, b.all)


def test_pxap_histogram_of_float32_scores_equals_numpy():
    rng = np.random.default_rng(5)
    s = rng.random((64, 64)).astype(np.float32)
    s[0, :4] = [0.0, 1.0, 0.5, np.float32(0.07)]
    mask = rng.integers(0, 3, (64, 64)).astype(np.uint8)
    mask[mask == 2] = 255
    for step in (0.01, 0.001):
        fg, bg = PixelAP(step)._update(s, mask)
        edges = bin_edges(step)
        assert np.array_equal(fg, np.histogram(s[mask == 1], bins=edges)[0])
        assert np.array_equal(bg, np.histogram(s[mask == 0], bins=edges)[0])


# ------------------------------------------------------------------------------------- the loader

def _compiler():
    return shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")


def test_loaded_engine_matches_the_source():
    lib = native.engine()
    lib.wsb_source_hash.restype = __import__("ctypes").c_char_p
    assert lib.wsb_source_hash().decode() == native.source_hash()


def test_fallback_build_says_so_on_stderr_and_a_stale_build_is_refused(tmp_path, capfd, monkeypatch):
    if _compiler() is None:
        pytest.skip("no C compiler on this machine: the fallback build cannot be exercised")
    target = tmp_path / "engine-test.so"
    native._compile(target)
    assert "compiling the metric engine" in capfd.readouterr().err
    assert native._load(target) is not None
    monkeypatch.setattr(native, "source_hash", lambda: "0" * 16)       # as if engine.c had changed since
    assert native._load(target) is None


def test_cli_start_up_imports_nothing_heavy():
    code = ("import sys, wsolbench.cli.main; "
            "print(sorted(m for m in ('numpy', 'h5py', 'matplotlib', 'torch', 'scipy', 'PIL', 'pandas', 'numba') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
