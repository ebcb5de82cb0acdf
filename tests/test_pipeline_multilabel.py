"""Multi-label evaluation end to end (PASCAL VOC layout): one map per (image, class) via map_labels,
per-class PxAP and mPxAP, checked against a direct computation with np.histogram (the reference's way)."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from fixtures_datasets import make_voc
from wsolbench.cli.main import cli
from wsolbench.datasets import load_annotations
from wsolbench.metrics.resize import resize_nearest
from wsolbench.scoremaps import write_scoremaps


def _reference_pxap(maps, masks, step=0.01):
    edges = np.append(np.arange(0, 1, step), [1.0, 2.0, 3.0])
    fg = sum(np.histogram(m[k == 1], bins=edges)[0] for m, k in zip(maps, masks))
    bg = sum(np.histogram(m[k == 0], bins=edges)[0] for m, k in zip(maps, masks))
    tp, fp = fg[::-1].cumsum(), bg[::-1].cumsum()
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = tp / (tp + fp)
    recall = tp / fg.sum()
    keep = (tp + fp)[1:] != 0
    return 100 * float((precision[1:] * np.diff(recall))[keep].sum())


@pytest.fixture
def voc_case(tmp_path):
    fx = make_voc(tmp_path, n_train=1, n_val=8, seed=3)
    gt = load_annotations(f"voc:{fx.root}", split="val")
    rng = np.random.default_rng(0)
    ids, maps, labels, frames = [], [], [], {}
    for record in gt:
        seg = fx.masks[record.image_id.split("/")[-1].rsplit(".", 1)[0]]
        for c in record.labels:
            frame = resize_nearest(seg.astype(np.float32), (224, 224)).astype(np.int64)
            truth = (frame == c + 1).astype(np.float64)
            score = np.clip(0.6 * truth + 0.4 * rng.random((224, 224)), 0, 1)
            ids.append(record.image_id), maps.append(score.astype(np.float32)), labels.append(c)
            frames[(record.image_id, c)] = (score.astype(np.float32).astype(np.float64),
                                            np.where(frame == c + 1, 1, np.where(frame == 255, 255, 0)))
    path = write_scoremaps(tmp_path / "maps.h5", ids, np.stack(maps), map_labels=labels, normalized=True)
    return fx, gt, path, frames


def test_mpxap_is_mean_of_per_class_pxap(voc_case):
    fx, gt, path, frames = voc_case
    result = CliRunner().invoke(cli, ["evaluate", str(path), "--gt", f"voc:{fx.root}", "--split", "val", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    per_class = data["mask"]["per_class"]
    classes = sorted({c for (_, c) in frames})
    assert sorted(int(c) for c in per_class) == classes
    for c in classes:
        pairs = [v for (i, k), v in frames.items() if k == c]
        expected = _reference_pxap([p[0] for p in pairs], [p[1] for p in pairs])
        assert per_class[str(c)]["pxap"] == pytest.approx(expected, abs=1e-9)
    assert data["metrics"]["mpxap"] == pytest.approx(np.mean([per_class[str(c)]["pxap"] for c in classes]), abs=1e-12)
    everything = list(frames.values())
    assert data["metrics"]["pxap"] == pytest.approx(_reference_pxap([p[0] for p in everything],
                                                                    [p[1] for p in everything]), abs=1e-9)
    assert data["metrics"]["maxboxacc"] is None     # box metrics need one map per image


def test_missing_class_map_is_a_clear_error(voc_case, tmp_path):
    fx, gt, path, frames = voc_case
    multi = next(r for r in gt if len(r.labels) > 1)
    keep = [(i, c) for (i, c) in frames if not (i == multi.image_id and c == multi.labels[-1])]
    short = write_scoremaps(tmp_path / "short.h5", [i for i, _ in keep],
                            np.stack([frames[k][0].astype(np.float32) for k in keep]),
                            map_labels=[c for _, c in keep], normalized=True)
    result = CliRunner().invoke(cli, ["evaluate", str(short), "--gt", f"voc:{fx.root}", "--split", "val"])
    assert result.exit_code == 2
    assert multi.image_id in result.output and str(multi.labels[-1]) in result.output
