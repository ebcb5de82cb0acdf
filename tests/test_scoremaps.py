"""The HDF5 score-map format v1: writer -> reader round trips, plain-h5py files, every bad input,
atomic writes, the .npy-folder import/export, the documented writer example and the bundled example."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from pathlib import Path

import h5py
import numpy as np
import pytest

from wsolbench.errors import AnnotationError, FormatError
from wsolbench.scoremaps import (
    FORMAT_NAME,
    ScoreMapFile,
    ScoreMapWriter,
    export_npy_dir,
    import_npy_dir,
    npy_path,
    sha256_file,
    validate_scoremaps,
    write_scoremaps,
)

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "wsolbench" / "data" / "example"


def ids_of(n, prefix="val2"):
    return [f"{prefix}/{i % 7}/{i}.jpeg" for i in range(n)]


def read_all(path, **kw):
    """All rows of a file: ids, list of 2-D maps, predicted labels (or None), map labels (or None)."""
    ids, maps, preds, labels = [], [], [], []
    with ScoreMapFile(path) as f:
        for b in f.iter_batches(**kw):
            ids += b.image_ids
            maps += [np.asarray(m) for m in b.maps]
            preds.append(b.predicted_labels)
            labels.append(b.map_labels)
    cat = (lambda xs: None if xs[0] is None else np.concatenate(xs))
    return ids, maps, cat(preds), cat(labels)


def plain_file(path, ids, maps, *, attrs=None, extra=None, ids_dtype=None):
    """A file written with plain h5py, as a method author would; ``attrs``/``extra`` override or add."""
    base = {"format": FORMAT_NAME, "format_version": 1}
    base.update(attrs or {})
    with h5py.File(path, "w") as f:
        for key, value in base.items():
            if value is not None:
                f.attrs[key] = value
        if ids is not None:
            f.create_dataset("image_ids", data=np.array(ids, dtype=object) if ids_dtype is None
                             else np.array(ids, dtype=ids_dtype),
                             dtype=h5py.string_dtype("utf-8") if ids_dtype is None else None)
        if maps is not None:
            f.create_dataset("maps", data=maps)
        for name, value in (extra or {}).items():
            f.create_dataset(name, data=value)
    return path


# --------------------------------------------------------------------------- round trips

@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_round_trip_in_batches_keeps_maps_ids_labels_and_attrs(tmp_path, dtype):
    rng = np.random.default_rng(0)
    ids = ids_of(23)
    maps = (rng.normal(size=(23, 14, 9)) * 5).astype(dtype)
    preds = rng.integers(0, 1000, 23)
    path = tmp_path / "maps.h5"
    with ScoreMapWriter(path, attrs={"method": "CAM", "backbone": "resnet50", "notes": "x"}, chunk_rows=4) as w:
        for start in range(0, 23, 10):
            w.append(ids[start:start + 10], maps[start:start + 10], predicted_labels=preds[start:start + 10])
    got_ids, got_maps, got_preds, got_labels = read_all(path, batch_size=6)
    assert got_ids == ids
    assert np.array_equal(np.stack(got_maps), maps) and got_maps[0].dtype == dtype
    assert np.array_equal(got_preds, preds) and got_labels is None
    with ScoreMapFile(path) as f:
        assert f.n_maps == len(f) == 23 and f.layout.kind == "fixed" and f.map_ndim == 2
        assert f.shape_of(5) == (14, 9) and f.normalized is False and f.has_predicted_labels
        assert f.attrs["method"] == "CAM" and f.attrs["backbone"] == "resnet50"
        assert f.attrs["format"] == FORMAT_NAME and "created" in f.attrs and "wsolbench_version" in f.attrs
        assert np.array_equal(f.read(17), maps[17])
        assert f.row_of(ids[4]) == 4


def test_batches_stream_in_order_with_last_batch_short(tmp_path):
    path = write_scoremaps(tmp_path / "m.h5", ids_of(10), np.zeros((10, 4, 4), np.float32))
    with ScoreMapFile(path) as f:
        sizes = [len(b) for b in f.iter_batches(batch_size=4)]
        rows = np.concatenate([b.rows for b in f.iter_batches(batch_size=4)])
    assert sizes == [4, 4, 2] and rows.tolist() == list(range(10))


def test_rows_subset_in_any_order_with_repeats(tmp_path):
    rng = np.random.default_rng(1)
    maps = rng.normal(size=(300, 5, 5)).astype(np.float32)
    path = write_scoremaps(tmp_path / "m.h5", ids_of(300), maps, chunk_rows=7)
    wanted = [5, 0, 3, 3, 299, 150, 1]            # sparse: not one contiguous read
    with ScoreMapFile(path) as f:
        got = [(b.rows.tolist(), np.asarray(b.maps)) for b in f.iter_batches(batch_size=3, rows=wanted)]
        dense = next(f.iter_batches(batch_size=10, rows=[12, 10, 11, 13]))
        with pytest.raises(IndexError):
            next(f.iter_batches(rows=[300]))
    assert sum((r for r, _ in got), []) == wanted
    assert np.array_equal(np.concatenate([m for _, m in got]), maps[wanted])
    assert np.array_equal(dense.maps, maps[[12, 10, 11, 13]])


def test_variable_sizes_are_stored_by_row(tmp_path):
    rng = np.random.default_rng(2)
    maps = [rng.random((int(h), int(w))).astype(np.float32) for h, w in rng.integers(3, 40, (9, 2))]
    path = write_scoremaps(tmp_path / "m.h5", ids_of(9), maps, predicted_labels=np.arange(9))
    ids, got, preds, _ = read_all(path, batch_size=4)
    assert ids == ids_of(9) and all(np.array_equal(a, b) for a, b in zip(got, maps))
    with ScoreMapFile(path) as f:
        assert f.layout.kind == "by_row"
        assert [f.shape_of(i) for i in range(9)] == [m.shape for m in maps]
        batch = next(f.iter_batches(batch_size=3, rows=[8, 2]))
        assert isinstance(batch.maps, list) and np.array_equal(batch.maps[0], maps[8])
        assert sorted(h5py.File(path, "r")["maps_by_row"].keys())[:2] == ["00000000", "00000001"]


def test_auto_layout_switches_to_by_row_when_a_new_shape_arrives(tmp_path):
    rng = np.random.default_rng(3)
    first = rng.random((20, 8, 8)).astype(np.float32)
    second = [rng.random((10, 12)).astype(np.float32), rng.random((8, 8)).astype(np.float32)]
    path = tmp_path / "m.h5"
    with ScoreMapWriter(path, chunk_rows=6) as w:
        w.append(ids_of(20), first)
        w.append(["x/1.jpg", "x/2.jpg"], second)
    ids, got, _, _ = read_all(path)
    assert ids == ids_of(20) + ["x/1.jpg", "x/2.jpg"]
    assert all(np.array_equal(a, b) for a, b in zip(got, list(first) + second))
    assert [p.name for p in tmp_path.iterdir()] == ["m.h5"]      # repacked, no temporary left


def test_fixed_layout_refuses_a_second_shape_and_writes_nothing(tmp_path):
    path = tmp_path / "m.h5"
    with pytest.raises(FormatError, match="layout='by_row'"):
        with ScoreMapWriter(path, layout="fixed") as w:
            w.append(["a"], np.zeros((1, 4, 4), np.float32))
            w.append(["b"], np.zeros((1, 5, 4), np.float32))
    assert list(tmp_path.iterdir()) == []


def test_map_labels_allow_one_map_per_class(tmp_path):
    ids = ["2007_000032.jpg", "2007_000032.jpg", "2007_000039.jpg"]
    maps = np.random.default_rng(4).random((3, 6, 6)).astype(np.float16)
    path = write_scoremaps(tmp_path / "m.h5", ids, maps, map_labels=[0, 14, 19])
    _, _, _, labels = read_all(path)
    assert labels.tolist() == [0, 14, 19]
    with ScoreMapFile(path) as f:
        assert f.has_map_labels and f.map_labels.tolist() == [0, 14, 19]
        assert f.row_of("2007_000032.jpg", 14) == 1
        assert f.find_rows(["2007_000039.jpg", "2007_000032.jpg"], map_labels=[19, 0]).tolist() == [2, 0]
        assert f.describe()["n_images"] == 2
    with pytest.raises(FormatError, match=r"row 1.*\('a', 3\) already appears at row 0"):
        write_scoremaps(tmp_path / "dup.h5", ["a", "a"], maps[:2], map_labels=[3, 3])


def test_one_dimensional_maps_read_as_one_row(tmp_path):
    rng = np.random.default_rng(5)
    series = rng.normal(size=(6, 50)).astype(np.float32)
    path = write_scoremaps(tmp_path / "ts.h5", ids_of(6, "ecg"), series)
    with ScoreMapFile(path) as f:
        assert f.map_ndim == 1 and f.shape_of(0) == (1, 50)
        batch = next(f.iter_batches(batch_size=4))
        assert batch.maps.shape == (4, 1, 50) and np.array_equal(batch.maps[:, 0], series[:4])
    ragged = [rng.normal(size=n).astype(np.float32) for n in (30, 40, 50)]
    path = write_scoremaps(tmp_path / "ts2.h5", ["a", "b", "c"], ragged)
    with ScoreMapFile(path) as f:
        assert f.layout.kind == "by_row" and f.map_ndim == 1 and f.shape_of(1) == (1, 40)
        assert np.array_equal(f.read(2)[0], ragged[2])


def test_class_scores_give_predicted_labels(tmp_path):
    logits = np.array([[0.1, 3.0, 0.2], [2.0, 0.0, 1.0]], np.float32)
    path = write_scoremaps(tmp_path / "m.h5", ["a", "b"], np.zeros((2, 3, 3), np.float32), logits=logits)
    with ScoreMapFile(path) as f:
        batch = next(f.iter_batches())
        assert f.has_predicted_labels and f.predicted_labels is None and f.scores_name == "logits"
        assert batch.predicted_labels.tolist() == [1, 0] and np.array_equal(batch.scores, logits)
        assert f.describe()["class_scores"] == {"name": "logits", "num_classes": 3}


def test_minimal_layout_written_with_plain_h5py_is_accepted(tmp_path):
    maps = np.random.default_rng(6).normal(size=(4, 7, 7)).astype(np.float32)
    path = plain_file(tmp_path / "m.h5", ids_of(4), maps, extra={"predicted_labels": np.array([1, 2, 3, 4])})
    ids, got, preds, _ = read_all(path)
    assert ids == ids_of(4) and np.array_equal(np.stack(got), maps) and preds.tolist() == [1, 2, 3, 4]
    with ScoreMapFile(path) as f:
        assert f.normalized is False and f.attrs == {"format": FORMAT_NAME, "format_version": 1}
    # fixed-length byte strings are accepted too, and normalized=True with maps in [0, 1]
    path = plain_file(tmp_path / "b.h5", ids_of(4), np.clip(maps, 0, 1), ids_dtype="S",
                      attrs={"normalized": True})
    with ScoreMapFile(path) as f:
        assert f.image_ids == ids_of(4) and f.normalized is True
        assert validate_scoremaps(path).n_maps == 4


def test_plain_h5py_maps_by_row_any_zero_padding(tmp_path):
    path = tmp_path / "m.h5"
    maps = [np.full((2, 3), 1.0, np.float32), np.full((4, 1), 2.0, np.float64)]
    with h5py.File(path, "w") as f:
        f.attrs.update({"format": FORMAT_NAME, "format_version": 1})
        f.create_dataset("image_ids", data=["a", "b"], dtype=h5py.string_dtype())
        for i, m in enumerate(maps):
            f.create_dataset(f"maps_by_row/{i:03d}", data=m)
    _, got, _, _ = read_all(path)
    assert [m.tolist() for m in got] == [m.tolist() for m in maps]


# --------------------------------------------------------------------------- bad files

def _maps(n=3, shape=(5, 5)):
    return np.random.default_rng(7).random((n,) + shape).astype(np.float32)


def _bad_cases(tmp: Path):
    """(name, path, regex the message must match) for every bad input the reader must refuse on open."""
    p = tmp
    ids = ["a/0.jpg", "a/1.jpg", "a/2.jpg"]
    cases = []

    def add(name, path, pattern):
        cases.append((name, path, pattern))

    text = p / "text.h5"
    text.write_text("image_id,score\n")
    add("not hdf5", text, "cannot be opened as HDF5")
    good = write_scoremaps(p / "good.h5", ids, _maps())
    trunc = p / "trunc.h5"
    trunc.write_bytes(Path(good).read_bytes()[: os.path.getsize(good) // 2])
    add("truncated", trunc, "truncated")
    add("missing file", p / "nope.h5", "file not found")
    add("missing format", plain_file(p / "nofmt.h5", ids, _maps(), attrs={"format": None}),
        "attribute 'format' is missing")
    add("wrong format", plain_file(p / "wrongfmt.h5", ids, _maps(), attrs={"format": "other"}),
        "format = 'other'")
    add("missing version", plain_file(p / "nover.h5", ids, _maps(), attrs={"format_version": None}),
        "'format_version' is missing")
    add("unknown version", plain_file(p / "v2.h5", ids, _maps(), attrs={"format_version": 2}),
        r"format_version 2 is not supported.*supported: 1")
    add("normalized not bool", plain_file(p / "norm.h5", ids, _maps(), attrs={"normalized": "yes"}),
        "normalized = 'yes' is not a boolean")
    add("no image_ids", plain_file(p / "noids.h5", None, _maps()), "dataset 'image_ids' is missing")
    add("no maps", plain_file(p / "nomaps.h5", ids, None), "dataset 'maps' \\(or group 'maps_by_row'\\) is missing")
    add("rgb maps", plain_file(p / "rgb.h5", ids, _maps(shape=(5, 5, 3))), r"rank 4.*channels-last")
    add("rank 1 maps", plain_file(p / "r1.h5", ids, np.zeros(3, np.float32)), "rank 1")
    add("int maps", plain_file(p / "int.h5", ids, np.zeros((3, 5, 5), np.int32)), "dtype int32")
    add("numeric ids", plain_file(p / "numids.h5", None, _maps(), extra={"image_ids": np.arange(3)}),
        "expected strings")
    add("length mismatch", plain_file(p / "len.h5", ids, _maps(n=4)),
        "length mismatch: 'image_ids' has 3 entries but 'maps' has 4 rows")
    add("duplicate ids", plain_file(p / "dup.h5", ["a/0.jpg", "a/1.jpg", "a/0.jpg"], _maps()),
        r"row 2, image 'a/0.jpg': image id 'a/0.jpg' already appears at row 0")
    add("dotdot id", plain_file(p / "dotdot.h5", ["a/0.jpg", "../etc/passwd", "b"], _maps()),
        r"row 1: .*contains '\.\.'")
    add("absolute id", plain_file(p / "abs.h5", ["/data/a.jpg", "b", "c"], _maps()), "row 0: .*absolute")
    add("float predicted labels", plain_file(p / "fpred.h5", ids, _maps(),
                                             extra={"predicted_labels": np.zeros(3, np.float32)}),
        "'predicted_labels' has dtype float32, expected integers")
    add("short predicted labels", plain_file(p / "spred.h5", ids, _maps(),
                                             extra={"predicted_labels": np.zeros(2, np.int64)}),
        r"'predicted_labels' has shape \(2,\), expected \(3,\)")
    add("negative map label", plain_file(p / "neg.h5", ids, _maps(), extra={"map_labels": np.array([0, -1, 2])}),
        "row 1: map_labels = -1 is negative")
    add("bad scores", plain_file(p / "scores.h5", ids, _maps(), extra={"logits": np.zeros((3,), np.float32)}),
        r"'logits' has shape \(3,\), expected \(3, C\)")
    add("empty", plain_file(p / "empty.h5", [], np.zeros((0, 5, 5), np.float32)), "holds no maps")
    both = plain_file(p / "both.h5", ids, _maps())
    with h5py.File(both, "a") as f:
        f.create_dataset("maps_by_row/00000000", data=np.zeros((2, 2), np.float32))
    add("maps and maps_by_row", both, "both 'maps' and 'maps_by_row' exist")
    gap = plain_file(p / "gap.h5", ids, None)
    with h5py.File(gap, "a") as f:
        for i in (0, 2):
            f.create_dataset(f"maps_by_row/{i:08d}", data=np.zeros((2, 2), np.float32))
    add("maps_by_row missing row", gap, r"row 1: length mismatch: 'maps_by_row' has no map for 1 of the 3 rows")
    return cases


def test_every_bad_file_raises_formaterror_naming_the_file(tmp_path):
    for name, path, pattern in _bad_cases(tmp_path):
        with pytest.raises(FormatError) as info:
            ScoreMapFile(path)
        message = str(info.value)
        assert message.startswith(str(path)), (name, message)
        assert re.search(pattern, message), (name, message)


def test_files_are_closed_after_a_failed_open(tmp_path):
    path = plain_file(tmp_path / "v2.h5", ["a"], _maps(1), attrs={"format_version": 2})
    with pytest.raises(FormatError):
        ScoreMapFile(path)
    with h5py.File(path, "a") as f:          # would fail if the reader had left it open
        f.attrs["format_version"] = 1
    assert len(ScoreMapFile(path)) == 1


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_map_is_reported_with_row_and_id_when_read(tmp_path, bad):
    maps = _maps(5)
    maps[3, 2, 2] = bad
    path = plain_file(tmp_path / "nan.h5", ids_of(5), maps)
    with ScoreMapFile(path) as f:                          # structure is fine: opens
        first = next(f.iter_batches(batch_size=3))
        assert len(first) == 3
        with pytest.raises(FormatError, match=rf"^{re.escape(str(path))}: row 3, image 'val2/3/3.jpeg': .*NaN"):
            list(f.iter_batches(batch_size=3))
        with pytest.raises(FormatError, match="row 3"):
            f.read(3)
    with pytest.raises(FormatError, match="row 3"):
        validate_scoremaps(path)


def test_nonfinite_by_row_map_is_reported(tmp_path):
    maps = [np.zeros((3, 3), np.float32), np.full((2, 5), np.nan, np.float32)]
    path = plain_file(tmp_path / "nan.h5", ["a", "b"], None)
    with h5py.File(path, "a") as f:
        for i, m in enumerate(maps):
            f.create_dataset(f"maps_by_row/{i:08d}", data=m)
    with pytest.raises(FormatError, match=r"row 1, image 'b': the map contains NaN"):
        validate_scoremaps(path)


def test_normalized_file_with_values_outside_unit_interval(tmp_path):
    maps = np.clip(_maps(4), 0, 1)
    maps[2, 0, 0] = 1.5
    path = plain_file(tmp_path / "n.h5", ids_of(4), maps, attrs={"normalized": True})
    with pytest.raises(FormatError, match=r"row 2, image 'val2/2/2.jpeg': values span \[.*, 1\.5\], outside"):
        validate_scoremaps(path)


def test_by_row_member_with_wrong_rank_is_reported_when_read(tmp_path):
    path = plain_file(tmp_path / "r.h5", ["a", "b"], None)
    with h5py.File(path, "a") as f:
        f.create_dataset("maps_by_row/00000000", data=np.zeros((3, 3), np.float32))
        f.create_dataset("maps_by_row/00000001", data=np.zeros((3, 3, 3), np.float32))
    with ScoreMapFile(path) as f:
        with pytest.raises(FormatError, match=r"row 1, image 'b': dataset 'maps_by_row/00000001' has rank 3"):
            f.read(1)


def test_find_rows_names_missing_ids(tmp_path):
    path = write_scoremaps(tmp_path / "m.h5", ["a", "b"], _maps(2))
    with ScoreMapFile(path) as f:
        assert f.find_rows(["b", "a"]).tolist() == [1, 0]
        with pytest.raises(FormatError, match=r"no map for 2 of 3 image\(s\), e.g. 'c', 'd'"):
            f.find_rows(["a", "c", "d"])


# --------------------------------------------------------------------------- writer input checks

def test_writer_rejects_bad_batches_with_row_and_id(tmp_path):
    path = tmp_path / "w.h5"
    nan = _maps(3)
    nan[1, 0, 0] = np.nan
    cases = [
        (dict(image_ids=["a", "b", "c"], maps=nan), r"row 1, image 'b': the map contains NaN"),
        (dict(image_ids=["a", "b"], maps=_maps(3)), "2 image ids but 3 maps"),
        (dict(image_ids=["a", "../b", "c"], maps=_maps(3)), r"row 1: .*contains '\.\.'"),
        (dict(image_ids=["a", "b", "a"], maps=_maps(3)), r"row 2, image 'a': image id 'a' already appears at row 0"),
        (dict(image_ids=["a", "b", "c"], maps=np.zeros((3, 4, 4, 3), np.float32)), "expected"),
        (dict(image_ids=["a", "b", "c"], maps=np.zeros((3, 4, 4), np.int64)), "dtype int64"),
        (dict(image_ids=["a", "b", "c"], maps=_maps(3), predicted_labels=[1, 2]), r"shape \(2,\), expected \(3,\)"),
        (dict(image_ids="abc", maps=_maps(3)), "single string"),
    ]
    for kwargs, pattern in cases:
        with pytest.raises(FormatError, match=pattern):
            with ScoreMapWriter(path) as w:
                w.append(**kwargs)
        assert list(tmp_path.iterdir()) == [], pattern


def test_writer_checks_float16_overflow_and_normalized_range(tmp_path):
    big = np.full((1, 3, 3), 1e6, np.float32)
    with pytest.raises(FormatError, match=r"row 0.*NaN or infinite"):
        write_scoremaps(tmp_path / "a.h5", ["a"], big, dtype="float16")
    with pytest.raises(FormatError, match=r"row 0, image 'a': values span \[.*\], outside \[0, 1\]"):
        write_scoremaps(tmp_path / "b.h5", ["a"], big, normalized=True)
    with pytest.raises(FormatError, match="set by the format itself"):
        ScoreMapWriter(tmp_path / "c.h5", attrs={"normalized": True})
    assert list(tmp_path.iterdir()) == []


def test_writer_requires_optional_arrays_in_every_batch(tmp_path):
    with pytest.raises(FormatError, match="predicted_labels was given for earlier batches but not for this one"):
        with ScoreMapWriter(tmp_path / "m.h5") as w:
            w.append(["a"], _maps(1), predicted_labels=[1])
            w.append(["b"], _maps(1))
    with pytest.raises(FormatError, match="already appears at row 0"):
        with ScoreMapWriter(tmp_path / "m.h5") as w:
            w.append(["a"], _maps(1))
            w.append(["a"], _maps(1))


# --------------------------------------------------------------------------- atomic write

def test_exception_inside_with_leaves_no_file_and_no_temporary(tmp_path):
    with pytest.raises(RuntimeError):
        with ScoreMapWriter(tmp_path / "m.h5") as w:
            w.append(["a", "b"], _maps(2))
            assert len(os.listdir(tmp_path)) == 1 and os.listdir(tmp_path)[0].endswith(".tmp")
            raise RuntimeError("inference crashed")
    assert os.listdir(tmp_path) == []


def test_failed_write_keeps_the_existing_file(tmp_path):
    path = write_scoremaps(tmp_path / "m.h5", ["old"], _maps(1))
    before = sha256_file(path)
    with pytest.raises(KeyboardInterrupt):
        with ScoreMapWriter(path) as w:
            w.append(["new"], _maps(1))
            raise KeyboardInterrupt
    assert sha256_file(path) == before and os.listdir(tmp_path) == ["m.h5"]
    with ScoreMapFile(path) as f:
        assert f.image_ids == ["old"]


def test_empty_writer_is_an_error_and_leaves_nothing(tmp_path):
    with pytest.raises(FormatError, match="no maps were appended"):
        with ScoreMapWriter(tmp_path / "sub" / "m.h5"):
            pass
    assert os.listdir(tmp_path / "sub") == []


def test_abandoned_writer_removes_its_temporary(tmp_path):
    w = ScoreMapWriter(tmp_path / "m.h5")
    w.append(["a"], _maps(1))
    assert len(os.listdir(tmp_path)) == 1
    w.abort()
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------- helpers

def test_sha256_file_matches_hashlib(tmp_path):
    path = tmp_path / "blob.bin"
    data = np.random.default_rng(8).bytes(3 * (1 << 20) + 17)
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_validate_reports_constant_maps_and_missing_predictions(tmp_path):
    maps = _maps(4)
    maps[1] = 0.25
    path = write_scoremaps(tmp_path / "m.h5", ids_of(4), maps)
    seen = []
    report = validate_scoremaps(path, batch_size=3, on_batch=lambda done, total: seen.append((done, total)))
    assert report.n_maps == 4 and report.n_constant_maps == 1 and report.constant_examples == ["val2/1/1.jpeg"]
    assert seen == [(3, 4), (4, 4)]
    assert any("constant" in w for w in report.warnings) and any("top-1" in w for w in report.warnings)
    assert report.value_range[0] == pytest.approx(float(maps.min()))


def test_describe_summarises_without_reading_values(tmp_path):
    path = write_scoremaps(tmp_path / "m.h5", ids_of(3), _maps(3).astype(np.float16), normalized=True,
                           attrs={"method": "HaS", "split": "test"}, compression=None)
    with ScoreMapFile(path) as f:
        d = f.describe()
    assert d["n_maps"] == 3 and d["dtype"] == "float16" and d["map_shapes"] == {"5x5": 3}
    assert d["normalized"] is True and d["attrs"]["method"] == "HaS" and d["storage"]["compression"] is None
    assert "format" not in d["attrs"]


# --------------------------------------------------------------------------- .npy folders

def test_npy_dir_export_import_round_trip_uses_reference_paths(tmp_path):
    rng = np.random.default_rng(9)
    ids = ["val2/995/0.jpeg", "val2/995/1.jpeg", "val2/3/7.jpeg"]
    maps = rng.random((3, 224, 224))
    h5 = write_scoremaps(tmp_path / "m.h5", ids, maps, normalized=True)
    summary = export_npy_dir(h5, tmp_path / "npy")
    assert summary.n_maps == 3 and summary.map_shapes == {"224x224": 3}
    for image_id, m in zip(ids, maps):
        path = os.path.join(tmp_path / "npy", image_id + ".npy")   # what evaluate_wsol loads
        assert npy_path(tmp_path / "npy", image_id) == path
        arr = np.load(path)
        assert arr.dtype == np.float64 and np.array_equal(arr, m)
    (tmp_path / "ids.txt").write_text("\n".join(reversed(ids)) + "\n")
    from wsolbench.scoremaps.npydir import read_id_list

    out = import_npy_dir(tmp_path / "npy", tmp_path / "back.h5", image_ids=read_id_list(tmp_path / "ids.txt"))
    got_ids, got, _, _ = read_all(out)
    assert got_ids == list(reversed(ids)) and np.array_equal(np.stack(got), maps[::-1])
    with ScoreMapFile(out) as f:
        assert f.normalized is True and f.layout.dtype == np.float64
    found = import_npy_dir(tmp_path / "npy", tmp_path / "found.h5", dtype="float32", normalized=False)
    with ScoreMapFile(found) as f:
        assert f.image_ids == sorted(ids) and f.layout.dtype == np.float32 and not f.normalized


def test_npy_import_errors_name_the_path_and_image(tmp_path):
    root = tmp_path / "npy"
    (root / "a").mkdir(parents=True)
    np.save(root / "a" / "x.jpg.npy", np.zeros((4, 4)))
    np.save(root / "a" / "y.jpg.npy", np.zeros((4, 4, 3)))
    with pytest.raises(FormatError, match=r"a/z\.jpg\.npy: image 'a/z\.jpg': map file not found"):
        import_npy_dir(root, tmp_path / "o.h5", image_ids=["a/x.jpg", "a/z.jpg"])
    with pytest.raises(FormatError, match=r"image 'a/y\.jpg': array of shape \(4, 4, 3\)"):
        import_npy_dir(root, tmp_path / "o.h5", image_ids=["a/y.jpg"])
    np.save(root / "a" / "big.jpg.npy", np.full((2, 2), 3.0))
    with pytest.raises(FormatError, match=r"image 'a/big\.jpg': values span .* outside \[0, 1\]"):
        import_npy_dir(root, tmp_path / "o.h5", image_ids=["a/big.jpg"])
    (tmp_path / "ids.txt").write_text("a/x.jpg\n../up.jpg\n")
    from wsolbench.scoremaps.npydir import read_id_list

    with pytest.raises(AnnotationError, match=r"ids\.txt:2: .*contains '\.\.'"):
        read_id_list(tmp_path / "ids.txt")
    assert not (tmp_path / "o.h5").exists()


def test_npy_export_refuses_overwrite_and_multilabel(tmp_path):
    h5 = write_scoremaps(tmp_path / "m.h5", ["a.jpg"], np.zeros((1, 3, 3)))
    export_npy_dir(h5, tmp_path / "out")
    with pytest.raises(FormatError, match="already exists"):
        export_npy_dir(h5, tmp_path / "out")
    assert export_npy_dir(h5, tmp_path / "out", overwrite=True).n_maps == 1
    ml = write_scoremaps(tmp_path / "ml.h5", ["a", "a"], np.zeros((2, 3, 3)), map_labels=[1, 2])
    with pytest.raises(FormatError, match="map_labels"):
        export_npy_dir(ml, tmp_path / "out2")


# --------------------------------------------------------------------------- docs and example

def test_docs_writer_example_runs_and_reads_back(tmp_path, monkeypatch):
    text = (REPO / "docs" / "scoremaps.md").read_text()
    block = re.search(r"<!-- writer-example -->\s*```python\n(.*?)```", text, re.S).group(1)
    assert len(block.strip().splitlines()) <= 15
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "docs/scoremaps.md", "exec"), {})
    with ScoreMapFile(tmp_path / "maps.h5") as f:
        assert f.image_ids == ["val2/0/0.jpeg", "val2/0/1.jpeg", "val2/1/2.jpeg"]
        assert f.shape_of(0) == (14, 14) and f.layout.dtype == np.float32 and not f.normalized
        assert f.predicted_labels.tolist() == [0, 3, 1] and f.attrs["method"] == "CAM"
    assert validate_scoremaps(tmp_path / "maps.h5").n_maps == 3


def test_bundled_example_matches_its_metadata():
    from wsolbench.datasets.registry import load_annotations

    annotations = load_annotations(f"wsoleval:{EXAMPLE / 'metadata'}")
    with ScoreMapFile(EXAMPLE / "maps.h5") as f:
        assert f.image_ids == annotations.image_ids and len(f) == 24
        assert f.shape_of(0) == (28, 28) and f.layout.dtype == np.float32 and not f.normalized
        assert f.image_ids[0] == "001.Black_footed_Albatross/Black_Footed_Albatross_0001_1043.jpg"
        assert not any(i.startswith("test/") for i in f.image_ids)     # ids like real wsolevaluation CUB ids
        preds = f.predicted_labels
    labels = np.array([r.label for r in annotations])
    assert (preds == labels).sum() == 20 and annotations.num_classes == 4 and annotations.has_boxes
    assert sum(os.path.getsize(p) for p in EXAMPLE.rglob("*") if p.is_file()) < 200_000
    report = validate_scoremaps(EXAMPLE / "maps.h5")
    assert report.n_constant_maps == 0 and report.value_range[0] < 0 < report.value_range[1]


def test_bundled_example_is_regenerated_identically(tmp_path):
    spec = importlib.util.spec_from_file_location("make_example", EXAMPLE / "make_example.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(str(tmp_path))
    for name in ("image_ids.txt", "class_labels.txt", "image_sizes.txt", "localization.txt"):
        assert (tmp_path / "metadata" / name).read_text() == (EXAMPLE / "metadata" / name).read_text()
    new, old = read_all(tmp_path / "maps.h5"), read_all(EXAMPLE / "maps.h5")
    assert new[0] == old[0] and np.array_equal(np.stack(new[1]), np.stack(old[1]))
    assert np.array_equal(new[2], old[2])
    with ScoreMapFile(tmp_path / "maps.h5") as a, ScoreMapFile(EXAMPLE / "maps.h5") as b:
        assert a.attrs == b.attrs


def test_a_rejected_batch_leaves_the_writer_usable(tmp_path):
    nan = _maps(2)
    nan[1, 0, 0] = np.nan
    path = tmp_path / "m.h5"
    with ScoreMapWriter(path, dtype="float32") as w:
        w.append(["a"], _maps(1).astype(np.float64), predicted_labels=[1])   # stored as float32
        with pytest.raises(FormatError, match="row 3, image 'c': image id 'c' already appears at row 2"):
            w.append(["b", "c", "c"], _maps(3), predicted_labels=[1, 2, 3])
        with pytest.raises(FormatError, match="row 2, image 'c': the map contains NaN"):
            w.append(["b", "c"], nan, predicted_labels=[1, 2])
        with pytest.raises(FormatError, match="1-D map after 2-D ones"):
            w.append(["b"], [np.zeros(5, np.float32)], predicted_labels=[1])
        w.append(["b", "c"], _maps(2), predicted_labels=[4, 5])             # retry succeeds
        assert w.n_written == 3
    ids, maps, preds, _ = read_all(path)
    assert ids == ["a", "b", "c"] and preds.tolist() == [1, 4, 5] and maps[0].dtype == np.float32


def test_corrupted_chunk_is_reported_when_read(tmp_path):
    maps = np.random.default_rng(10).random((40, 16, 16)).astype(np.float32)
    path = write_scoremaps(tmp_path / "m.h5", ids_of(40), maps, chunk_rows=10)
    with h5py.File(path, "r") as f:
        info = f["maps"].id.get_chunk_info(2)                   # rows 20..29
    with open(path, "r+b") as fh:
        fh.seek(info.byte_offset)
        fh.write(b"\xff" * min(info.size, 64))
    with ScoreMapFile(path) as f:
        assert np.array_equal(f.read(5), maps[5])
        with pytest.raises(FormatError, match=rf"^{re.escape(str(path))}: row 16, .*cannot read rows 16\.\.31"):
            list(f.iter_batches(batch_size=16))
