"""The synthetic 2-D benchmark: deterministic generation, exact ground truth, the adapter and its
spec syntax, the cache and atomic generation, and wsoleval compatibility."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from wsolbench.datasets import load_annotations
from wsolbench.datasets import synthetic as synthetic_mod
from wsolbench.datasets.synthetic import load_part_boxes, load_part_mask, resolve_synthetic
from wsolbench.datasets.synthgen import PART_COLOURS, SyntheticConfig, render_sample
from wsolbench.errors import DatasetError

TINY = "classes=3&train=2&val=1&test=3"


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth") / "tiny"
    load_annotations(f"synthetic:{root}?{TINY}", split="test")
    return root


# --------------------------------------------------------------------------- determinism

def test_same_seed_gives_byte_identical_files(tmp_path, tiny_root):
    again = tmp_path / "again"
    load_annotations(f"synthetic:{again}?{TINY}")
    first, second = _tree_bytes(tiny_root), _tree_bytes(again)
    assert sorted(first) == sorted(second)
    assert len(first) == 1 + 4 * 3 * (2 + 1 + 3) + 3 * 9     # config + 4 PNGs/image + metadata files
    assert first == second


def test_other_seed_gives_other_images(tmp_path, tiny_root):
    other = tmp_path / "other"
    load_annotations(f"synthetic:{other}?{TINY}&seed=1")
    a = _tree_bytes(tiny_root)
    b = _tree_bytes(other)
    images = [k for k in a if k.startswith("images/")]
    assert images and all(a[k] != b[k] for k in images)


def test_sample_does_not_depend_on_split_sizes():
    small = render_sample(SyntheticConfig(train=1, test=1), "test", 2, 0)
    large = render_sample(SyntheticConfig(train=500, test=200), "test", 2, 0)
    np.testing.assert_array_equal(small.image, large.image)


# --------------------------------------------------------------------------- ground truth

def _tight(mask: np.ndarray, box: np.ndarray) -> bool:
    x0, y0, x1, y1 = (int(v) for v in box)
    inside = np.zeros_like(mask)
    inside[y0:y1 + 1, x0:x1 + 1] = True
    edges = (mask[y0, x0:x1 + 1].any() and mask[y1, x0:x1 + 1].any()
             and mask[y0:y1 + 1, x0].any() and mask[y0:y1 + 1, x1].any())
    return bool(edges and not (mask & ~inside).any())


@pytest.mark.parametrize("size", [64, 128])
def test_ground_truth_is_exact(size):
    config = SyntheticConfig(size=size, classes=10)
    band = 1 if size < 128 else 2
    for label in range(10):
        for index in range(3 if size == 64 else 1):
            s = render_sample(config, "val", label, index)
            assert s.image.shape == (size, size, 3) and s.image.dtype == np.uint8
            assert s.mask.any() and s.part.any()
            assert not (s.part & ~s.mask).any(), "the part lies inside the object"
            assert _tight(s.mask, s.box) and _tight(s.part, s.part_box)
            px0, py0, px1, py1 = s.part_box
            x0, y0, x1, y1 = s.box
            assert x0 <= px0 <= px1 <= x1 and y0 <= py0 <= py1 <= y1
            assert not (s.ignore & s.mask).any()
            ys, xs = np.nonzero(s.ignore)
            assert len(ys) > 0
            for y, x in zip(ys[::7], xs[::7]):           # every ignore pixel is within `band` px of the mask
                window = s.mask[max(0, y - band):y + band + 1, max(0, x - band):x + band + 1]
                assert window.any()
            # the box lies inside the image with a margin for the ignore band
            assert x0 >= 1 and y0 >= 1 and x1 <= size - 2 and y1 <= size - 2


def test_part_is_small_and_carries_the_class_colour():
    config = SyntheticConfig(classes=10)
    palette = np.array(list(PART_COLOURS.values())) * 255
    fractions = []
    for label in range(10):
        for index in range(4):
            s = render_sample(config, "train", label, index)
            fractions.append(s.part.sum() / s.mask.sum())
            part_colour = s.image[s.part].mean(axis=0)
            body_colour = s.image[s.mask & ~s.part].mean(axis=0)
            nearest = np.argmin(((palette - part_colour) ** 2).sum(axis=1))
            assert nearest == label % len(palette)
            # bodies are muted: far less saturated than the part
            sat = lambda c: (c.max() - c.min()) / max(c.max(), 1)   # noqa: E731
            assert sat(part_colour) > sat(body_colour) + 0.2
    assert 0.10 <= np.mean(fractions) <= 0.15
    assert min(fractions) >= 0.06 and max(fractions) <= 0.2


def test_bodies_do_not_depend_on_the_class():
    config = SyntheticConfig(classes=2)
    areas = {c: [] for c in (0, 1)}
    for c in (0, 1):
        for index in range(40):
            s = render_sample(config, "train", c, index)
            areas[c].append((s.mask & ~s.part).sum())
    a, b = np.mean(areas[0]), np.mean(areas[1])
    assert abs(a - b) / max(a, b) < 0.2


def test_bodies_stand_out_from_the_background():
    from wsolbench.datasets.synthgen import _dilate

    distances = []
    for label in range(10):
        for index in range(10):
            s = render_sample(SyntheticConfig(), "train", label, index)
            ring = _dilate(s.mask, 4) & ~_dilate(s.mask, 1)          # background just around the object
            body = s.mask & ~s.part
            distances.append(np.linalg.norm(s.image[body].mean(0) - s.image[ring].mean(0)) / 255)
    assert min(distances) > 0.04 and np.median(distances) > 0.25


def test_files_hold_the_same_ground_truth(tiny_root):
    test = load_annotations(f"synthetic:{tiny_root}", split="test")
    parts = load_part_boxes(test)
    config = SyntheticConfig(classes=3, train=2, val=1, test=3)
    for record in test:
        label = record.labels[0]
        index = int(record.image_id.split("/")[2][:-4])
        s = render_sample(config, "test", label, index)
        image = np.asarray(Image.open(os.path.join(test.root, record.image_id)))
        np.testing.assert_array_equal(image, s.image)
        masks = record.masks.load()
        np.testing.assert_array_equal(masks.instances[0] > 127, s.mask)
        np.testing.assert_array_equal(masks.ignore > 127, s.ignore)
        np.testing.assert_array_equal(record.boxes, s.box[None].astype(np.float64))
        np.testing.assert_array_equal(load_part_mask(test, record.image_id), s.part)
        np.testing.assert_array_equal(parts[record.image_id], s.part_box)
        assert record.image_size == (64, 64)


# --------------------------------------------------------------------------- adapter

def test_splits_counts_and_records(tiny_root):
    for split, per_class in (("train", 2), ("val", 1), ("test", 3)):
        ann = load_annotations(f"synthetic:{tiny_root}", split=split)
        assert len(ann) == 3 * per_class and ann.split == split and ann.name == "synthetic"
        assert ann.num_classes == 3 and list(ann.class_names) == ["red-disc", "blue-disc", "yellow-disc"]
        assert ann.has_boxes and ann.has_masks
        assert sorted({r.labels[0] for r in ann}) == [0, 1, 2]
        assert all(os.path.isfile(os.path.join(ann.root, r.image_id)) for r in ann)
    assert load_annotations(f"synthetic:{tiny_root}").split == "test"


def test_listing_decodes_no_image(tiny_root, monkeypatch):
    import wsolbench.datasets.images as images

    def refuse(*args, **kwargs):
        raise AssertionError("a mask or image was decoded while listing")

    monkeypatch.setattr(images, "read_gray", refuse)
    monkeypatch.setattr(synthetic_mod, "read_gray", refuse)
    monkeypatch.setattr(Image, "open", refuse)
    ann = load_annotations(f"synthetic:{tiny_root}", split="val")
    assert len(ann) == 3


def test_knobs_from_query_and_options_are_equivalent(tmp_path, monkeypatch):
    monkeypatch.setenv("WSOLBENCH_CACHE", str(tmp_path / "cache"))
    root_a, config_a = resolve_synthetic("?classes=2&train=1&val=1&test=1&scale=0.3-0.5&part=0.1")
    root_b, config_b = resolve_synthetic("", classes=2, train=1, val=1, test=1, scale="0.3,0.5", part=0.1,
                                         scale_min=None)
    assert root_a == root_b and config_a == config_b
    assert (config_a.scale_min, config_a.scale_max, config_a.part) == (0.3, 0.5, 0.1)
    assert root_a.parent == tmp_path / "cache" and root_a.name == f"synthetic-{config_a.hash()}"


def test_cache_folder_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("WSOLBENCH_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert synthetic_mod.cache_dir() == tmp_path / "xdg" / "wsolbench"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert synthetic_mod.cache_dir() == tmp_path / "home" / ".cache" / "wsolbench"
    monkeypatch.setenv("WSOLBENCH_CACHE", str(tmp_path / "mine"))
    assert synthetic_mod.cache_dir() == tmp_path / "mine"


def test_different_configs_never_share_a_cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("WSOLBENCH_CACHE", str(tmp_path))
    a = load_annotations("synthetic:?classes=2&train=1&val=1&test=1")
    b = load_annotations("synthetic:?classes=2&train=1&val=1&test=1&seed=5")
    c = load_annotations("synthetic:?classes=2&train=1&val=1&test=1")
    assert a.root != b.root and a.root == c.root
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        {Path(a.root).parent.name, Path(b.root).parent.name})


@pytest.mark.parametrize("spec, message", [
    ("synthetic:?classes=0", "classes must be in 1..25"),
    ("synthetic:?classes=three", "not a valid whole number"),
    ("synthetic:?colour=red", "unknown knob 'colour'"),
    ("synthetic:?size", "has no value"),
    ("synthetic:?scale=0.5", "must be a range"),
    ("synthetic:?scale=0.7-0.3", "scale must satisfy"),
    ("synthetic:?part=0.9", "part must be"),
])
def test_bad_knobs_are_reported(spec, message, tmp_path, monkeypatch):
    monkeypatch.setenv("WSOLBENCH_CACHE", str(tmp_path))
    with pytest.raises(DatasetError, match=message):
        load_annotations(spec)
    assert not any(tmp_path.iterdir()), "nothing is written for a bad spec"


def test_bad_split_is_reported(tiny_root):
    with pytest.raises(DatasetError, match="unknown split 'dev'; use one of train, val, test"):
        load_annotations(f"synthetic:{tiny_root}", split="dev")


def test_existing_folder_is_used_as_it_is_and_knobs_must_match(tiny_root):
    assert load_annotations(f"synthetic:{tiny_root}?classes=3&test=3").num_classes == 3
    with pytest.raises(DatasetError, match=r"another config \(classes: folder has 3, spec asks 4\)"):
        load_annotations(f"synthetic:{tiny_root}?classes=4")


def test_foreign_folder_is_never_overwritten(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "cat.jpg").write_bytes(b"not a dataset")
    with pytest.raises(DatasetError, match="not empty, but has no config.json"):
        load_annotations(f"synthetic:{folder}?{TINY}")
    assert [p.name for p in folder.iterdir()] == ["cat.jpg"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert len(load_annotations(f"synthetic:{empty}?{TINY}")) == 9


def test_killed_generation_leaves_no_half_dataset(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = synthetic_mod._save_png

    def crash_later(path, array):
        calls["n"] += 1
        if calls["n"] == 20:
            raise KeyboardInterrupt("simulated kill")
        real(path, array)

    monkeypatch.setattr(synthetic_mod, "_save_png", crash_later)
    target = tmp_path / "data"
    with pytest.raises(KeyboardInterrupt):
        load_annotations(f"synthetic:{target}?{TINY}")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []           # the temporary folder is gone too
    monkeypatch.setattr(synthetic_mod, "_save_png", real)
    assert len(load_annotations(f"synthetic:{target}?{TINY}")) == 9


def test_the_folder_is_also_a_wsoleval_dataset(tiny_root):
    native = load_annotations(f"synthetic:{tiny_root}", split="test")
    boxes = load_annotations(f"wsoleval:{tiny_root / 'metadata'}", split="test")
    masks = load_annotations(f"wsoleval:{tiny_root / 'metadata-masks'}", split="test",
                             mask_root=str(tiny_root / "masks"))
    assert boxes.image_ids == native.image_ids == masks.image_ids
    for a, b, m in zip(native, boxes, masks):
        np.testing.assert_array_equal(a.boxes, b.boxes)
        assert a.labels == b.labels == m.labels and a.image_size == b.image_size
        mine, theirs = a.masks.load(), m.masks.load()
        np.testing.assert_array_equal(mine.instances[0], theirs.instances[0])
        np.testing.assert_array_equal(mine.ignore, theirs.ignore)


def test_datasets_show_renders_a_grid(tiny_root, tmp_path):
    show = pytest.importorskip("wsolbench.cli.datasets", reason="engineer C's `datasets` command is not built yet")
    from click.testing import CliRunner

    out = tmp_path / "grid.png"
    result = CliRunner().invoke(show.datasets, ["show", f"synthetic:{tiny_root}", "-n", "6", "--out", str(out)])
    assert result.exit_code == 0, result.output
    with Image.open(out) as im:
        assert im.size[0] > 64 and im.size[1] > 64
