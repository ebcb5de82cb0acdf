"""``wsolbench scoremaps``: info, validate, import-npy and export-npy through the real CLI."""

from __future__ import annotations

import json
import os

import h5py
import numpy as np
from click.testing import CliRunner

from wsolbench.cli.main import cli
from wsolbench.scoremaps import ScoreMapFile, write_scoremaps


def run(*args):
    return CliRunner().invoke(cli, ["scoremaps", *map(str, args)])


def sample(tmp_path, **kw):
    rng = np.random.default_rng(0)
    ids = [f"val2/{i}/{i}.jpeg" for i in range(5)]
    return write_scoremaps(tmp_path / "maps.h5", ids, rng.normal(size=(5, 12, 12)).astype(np.float16),
                           predicted_labels=[0, 1, 2, 3, 4], attrs={"method": "CAM", "backbone": "vgg16"}, **kw)


def test_info_prints_a_table(tmp_path):
    result = run("info", sample(tmp_path))
    assert result.exit_code == 0, result.output
    out = result.stdout
    for expected in ("maps", "12x12 (5)", "float16", "fixed", "attr method", "CAM", "raw maps"):
        assert expected in out, (expected, out)
    assert result.stderr == ""


def test_info_json_and_sha256(tmp_path):
    path = sample(tmp_path)
    result = run("info", path, "--json", "--sha256")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["n_maps"] == 5 and data["map_shapes"] == {"12x12": 5} and data["predicted_labels"] is True
    assert data["attrs"]["backbone"] == "vgg16" and data["normalized"] is False and len(data["sha256"]) == 64


def test_validate_ok_and_warnings_on_stderr(tmp_path):
    path = write_scoremaps(tmp_path / "m.h5", ["a", "b"], np.stack([np.zeros((4, 4)), np.eye(4)]).astype(np.float32))
    result = run("validate", path)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"valid: {path}: 2 maps, values in [0, 1]")
    assert "1 constant map(s), e.g. 'a'" in result.stderr and "top-1" in result.stderr
    data = json.loads(run("validate", path, "--json").stdout)
    assert data["valid"] is True and data["n_constant_maps"] == 1 and data["constant_examples"] == ["a"]


def test_validate_bad_file_exits_2_with_one_line_naming_row_and_image(tmp_path):
    maps = np.ones((3, 4, 4), np.float32)
    maps[2, 1, 1] = np.nan
    path = tmp_path / "nan.h5"
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "wsolbench.scoremaps"
        f.attrs["format_version"] = 1
        f.create_dataset("image_ids", data=["a", "b", "c"], dtype=h5py.string_dtype())
        f.create_dataset("maps", data=maps)
    result = run("validate", path)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {path}: row 2, image 'c': the map contains NaN")
    assert "Traceback" not in result.output


def test_info_on_a_non_hdf5_file_exits_2(tmp_path):
    bad = tmp_path / "maps.h5"
    bad.write_text("not hdf5")
    result = run("info", bad)
    assert result.exit_code == 2 and f"{bad}: cannot be opened as HDF5" in result.stderr


def test_export_then_import_npy_round_trip(tmp_path):
    path = sample(tmp_path)
    out_dir = tmp_path / "npy"
    result = run("export-npy", path, out_dir)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"wrote 5 maps to {out_dir}"
    assert "expects 224x224 maps in [0, 1]" in result.stderr          # raw 12x12 maps: a note
    arr = np.load(os.path.join(out_dir, "val2/3/3.jpeg" + ".npy"))
    assert arr.dtype == np.float64 and arr.shape == (12, 12)
    assert run("export-npy", path, out_dir).exit_code == 2             # refuses to overwrite
    assert run("export-npy", path, out_dir, "--overwrite").exit_code == 0

    ids = tmp_path / "image_ids.txt"
    ids.write_text("val2/4/4.jpeg\nval2/0/0.jpeg\n")
    back = tmp_path / "back.h5"
    result = run("import-npy", out_dir, "--ids", ids, "--out", back, "--raw", "--dtype", "float16",
                 "--method", "CAM-again", "--compression", "none")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"wrote {back}: 2 maps (fixed layout, float16, normalized=false)")
    with ScoreMapFile(path) as original, ScoreMapFile(back) as f:
        assert f.image_ids == ["val2/4/4.jpeg", "val2/0/0.jpeg"] and f.attrs["method"] == "CAM-again"
        assert np.array_equal(f.read(0), original.read(4)) and not f.normalized


def test_import_npy_defaults_to_normalized_and_reports_missing_maps(tmp_path):
    root = tmp_path / "npy" / "val2" / "1"
    root.mkdir(parents=True)
    np.save(root / "5.jpeg.npy", np.linspace(0, 1, 224 * 224).reshape(224, 224))
    out = tmp_path / "m.h5"
    result = run("import-npy", tmp_path / "npy", "--out", out)
    assert result.exit_code == 0, result.output
    with ScoreMapFile(out) as f:
        assert f.image_ids == ["val2/1/5.jpeg"] and f.normalized and f.layout.dtype == np.float64
    ids = tmp_path / "ids.txt"
    ids.write_text("val2/1/5.jpeg\nval2/1/6.jpeg\n")
    result = run("import-npy", tmp_path / "npy", "--ids", ids, "--out", tmp_path / "m2.h5")
    assert result.exit_code == 2
    assert "image 'val2/1/6.jpeg': map file not found" in result.stderr
    assert not (tmp_path / "m2.h5").exists()
