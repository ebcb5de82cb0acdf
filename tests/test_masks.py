"""PxAP / PIoU / mPxAP behaviour: binning, accumulator vs one-call vs a reference oracle, sharding, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

from wsolbench.errors import AnnotationError, FormatError, ProtocolError
from wsolbench.metrics import masks as masks_module
from wsolbench.metrics.masks import (
    PerClassPixelAP,
    PixelAP,
    bin_edges,
    bin_index,
    per_class_pixel_ap,
    pixel_ap,
)
from wsolbench.protocol import get_protocol

STEPS = (0.01, 0.001)


def reference_pxap(maps, masks, step):
    """wsolevaluation's MaskEvaluator, restated with np.histogram (the oracle)."""
    edges = np.append(np.arange(0, 1, step), [1.0, 2.0, 3.0])
    true_hist = np.zeros(len(edges) - 1)
    false_hist = np.zeros(len(edges) - 1)
    for s, g in zip(maps, masks):
        s = np.asarray(s, np.float64)
        true_hist += np.histogram(s[g == 1], bins=edges)[0]
        false_hist += np.histogram(s[g == 0], bins=edges)[0]
    num_true = true_hist.sum()
    tp = true_hist[::-1].cumsum()
    fn = num_true - tp
    fp = false_hist[::-1].cumsum()
    nonzero = (tp + fp) != 0
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = tp / (tp + fp)
    recall = tp / (tp + fn)
    auc = (precision[1:] * np.diff(recall))[nonzero[1:]].sum()
    auc *= 100
    return auc, true_hist, false_hist


def smooth_set(seed, n=6, size=(48, 40)):
    rng = np.random.default_rng(seed)
    maps, masks = [], []
    for _ in range(n):
        m = ndimage.gaussian_filter(rng.random(size), 4)
        m = (m - m.min()) / (m.max() - m.min())
        g = (ndimage.gaussian_filter(rng.random(size), 5) > 0.5).astype(np.uint8)
        g[rng.random(size) < 0.05] = 255
        maps.append(m)
        masks.append(g)
    return maps, masks


# --- binning ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("step", STEPS + (0.003, 0.05, 1 / 3, 0.7))
def test_bin_index_equals_np_histogram(step):
    edges = bin_edges(step)
    rng = np.random.default_rng(0)
    regular = edges[:-1]
    values = np.concatenate([
        edges, np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf),
        np.nextafter(np.nextafter(regular, -np.inf), -np.inf),
        np.arange(101) / 100, (np.arange(101) / 100).astype(np.float32),
        np.arange(1001) / 1000, np.arange(256) / 255, rng.random(20000), rng.uniform(0, 3, 2000),
        [0.0, -0.0, 1.0, 2.0, 3.0],
    ])
    idx = bin_index(values, edges)
    kept = (values >= 0) & (values <= 3)
    assert ((idx >= 0) == kept).all() and (~kept).sum() == 3  # just below 0 (twice), just above 3
    ours = np.bincount(idx[kept], minlength=len(edges) - 1)
    assert np.array_equal(ours, np.histogram(values, bins=edges)[0])
    # and element-wise: e_j <= s < e_{j+1}, the last bin closed
    j, v = idx[kept], values[kept]
    assert (edges[j] <= v).all()
    assert ((v < edges[j + 1]) | ((j == len(edges) - 2) & (v == 3.0))).all()


def test_bin_index_drops_what_np_histogram_drops():
    edges = bin_edges(0.01)
    vals = np.array([-1e-300, -0.5, 3.0000001, np.inf, -np.inf, np.nan, 1.0, 0.0])
    assert bin_index(vals, edges).tolist() == [-1, -1, -1, -1, -1, -1, 100, 0]


def test_bin_edges_are_the_reference_edges():
    e = bin_edges(0.01)
    assert len(e) == 103 and e[7] == 0.07000000000000001 and e[-3:].tolist() == [1.0, 2.0, 3.0]
    assert np.array_equal(bin_edges(0.001), np.append(np.arange(0, 1, 0.001), [1.0, 2.0, 3.0]))
    for bad in (0, 1, -0.1, 1.5):
        with pytest.raises(ProtocolError):
            bin_edges(bad)


def test_generic_numpy_path_equals_kernel():
    maps, masks = smooth_set(3)
    edges = bin_edges(0.01)
    for m, g in zip(maps, masks):
        fast = masks_module._pxap_update(m, g, edges, arithmetic=True)
        generic = masks_module._pxap_update(m, g, edges, arithmetic=False)
        assert all(np.array_equal(a, b) for a, b in zip(fast, generic))


# --- PixelAP vs the reference oracle --------------------------------------------------------------------

@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pixel_ap_equals_reference_oracle(step, seed):
    maps, masks = smooth_set(seed)
    auc, true_hist, false_hist = reference_pxap(maps, masks, step)
    result = pixel_ap(maps, masks, step=step)
    assert result.pxap == auc
    assert np.array_equal(result.fg_hist, true_hist) and np.array_equal(result.bg_hist, false_hist)


