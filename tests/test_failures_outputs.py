"""Issue 16, items 1, 3, 4: outputs are checked before the work (never an input, writable, the right
kind), written atomically, and multi-file outputs are staged: every refusal is one line, exit 2, and
leaves the folder byte for byte as it was."""

from __future__ import annotations

import json
import os
import sys

import h5py
import numpy as np
import pytest

from evalfixtures import make_box_case, write_maps
from failfixtures import error_line, run, snapshot
from test_report import make_result
from wsolbench.atomic import write_text_atomic
from wsolbench.outputs import OutputError, staged_folder

READ_ONLY_ROOT = "/proc"     # creating files there fails even for root (Linux)


@pytest.fixture
def case(tmp_path):
    meta, ids, maps, preds = make_box_case(tmp_path)
    path = write_maps(tmp_path / "maps.h5", ids, maps, predicted=preds)
    return tmp_path, meta, ids, maps, path


def _needs_proc():
    if not os.path.isdir(READ_ONLY_ROOT) or sys.platform != "linux":
        pytest.skip("needs Linux /proc, a folder nobody (root included) can create files in")


# ----------------------------------------------------------------------------- item 1: data loss

def test_evaluate_out_onto_its_own_maps_is_refused(case):
    tmp, meta, _, _, path = case
    before = snapshot(tmp)
    line = error_line(run("evaluate", path, "--gt", f"wsoleval:{meta}", "--out", path))
    assert "--out" in line and str(path) in line and "is the input MAPS" in line and "another file" in line
    assert snapshot(tmp) == before


def test_out_and_submission_on_one_file_are_refused(case):
    tmp, meta, _, _, path = case
    before = snapshot(tmp)
    line = error_line(run("evaluate", path, "--gt", f"wsoleval:{meta}", "--out", tmp / "x.csv",
                          "--submission", tmp / "x.csv", "--method", "CAM", "--backbone", "vgg16"))
    assert "--out and --submission both name" in line and "x.csv" in line
    assert snapshot(tmp) == before


def test_report_out_onto_its_result_is_refused(tmp_path):
    result = tmp_path / "r.json"
    result.write_text(json.dumps(make_result()))
    before = snapshot(tmp_path)
    line = error_line(run("report", result, "--out", result, "--no-curves"))
    assert "--out" in line and "r.json" in line and "is a file" in line
    assert snapshot(tmp_path) == before


# ----------------------------------------------------------------------------- item 3: write failures

def test_evaluate_out_under_a_regular_file_fails_before_evaluating(case):
    tmp, meta, _, _, path = case
    (tmp / "plain.txt").write_text("x")
    before = snapshot(tmp)
    line = error_line(run("evaluate", path, "--gt", f"wsoleval:{meta}", "--out", tmp / "plain.txt" / "r.json"))
    assert "plain.txt is a file, not a folder" in line and "--out" in line
    assert snapshot(tmp) == before


def test_evaluate_out_in_an_unwritable_folder_fails_before_evaluating(case):
    _needs_proc()
    tmp, meta, _, _, path = case
    before = snapshot(tmp)
    result = run("evaluate", path, "--gt", f"wsoleval:{meta}", "--out", f"{READ_ONLY_ROOT}/wsolbench/r.json")
    line = error_line(result)
    assert f"cannot create files in {READ_ONLY_ROOT}" in line and "choose a writable folder" in line
    assert "evaluating" not in result.stderr                         # refused before any work
    assert snapshot(tmp) == before


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="root ignores permission bits; the /proc test covers read-only folders for root")
def test_read_only_folder_by_permission(case):
    tmp, meta, _, _, path = case
    locked = tmp / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        before = snapshot(tmp)
        line = error_line(run("evaluate", path, "--gt", f"wsoleval:{meta}", "--out", locked / "r.json"))
        assert "cannot create files in" in line and "locked" in line
        assert snapshot(tmp) == before
    finally:
        locked.chmod(0o755)


@pytest.mark.parametrize("command", ["import-npy", "export-npy", "report", "sanity", "show", "compare", "export",
                                     "screenshot"])
def test_every_writing_command_refuses_an_unwritable_output_in_one_line(command, tmp_path, case):
    _needs_proc()
    tmp, meta, ids, maps, path = case
    target = f"{READ_ONLY_ROOT}/wsolbench-out"
    npy = tmp / "npy"
    npy.mkdir()
    np.save(npy / "a.npy", np.zeros((4, 4)))
    result_file = tmp / "r.json"
    result_file.write_text(json.dumps(make_result()))
    args = {
        "import-npy": ["scoremaps", "import-npy", npy, "--out", f"{target}/m.h5"],
        "export-npy": ["scoremaps", "export-npy", path, target],
        "report": ["report", result_file, "--out", target, "--no-curves"],
        "sanity": ["baseline", "run", "center-gaussian", "--dataset", f"wsoleval:{meta}", "--out", f"{target}/m.h5"],
        "show": ["datasets", "show", f"wsoleval:{meta}", "--out", f"{target}.png"],
        "compare": ["compare", result_file, result_file, "--out", target],
        "export": ["datasets", "export", f"wsoleval:{meta}", "--format", "coco", "--out", f"{target}/t.json"],
        "screenshot": ["leaderboard", "screenshot", f"{target}.png", "--board", tmp / "board"],
    }[command]
    before = snapshot(tmp)
    line = error_line(run(*args))
    assert READ_ONLY_ROOT in line and ("cannot create files" in line)
    assert snapshot(tmp) == before


