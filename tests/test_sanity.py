"""Sanity baselines: the maps themselves, the files they are written to, and their evaluation on a
tiny synthetic config (full-image numbers are checked against values computed from the GT)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from wsolbench.datasets import load_annotations
from wsolbench.errors import DatasetError
from wsolbench.protocol import get_protocol
from wsolbench.sanity import SANITY_KINDS, center_gaussian, sanity_map, write_sanity_maps
from wsolbench.scoremaps import ScoreMapFile


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("sanity") / "synthetic"
    return load_annotations(f"synthetic:{root}?classes=3&train=1&val=1&test=4", split="test")


def test_center_gaussian_is_centred_isotropic_and_sigma_one():
    m = center_gaussian((8, 8))
    assert m.shape == (8, 8)
    np.testing.assert_allclose(m, m.T)                         # isotropic in a square frame
    np.testing.assert_allclose(m, m[::-1, ::-1])               # centred
    u = (np.arange(8) + 0.5) / 8 * 2 - 1                       # pixel centres in [-1, 1]
    np.testing.assert_allclose(m[0, 0], np.exp(-(2 * u[0] ** 2) / 2))
    assert m[3, 3] == m.max() and m[0, 0] == m.min()
    one_d = center_gaussian((9, 1))                            # a 1-D frame: Gaussian along x only
    assert one_d.shape == (1, 9) and one_d[0, 4] == 1.0 and np.all(np.diff(one_d[0, :5]) > 0)


def test_random_and_full_image_maps():
    a = sanity_map("random", (6, 4), rng=np.random.default_rng(3))
    b = sanity_map("random", (6, 4), rng=np.random.default_rng(3))
    c = sanity_map("random", (6, 4), rng=np.random.default_rng(4))
    assert a.shape == (4, 6) and 0 <= a.min() and a.max() < 1
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(sanity_map("full-image", (6, 4)), np.ones((4, 6)))
    with pytest.raises(DatasetError, match="unknown sanity baseline 'zeros'"):
        sanity_map("zeros", (6, 4))


@pytest.mark.parametrize("kind", SANITY_KINDS)
def test_written_files(kind, tiny, tmp_path):
    protocol = get_protocol("wsoleval", resolution=(40, 30))
    path = write_sanity_maps(kind, tiny, f"{tmp_path / 'out'}/", protocol=protocol, seed=1)
    assert path == tmp_path / "out" / f"sanity-{kind}.h5"
    with ScoreMapFile(path) as f:
        assert f.image_ids == tiny.image_ids
        assert f.normalized == (kind == "full-image")
        assert f.attrs["method"] == f"sanity/{kind}" and f.attrs["dataset"] == "synthetic"
        assert f.predicted_labels is None
        maps = np.stack([np.asarray(f.read(i), np.float64) for i in range(len(f.image_ids))])
    assert maps.shape == (len(tiny), 30, 40)
    if kind == "random":
        assert len({m.tobytes() for m in maps}) == len(tiny)       # a fresh draw per image
        again = write_sanity_maps(kind, tiny, tmp_path / "again.h5", protocol=protocol, seed=1)
        with ScoreMapFile(again) as f:
            np.testing.assert_array_equal(np.asarray(f.read(2), np.float64), maps[2])
    else:
        expected = sanity_map(kind, (40, 30)).astype(np.float16).astype(np.float64)
        np.testing.assert_array_equal(maps, np.broadcast_to(expected, maps.shape))


def test_unknown_kind_writes_nothing(tiny, tmp_path):
    with pytest.raises(DatasetError, match="choose one of center-gaussian, random, full-image"):
        write_sanity_maps("zeros", tiny, tmp_path / "x.h5", protocol=get_protocol())
    assert not any(tmp_path.iterdir())


def test_one_d_maps_have_the_protocol_frame(tmp_path):
    ann = load_annotations(f"synthetic1d:{tmp_path / 'd1'}?length=100&train=1&val=1&test=2", split="test")
    path = write_sanity_maps("center-gaussian", ann, tmp_path / "g.h5",
                             protocol=get_protocol("wsoleval", resolution=(100, 1)))
    with ScoreMapFile(path) as f:
        assert np.asarray(f.read(0)).shape == (1, 100)


# --------------------------------------------------------------------------- end to end

def _evaluate(kind, annotations, tmp_path: Path, protocol):
    from wsolbench.pipeline import evaluate_maps

    path = write_sanity_maps(kind, annotations, tmp_path / f"{kind}.h5", protocol=protocol)
    return evaluate_maps(path, annotations, protocol).metrics


def _full_image_expectations(annotations, protocol):
    """MaxBoxAcc and PxAP of the whole-image box / constant map, computed from the GT alone."""
    from wsolbench.metrics.gt import gt_mask, resize_boxes

    w, h = protocol.resolution
    full = w * h
    ious, fg, bg = [], 0, 0
    for r in annotations:
        x0, y0, x1, y1 = resize_boxes(r.boxes, r.image_size, protocol.resolution)[0]
        ious.append((x1 - x0 + 1) * (y1 - y0 + 1) / full)     # GT box inside the full box: IoU = area ratio
        mask = gt_mask(r.masks.load(), protocol.resolution, class_index=None)
        fg += int((mask == 1).sum())
        bg += int((mask == 0).sum())
    acc = {d: 100.0 * np.mean([i >= d / 100 for i in ious]) for d in (30, 50, 70)}
    return acc, 100.0 * fg / (fg + bg)


def test_sanity_baselines_evaluate_end_to_end(tiny, tmp_path):
    pytest.importorskip("wsolbench.metrics.box_accuracy", reason="the box accuracy engine is not built yet")
    protocol = get_protocol()
    metrics = {kind: _evaluate(kind, tiny, tmp_path, protocol) for kind in SANITY_KINDS}
    acc, fg_fraction = _full_image_expectations(tiny, protocol)
    full = metrics["full-image"]
    assert full["maxboxacc"] == pytest.approx(acc[50])
    assert full["maxboxacc_v2"] == pytest.approx(np.mean(list(acc.values())))
    assert full["pxap"] == pytest.approx(fg_fraction)
    for kind in SANITY_KINDS:
        m = metrics[kind]
        assert m["top1_loc"] is None and m["top1_cls"] is None      # no predicted labels
        assert 0 <= m["maxboxacc_v2"] <= 100 and 0 < m["pxap"] <= 100
    # a centred blob localises better than per-pixel noise
    assert metrics["center-gaussian"]["pxap"] > metrics["random"]["pxap"]
