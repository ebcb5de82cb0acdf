"""The disk cache of GT masks in the evaluation frame (wsolbench.datasets.maskcache): the same masks
as decoding the files, a stale entry whenever a file changes, no cache when turned off, damaged
entries decoded again, and the evaluate CLI's --no-mask-cache."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from fixtures_datasets import make_openimages
from wsolbench.datasets import load_annotations
from wsolbench.datasets import maskcache
from wsolbench.datasets.records import MaskSource
from wsolbench.metrics.gt import gt_mask

FRAME = (224, 224)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("WSOLBENCH_CACHE", str(folder))
    return folder


@pytest.fixture
def oi(tmp_path):
    return make_openimages(tmp_path / "oi", n_images=6)


def _counting(source: MaskSource) -> tuple[MaskSource, list]:
    """The source with a loader that counts its calls."""
    calls = []

    def load():
        calls.append(1)
        return source.load()

    return MaskSource(load, source.description, files=source.files, cache_tag=source.cache_tag), calls


def _entries(cache: Path) -> list[Path]:
    return sorted((cache / maskcache.FOLDER).rglob("*.bin")) if (cache / maskcache.FOLDER).is_dir() else []


def test_cached_masks_equal_decoded_masks_and_skip_the_files(oi, cache):
    data = load_annotations(f"openimages:{oi.root}")
    for rec in data.records:
        want = gt_mask(rec.masks.load(), FRAME, image_id=rec.image_id)
        source, calls = _counting(rec.masks)
        first = maskcache.frame_mask(source, FRAME, image_id=rec.image_id)
        second = maskcache.frame_mask(source, FRAME, image_id=rec.image_id)
        assert first.dtype == np.uint8 and first.shape == (224, 224)
        assert np.array_equal(first, want) and np.array_equal(second, want)
        assert len(calls) == 1                        # the second call read the cache, not the PNGs
        assert set(np.unique(want)) <= {0, 1, 255} and (want == 1).any() and second.flags.writeable
    assert len(_entries(cache)) == len(data.records)


def test_frame_and_class_are_part_of_the_key(oi, cache):
    rec = load_annotations(f"openimages:{oi.root}").records[0]
    source, calls = _counting(rec.masks)
    small = maskcache.frame_mask(source, (32, 24))
    big = maskcache.frame_mask(source, FRAME)
    of_class = maskcache.frame_mask(source, FRAME, class_index=7)
    assert small.shape == (24, 32) and big.shape == (224, 224) and len(calls) == 3
    assert np.array_equal(small, gt_mask(rec.masks.load(), (32, 24)))
    assert np.array_equal(of_class, gt_mask(rec.masks.load(), FRAME, class_index=7))


def test_a_changed_file_is_decoded_again(oi, cache):
    rec = load_annotations(f"openimages:{oi.root}").records[0]
    source, calls = _counting(rec.masks)
    before = maskcache.frame_mask(source, FRAME)
    path = source.files[0]
    arr = np.asarray(Image.open(path).convert("L")).copy()
    arr[:] = 0
    arr[: arr.shape[0] // 2] = 255                   # a different mask, written over the old file
    Image.fromarray(arr).save(path)
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    after = maskcache.frame_mask(source, FRAME)
    assert len(calls) == 2
    assert np.array_equal(after, gt_mask(rec.masks.load(), FRAME)) and not np.array_equal(after, before)


def test_turned_off_nothing_is_written(oi, cache, monkeypatch):
    rec = load_annotations(f"openimages:{oi.root}").records[0]
    source, calls = _counting(rec.masks)
    maskcache.frame_mask(source, FRAME, cache=False)
    maskcache.frame_mask(source, FRAME, cache=False)
    assert len(calls) == 2 and _entries(cache) == []
    monkeypatch.setenv("WSOLBENCH_CACHE", "")        # every wsolbench cache off
    maskcache.frame_mask(source, FRAME)
    assert len(calls) == 3 and _entries(cache) == []


def test_sources_without_files_are_not_cached(cache):
    inst = np.zeros((10, 12), np.uint8)
    inst[2:6, 3:9] = 255
    from wsolbench.datasets.records import GTMasks

    source, calls = _counting(MaskSource(lambda: GTMasks([inst], [None]), "generated"))
    for _ in range(2):
        assert np.array_equal(maskcache.frame_mask(source, FRAME), gt_mask(GTMasks([inst], [None]), FRAME))
    assert len(calls) == 2 and _entries(cache) == []


def test_a_damaged_entry_is_decoded_again_and_rewritten(oi, cache):
    rec = load_annotations(f"openimages:{oi.root}").records[1]
    want = gt_mask(rec.masks.load(), FRAME)
    maskcache.frame_mask(rec.masks, FRAME)
    (entry,) = _entries(cache)
    for damage in (entry.read_bytes()[:20], b"not a mask", b""):
        entry.write_bytes(damage)
        source, calls = _counting(rec.masks)
        assert np.array_equal(maskcache.frame_mask(source, FRAME), want) and len(calls) == 1
        assert entry.read_bytes()[:8] == maskcache.MAGIC


def test_an_unwritable_cache_only_costs_time(oi, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("WSOLBENCH_CACHE", str(blocker / "cache"))     # below a file: cannot be created
    rec = load_annotations(f"openimages:{oi.root}").records[0]
    assert np.array_equal(maskcache.frame_mask(rec.masks, FRAME), gt_mask(rec.masks.load(), FRAME))


def test_real_openimages_masks_from_the_cache(shared_dir, cache):
    root = shared_dir / "openimages-masks"
    data = load_annotations(f"wsoleval:{root / 'metadata'}", mask_root=str(root / "masks"))
    for rec in data.records:
        want = gt_mask(rec.masks.load(), FRAME, image_id=rec.image_id)
        assert np.array_equal(maskcache.frame_mask(rec.masks, FRAME, image_id=rec.image_id), want)
        source, calls = _counting(rec.masks)
        assert np.array_equal(maskcache.frame_mask(source, FRAME, image_id=rec.image_id), want) and not calls


def test_evaluate_cli_with_and_without_the_mask_cache(oi, cache, tmp_path):
    from wsolbench.cli.main import cli
    from wsolbench.scoremaps import write_scoremaps

    data = load_annotations(f"openimages:{oi.root}")
    rng = np.random.default_rng(0)
    maps = tmp_path / "maps.h5"
    write_scoremaps(maps, [r.image_id for r in data.records], rng.random((len(data.records), 7, 7)).astype(np.float32),
                    normalized=False)
    runner = CliRunner()
    outs = []
    for extra in (["--no-mask-cache"], [], []):
        out = tmp_path / f"r{len(outs)}.json"
        res = runner.invoke(cli, ["evaluate", str(maps), "--gt", f"openimages:{oi.root}", "--out", str(out),
                                  *extra])
        assert res.exit_code == 0, res.output
        outs.append(__import__("json").loads(out.read_text())["metrics"])
        if extra:
            assert _entries(cache) == []                      # --no-mask-cache wrote nothing
    assert len(_entries(cache)) == len(data.records)
    assert outs[0] == outs[1] == outs[2] and outs[0]["pxap"] is not None
