"""The synthetic 1-D benchmark: deterministic signals, exact intervals, the adapter, and evaluation
of 1 x L maps by the 2-D engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from wsolbench.datasets import load_annotations
from wsolbench.datasets.synthetic1d import Synthetic1DConfig, load_signal, render_signal
from wsolbench.errors import DatasetError

TINY = "length=120&train=2&val=1&test=4"


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth1d") / "tiny"
    load_annotations(f"synthetic1d:{root}?{TINY}")
    return root


def test_same_seed_same_bytes_other_seed_other_signals(tmp_path, tiny_root):
    again, other = tmp_path / "again", tmp_path / "other"
    load_annotations(f"synthetic1d:{again}?{TINY}")
    load_annotations(f"synthetic1d:{other}?{TINY}&seed=9")
    a, b, c = _tree_bytes(tiny_root), _tree_bytes(again), _tree_bytes(other)
    assert a == b
    signals = [k for k in a if k.startswith("signals/")]
    assert len(signals) == 2 * (2 + 1 + 4)
    assert all(a[k] != c[k] for k in signals)


def _second_difference(x: np.ndarray) -> np.ndarray:
    return np.abs(x[2:] - 2 * x[1:-1] + x[:-2])


def test_noise_lies_exactly_on_the_interval():
    config = Synthetic1DConfig()
    n = config.length
    # a clean sinusoid's second difference is at most A * (2 pi f / n)^2 (A <= 2, f <= freq_max)
    smooth_bound = 2.0 * (2 * np.pi * config.freq_max / n) ** 2 * 1.01
    for index in range(20):
        clean = render_signal(config, "test", 0, index)
        assert clean.interval is None
        assert _second_difference(clean.values.astype(np.float64)).max() <= smooth_bound
        noisy = render_signal(config, "test", 1, index)
        x0, x1 = noisy.interval
        width = x1 - x0 + 1
        assert 0.1 * n - 1 <= width <= 0.3 * n + 1 and 0 <= x0 <= x1 < n
        d2 = _second_difference(noisy.values.astype(np.float64))      # d2[i] is centred on sample i + 1
        centre = np.arange(1, n - 1)
        outside = (centre < x0 - 1) | (centre > x1 + 1)
        inside = (centre > x0) & (centre < x1)
        assert d2[outside].max() <= smooth_bound
        assert np.median(d2[inside]) > 3 * smooth_bound


def test_records_boxes_and_masks(tiny_root):
    ann = load_annotations(f"synthetic1d:{tiny_root}?localized_only=0", split="test")
    assert ann.ndim == 1 and ann.name == "synthetic1d" and ann.num_classes == 2
    assert ann.resolution == (120, 1)
    assert list(ann.class_names) == ["clean", "noisy"] and len(ann) == 8
    config = Synthetic1DConfig(length=120, train=2, val=1, test=4)
    for record in ann:
        label = record.labels[0]
        index = int(record.image_id.split("/")[2][:-4])
        s = render_signal(config, "test", label, index)
        np.testing.assert_array_equal(load_signal(ann, record.image_id), s.values)
        assert record.image_size == (120, 1)
        mask = record.masks.load().instances[0]
        assert mask.shape == (1, 120)
        if label == 0:
            assert record.boxes.shape == (0, 4) and not mask.any()
        else:
            x0, x1 = s.interval
            np.testing.assert_array_equal(record.boxes, [[x0, 0, x1, 0]])
            assert np.flatnonzero(mask[0]).tolist() == list(range(x0, x1 + 1))


def test_evaluation_splits_hold_the_noisy_signals(tiny_root):
    for split in ("val", "test"):
        ann = load_annotations(f"synthetic1d:{tiny_root}", split=split)
        assert len(ann) == (1 if split == "val" else 4)
        assert all(r.labels == (1,) and len(r.boxes) == 1 for r in ann)
    train = load_annotations(f"synthetic1d:{tiny_root}", split="train")
    assert sorted(r.labels[0] for r in train) == [0, 0, 1, 1]
    for spec, options in ((f"synthetic1d:{tiny_root}?localized_only=0", {}),
                          (f"synthetic1d:{tiny_root}", {"localized_only": False})):
        assert len(load_annotations(spec, split="test", **options)) == 8
    assert len(load_annotations(f"synthetic1d:{tiny_root}?localized_only=1", split="train")) == 2


@pytest.mark.parametrize("spec, message", [
    ("synthetic1d:?length=50", "length must be in 100..1000"),
    ("synthetic1d:?interval=0.5-0.2", "interval must satisfy"),
    ("synthetic1d:?localized_only=maybe", "must be 1/0"),
    ("synthetic1d:?classes=3", "unknown knob 'classes'"),
])
def test_bad_specs(spec, message, tmp_path, monkeypatch):
    monkeypatch.setenv("WSOLBENCH_CACHE", str(tmp_path))
    with pytest.raises(DatasetError, match=message):
        load_annotations(spec)


def test_cache_and_knobs(tmp_path, monkeypatch):
    monkeypatch.setenv("WSOLBENCH_CACHE", str(tmp_path))
    a = load_annotations("synthetic1d:?length=100&train=1&val=1&test=1&freq=1-3", split="val")
    b = load_annotations("synthetic1d:", split="val", length=100, train=1, val=1, test=1, freq="1-3")
    assert a.root == b.root and Path(a.root).parent.name.startswith("synthetic1d-")
    assert a.records[0].image_size == (100, 1) and len(a) == 1


def test_wsoleval_reads_the_boxes(tiny_root):
    native = load_annotations(f"synthetic1d:{tiny_root}?localized_only=0", split="test")
    meta = load_annotations(f"wsoleval:{tiny_root / 'metadata'}", split="test")
    for a, b in zip(native, meta):
        np.testing.assert_array_equal(a.boxes, b.boxes)


def test_perfect_interval_maps_score_100(tiny_root, tmp_path):
    pytest.importorskip("wsolbench.metrics.box_accuracy", reason="the box accuracy engine is not built yet")
    from wsolbench.pipeline import evaluate_maps
    from wsolbench.protocol import get_protocol
    from wsolbench.scoremaps import write_scoremaps

    ann = load_annotations(f"synthetic1d:{tiny_root}", split="test")
    maps = np.stack([r.masks.load().instances[0].astype(np.float32) for r in ann])     # (N, 1, L)
    path = write_scoremaps(tmp_path / "perfect.h5", ann.image_ids, maps)
    result = evaluate_maps(path, ann, get_protocol("wsoleval", resolution=ann.resolution))
    assert result.metrics["maxboxacc_v2"] == 100.0
    assert result.metrics["pxap"] == 100.0


def test_datasets_check_reads_signals_not_images(tmp_path):
    from click.testing import CliRunner

    from wsolbench.cli.main import cli

    spec = f"synthetic1d:{tmp_path}"
    ok = CliRunner().invoke(cli, ["datasets", "check", spec, "--no-counts", "--json"])
    assert ok.exit_code == 0, ok.output
    from pathlib import Path

    from wsolbench.datasets import load_annotations

    annotations = load_annotations(spec, split="test")
    first = Path(annotations.root) / annotations.records[0].image_id
    first.write_bytes(b"garbage")
    bad = CliRunner().invoke(cli, ["datasets", "check", spec, "--no-counts"])
    assert bad.exit_code == 2 and first.name in bad.output