def test_atomic_write_failure_is_one_line_output_error(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match=r"cannot write \(Not a directory\); nothing was written") as info:
        write_text_atomic(tmp_path / "f" / "out.txt", "hello")
    assert isinstance(info.value, OSError)                    # callers catching OSError still catch it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_atomic_write_creates_folders_only_when_the_file_is_complete(tmp_path):
    class Boom(Exception):
        pass

    from wsolbench.atomic import atomic_path

    with pytest.raises(Boom):
        with atomic_path(tmp_path / "a" / "b" / "c.txt") as tmp:
            tmp.write_text("half")
            raise Boom
    assert list(tmp_path.iterdir()) == []                      # no folders, no temporary file


# ----------------------------------------------------------------------------- item 4: partial outputs

def _maps_with_nan_row(path, n=6, bad=3):
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "wsolbench.scoremaps"
        f.attrs["format_version"] = 1
        f.create_dataset("image_ids", data=np.array([f"img{i}.jpg" for i in range(n)], dtype=object),
                         dtype=h5py.string_dtype())
        maps = np.random.default_rng(0).random((n, 8, 8)).astype(np.float32)
        maps[bad, 2, 2] = np.nan
        f.create_dataset("maps", data=maps, chunks=(1, 8, 8))
    return path


def test_export_npy_with_a_nan_row_writes_nothing(tmp_path):
    maps = _maps_with_nan_row(tmp_path / "m.h5")
    out = tmp_path / "npy"
    before = snapshot(tmp_path)
    line = error_line(run("scoremaps", "export-npy", maps, out, "--overwrite"))
    assert "m.h5" in line and "row 3" in line and "img3.jpg" in line and "NaN" in line
    assert snapshot(tmp_path) == before and not out.exists()


def test_export_npy_into_a_folder_with_one_existing_target_writes_nothing(tmp_path, case):
    tmp, meta, ids, maps, path = case
    out = tmp / "npy"
    (out / os.path.dirname(ids[5])).mkdir(parents=True)
    np.save(out / f"{ids[5]}.npy", np.ones((2, 2)))            # the 6th of 12 targets exists
    (out / "keep.txt").write_text("unrelated")
    before = snapshot(tmp)
    line = error_line(run("scoremaps", "export-npy", path, out))
    assert ids[5] in line and "1 of the 12 files to write exist" in line and "--overwrite" in line
    assert snapshot(tmp) == before
    ok = run("scoremaps", "export-npy", path, out, "--overwrite")
    assert ok.exit_code == 0, ok.output
    assert (out / "keep.txt").read_text() == "unrelated" and len(list(out.rglob("*.npy"))) == 12
    assert not [p for p in out.iterdir() if p.name.startswith(".")]          # no staging folder left


def test_report_with_bad_maps_leaves_no_curves_behind(tmp_path):
    pytest.importorskip("matplotlib")
    result = tmp_path / "r.json"
    result.write_text(json.dumps(make_result()))
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5 at all")
    out = tmp_path / "report"
    before = snapshot(tmp_path)
    line = error_line(run("report", result, "--maps", bad, "--gt", "synthetic:", "--out", out))
    assert "bad.h5" in line
    assert snapshot(tmp_path) == before and not out.exists()


def test_staged_folder_is_all_or_nothing(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    (out / "index.html").write_text("previous page")
    before = snapshot(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        with staged_folder(out) as stage:
            (stage / "index.html").write_text("new page")
            (stage / "a.png").write_bytes(b"png")
            raise KeyboardInterrupt                               # Ctrl-C halfway
    assert snapshot(tmp_path) == before
    with staged_folder(out) as stage:
        (stage / "index.html").write_text("new page")
        (stage / "sub").mkdir()
        (stage / "sub" / "a.png").write_bytes(b"png")
    assert (out / "index.html").read_text() == "new page" and (out / "old.txt").read_text() == "old"
    assert (out / "sub" / "a.png").read_bytes() == b"png"
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "old.txt", "sub"]
    fresh = tmp_path / "new" / "deeper"
    with staged_folder(fresh) as stage:
        (stage / "x.txt").write_text("x")
    assert (fresh / "x.txt").read_text() == "x" and oct(fresh.stat().st_mode & 0o777) != "0o700"


def test_sanity_run_writes_maps_and_result_together_or_not_at_all(tmp_path, case):
    tmp, meta, ids, maps, path = case
    lines = (meta / "localization.txt").read_text().splitlines()
    (meta / "localization.txt").write_text("\n".join(lines[1:]) + "\n")     # image 0 loses its box
    out = tmp / "runs" / "g.h5"
    before = snapshot(tmp)
    line = error_line(run("baseline", "run", "center-gaussian", "--dataset", f"wsoleval:{meta}", "--out", out))
    assert ids[0] in line and "--skip-images-without-gt" in line
    assert snapshot(tmp) == before


def test_trained_baseline_refuses_an_unwritable_run_folder_before_training(tmp_path):
    _needs_proc()
    pytest.importorskip("torch")
    res = run("baseline", "run", "cam", "--dataset", "synthetic:", "--out", f"{READ_ONLY_ROOT}/wsolbench-run",
              "--epochs", "1", "--device", "cpu")
    line = error_line(res)
    assert f"--out {READ_ONLY_ROOT}/wsolbench-run: cannot create files in {READ_ONLY_ROOT}" in line
    assert "epoch" not in res.stderr


def test_leaderboard_add_on_an_unwritable_board_is_one_line(tmp_path):
    _needs_proc()
    board = __import__("pathlib").Path(__file__).resolve().parents[1] / "leaderboard" / "submissions"
    row = next(board.glob("*.csv"))
    line = error_line(run("leaderboard", "add", row, "--board", f"{READ_ONLY_ROOT}/wsolbench-board"))
    assert READ_ONLY_ROOT in line and ("cannot write" in line or "board" in line)
