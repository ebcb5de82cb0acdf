"""The same maps evaluated through wsolevaluation metadata and through the native layout of the same
data give identical numbers (CUB: ``wsoleval:`` vs ``cub:``; ILSVRC: ``wsoleval:`` vs ``ilsvrc:``)."""

from __future__ import annotations

import numpy as np
import pytest

from fixtures_datasets import cub_as_wsoleval, make_cub, make_ilsvrc, write_wsoleval_metadata
from wsolbench.datasets import load_annotations

pipeline = pytest.importorskip("wsolbench.pipeline", reason="the evaluation pipeline is not built yet")
scoremaps = pytest.importorskip("wsolbench.scoremaps", reason="the score-map format is not built yet")


def _blob_maps(annotations, seed=0):
    """A raw 28x28 map per image: a Gaussian near (not exactly on) its first GT box."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:28, 0:28]
    maps = []
    for rec in annotations:
        w, h = rec.image_size
        x0, y0, x1, y1 = rec.boxes[0]
        cx, cy = (x0 + x1) / 2 / w * 28 + rng.normal(0, 2), (y0 + y1) / 2 / h * 28 + rng.normal(0, 2)
        sigma = max(1.5, (x1 - x0) / w * 28 / 3 * rng.uniform(0.6, 1.4))
        m = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma ** 2)) + 0.05 * rng.random((28, 28))
        maps.append(m.astype(np.float32))
    return np.stack(maps)


def _evaluate(tmp_path, native, metadata):
    from wsolbench.protocol import get_protocol

    maps = _blob_maps(native)
    preds = [r.label if k % 3 else (r.label + 1) % native.num_classes for k, r in enumerate(native)]
    path = scoremaps.write_scoremaps(tmp_path / "maps.h5", native.image_ids, maps, predicted_labels=preds)
    out = []
    for gt in (native, metadata):
        result = pipeline.evaluate_maps(path, gt, get_protocol("wsoleval"))
        out.append(result.to_dict())
    return out


def test_cub_native_and_wsoleval_metadata_give_identical_numbers(tmp_path):
    cub = make_cub(tmp_path, n_classes=4, per_class=6)
    native = load_annotations(f"cub:{cub.root}", split="test")
    metadata = load_annotations(f"wsoleval:{cub_as_wsoleval(cub, tmp_path / 'meta' / 'test', 'test')}")
    a, b = _evaluate(tmp_path, native, metadata)
    assert a["metrics"] == b["metrics"]
    assert a["box"] == b["box"] and a["per_image"] == b["per_image"]
    assert a["metrics"]["maxboxacc"] is not None and 0 < a["metrics"]["maxboxacc_v2"] <= 100


def test_ilsvrc_native_and_wsoleval_metadata_give_identical_numbers(tmp_path):
    fx = make_ilsvrc(tmp_path, n_images=8)
    native = load_annotations(f"ilsvrc:{fx.root}")
    meta = write_wsoleval_metadata(tmp_path / "metadata" / "ILSVRC" / "test", fx.ids, fx.labels, fx.sizes, fx.boxes)
    metadata = load_annotations(f"ilsvrc:{fx.root}", split="test", metadata=str(meta.parent))
    assert metadata.root == str(fx.root) and native.root == str(fx.root)
    a, b = _evaluate(tmp_path, native, metadata)
    assert a["metrics"] == b["metrics"] and a["box"] == b["box"]