def test_float32_maps_score_as_their_float64_values():
    maps, masks = smooth_set(4)
    m32 = [m.astype(np.float32) for m in maps]
    a = pixel_ap(m32, masks, step=0.001)
    b = pixel_ap([m.astype(np.float64) for m in m32], masks, step=0.001)
    assert a.to_dict() == b.to_dict()
    assert a.pxap == reference_pxap(m32, masks, 0.001)[0]


def test_one_call_equals_accumulator_and_update_is_pure():
    maps, masks = smooth_set(5)
    metric = PixelAP.from_protocol(get_protocol("wsoleval", cam_step=0.001))
    assert metric.step == 0.001
    fg_total = np.zeros_like(metric.fg_hist)
    for m, g in zip(maps, masks):
        fg_inc, bg_inc = metric._update(m, g)
        assert not metric.fg_hist.any()  # _update does not touch the state
        fg_total += fg_inc
    for m, g in zip(maps, masks):
        metric.update(m, g)
    assert np.array_equal(metric.fg_hist, fg_total)
    assert metric.compute().to_dict() == pixel_ap(maps, masks, step=0.001).to_dict()
    assert metric.state()["n_images"] == len(maps)


@pytest.mark.parametrize("step", STEPS)
def test_sharded_equals_unsharded(step):
    maps, masks = smooth_set(6, n=9)
    whole = pixel_ap(maps, masks, step=step)
    a, b, c = PixelAP(step), PixelAP(step), PixelAP(step)
    for i, (m, g) in enumerate(zip(maps, masks)):
        (a, b, c)[i % 3].update(m, g)
    merged = PixelAP(step).merge(c).merge(a).merge(b)
    assert merged.compute().to_dict() == whole.to_dict()
    assert merged.n_images == 9


# --- hand-checked values -------------------------------------------------------------------------------

def test_perfect_map_and_piou():
    mask = np.zeros((10, 10), np.uint8)
    mask[2:6, 3:8] = 1
    mask[0, 0] = 255
    r = pixel_ap([mask.astype(np.float64) * (mask == 1)], [mask], step=0.01)
    assert r.pxap == 100.0 and r.piou == 100.0
    assert r.piou_threshold == 1.0  # index 1: "score >= 1.0"
    assert np.isnan(r.precision[0]) and r.recall[-1] == 1.0


def test_constant_map_gives_foreground_fraction():
    mask = np.zeros((8, 8), np.uint8)
    mask[:2] = 1  # 16 of 64
    r = pixel_ap([np.full((8, 8), 0.42)], [mask], step=0.01)
    assert r.pxap == pytest.approx(25.0, abs=1e-12)
    assert r.piou == pytest.approx(25.0, abs=1e-12)


def test_piou_picks_best_threshold():
    score = np.array([[0.9, 0.8, 0.35, 0.25]])
    mask = np.array([[1, 0, 1, 0]], np.uint8)
    r = pixel_ap([score], [mask], step=0.1)
    # thresholds: >=0.9 -> tp1 fp0 iou 1/2; >=0.8 -> 1/3; >=0.3 -> 2/3; >=0.2 -> 2/4
    assert r.piou == pytest.approx(100 * 2 / 3)
    assert r.piou_threshold == np.arange(0, 1, 0.1)[3] == 0.30000000000000004  # the np.arange edge itself
    assert r.iou_curve.max() == pytest.approx(2 / 3)
    # a score of exactly 0.3 lies BELOW that edge (reference semantics): it only counts from ">= 0.2"
    r2 = pixel_ap([np.array([[0.9, 0.8, 0.3, 0.25]])], [mask], step=0.1)
    assert r2.piou == 50.0 and r2.piou_threshold == 0.9


def test_ignore_pixels_are_dropped():
    score = np.array([[0.9, 0.1, 0.95]])
    with_ignore = pixel_ap([score], [np.array([[1, 0, 255]], np.uint8)])
    without = pixel_ap([score[:, :2]], [np.array([[1, 0]], np.uint8)])
    assert with_ignore.to_dict() == without.to_dict()
    assert with_ignore.num_foreground == 1 and with_ignore.num_background == 1


def test_non_uint8_masks_are_read_the_same():
    maps, masks = smooth_set(7, n=2)
    a = pixel_ap(maps, masks)
    b = pixel_ap(maps, [m.astype(np.int64) for m in masks])
    assert a.to_dict() == b.to_dict()
    assert pixel_ap(maps, [m == 1 for m in masks]).pxap == pixel_ap(maps, [np.where(m == 1, 1, 0) for m in masks]).pxap


def test_to_dict_is_the_result_json_mask_section():
    maps, masks = smooth_set(8, n=2)
    d = pixel_ap(maps, masks, step=0.01).to_dict()
    assert set(d) == {"thresholds", "precision", "recall", "iou_curve", "pxap", "piou", "piou_threshold"}
    assert len(d["thresholds"]) == 103 and len(d["precision"]) == len(d["recall"]) == len(d["iou_curve"]) == 102
    assert d["precision"][0] is None
    json.dumps(d, allow_nan=False)


# --- errors ------------------------------------------------------------------------------------------

def test_no_foreground_raises():
    with pytest.raises(AnnotationError, match="foreground"):
        pixel_ap([np.full((4, 4), 0.5)], [np.zeros((4, 4), np.uint8)])


def test_bad_maps_raise_format_errors():
    metric = PixelAP()
    mask = np.ones((4, 4), np.uint8)
    with pytest.raises(FormatError, match=r"image 'a.jpg'.*outside \[0, 1\]"):
        metric.update(np.full((4, 4), 1.5), mask, image_id="a.jpg")
    nan_map = np.zeros((4, 4))
    nan_map[1, 1] = np.nan
    with pytest.raises(FormatError, match="NaN"):
        metric.update(nan_map, mask)
    bad_ignored = np.zeros((4, 4))
    bad_ignored[0, 0] = -0.1  # the reference validates the whole map, ignore pixels included
    with pytest.raises(FormatError):
        metric.update(bad_ignored, np.full((4, 4), 255, np.uint8))
    with pytest.raises(FormatError, match="does not match"):
        metric.update(np.zeros((4, 5)), mask)
    assert not metric.fg_hist.any() and not metric.bg_hist.any() and metric.n_images == 0


def test_merge_requires_same_step():
    with pytest.raises(ProtocolError):
        PixelAP(0.01).merge(PixelAP(0.001))
    with pytest.raises(ProtocolError):
        PerClassPixelAP(0.01, 3).merge(PerClassPixelAP(0.01, 4))


# --- per class ------------------------------------------------------------------------------------------

def per_class_set(seed):
    """Images with 1-2 labels out of 4 classes; class 3 never present, class 2 present but empty."""
    rng = np.random.default_rng(seed)
    maps, masks, classes = [], [], []
    for i in range(8):
        labels = [i % 2] if i % 3 else [0, 1]
        if i == 5:
            labels = [2]
        for c in labels:
            m = ndimage.gaussian_filter(rng.random((32, 32)), 3)
            m = (m - m.min()) / (m.max() - m.min())
            g = np.zeros((32, 32), np.uint8) if c == 2 else (
                ndimage.gaussian_filter(rng.random((32, 32)), 4) > 0.5).astype(np.uint8)
            maps.append(m)
            masks.append(g)
            classes.append(c)
    return maps, masks, classes


def test_per_class_pxap_and_mean():
    maps, masks, classes = per_class_set(0)
    r = per_class_pixel_ap(maps, masks, classes, step=0.01, num_classes=4)
    for c in (0, 1):
        sel = [i for i, k in enumerate(classes) if k == c]
        assert r.pxap[c] == pixel_ap([maps[i] for i in sel], [masks[i] for i in sel]).pxap
    assert np.isnan(r.pxap[2]) and np.isnan(r.pxap[3])  # no foreground / no images
    assert r.mpxap == (r.pxap[0] + r.pxap[1]) / 2
    assert r.n_images.tolist() == [classes.count(c) for c in range(4)]
    d = r.to_dict()
    assert set(d) == {"0", "1", "2"} and d["2"] == {"pxap": None, "n_images": 1}
    json.dumps(d, allow_nan=False)
    metric = PerClassPixelAP(0.01, 4)
    for m, g, c in zip(maps, masks, classes):
        metric.update(m, g, c)  # the class may be given positionally
    assert metric.compute_per_class() == d


def test_per_class_sharded_equals_unsharded_and_class_result():
    maps, masks, classes = per_class_set(1)
    whole = PerClassPixelAP(0.001, 4)
    a, b = PerClassPixelAP(0.001, 4), PerClassPixelAP(0.001, 4)
    for i, (m, g, c) in enumerate(zip(maps, masks, classes)):
        whole.update(m, g, class_index=c)
        (a if i % 2 else b).update(m, g, class_index=c)
    merged = a.merge(b)
    assert np.array_equal(merged.compute().pxap, whole.compute().pxap, equal_nan=True)
    assert merged.compute().mpxap == whole.compute().mpxap
    assert whole.class_result(0).pxap == whole.compute().pxap[0]
    assert all(np.array_equal(merged.state()[k], whole.state()[k]) for k in ("fg_hist", "bg_hist", "n_images"))


def test_per_class_errors():
    metric = PerClassPixelAP(0.01, 2)
    with pytest.raises(AnnotationError, match="class index 2"):
        metric.update(np.zeros((2, 2)), np.ones((2, 2), np.uint8), class_index=2, image_id="z")
    metric.update(np.zeros((2, 2)), np.zeros((2, 2), np.uint8), class_index=0)
    with pytest.raises(AnnotationError, match="mPxAP"):
        metric.compute()
    assert metric.compute_per_class() == {"0": {"pxap": None, "n_images": 1}}  # the JSON section never raises
    with pytest.raises(ProtocolError):
        PerClassPixelAP(0.01, 0)
