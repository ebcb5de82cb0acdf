"""Issue 16, items 5, 6, 7, 11 and issue 15's --split check: bounded requests, images without ground
truth, labels out of range, NaN logits, paths outside the dataset, the exit-code policy and the
messages of import-npy / evaluate --submission. Every refusal: exit 2, one line naming the file, the
item and the fix, and no file created or changed."""

from __future__ import annotations

import json
import os

import h5py
import numpy as np
import pytest
from PIL import Image

from evalfixtures import make_box_case, write_maps, write_metadata
from failfixtures import error_line, run, snapshot
from wsolbench.bounds import MAX_THRESHOLDS, available_cpus


@pytest.fixture
def case(tmp_path):
    meta, ids, maps, preds = make_box_case(tmp_path)
    path = write_maps(tmp_path / "maps.h5", ids, maps, predicted=preds)
    return tmp_path, meta, ids, maps, preds, path


def _drop_box_of(meta, image_id):
    loc = meta / "localization.txt"
    loc.write_text("".join(line + "\n" for line in loc.read_text().splitlines() if not line.startswith(image_id + ",")))


# ----------------------------------------------------------------------------- item 5: bounds

def test_cam_step_bound_says_why_and_runs_nothing(case):
    tmp, meta, *_, path = case
    before = snapshot(tmp)
    line = error_line(run("evaluate", path, "--gt", f"wsoleval:{meta}", "--cam-step", "1e-9", "--out", tmp / "r.json"))
    assert "cam_step 1e-09 gives 1,000,000,000 thresholds" in line and f"at most {MAX_THRESHOLDS:,}" in line
    assert "cam_step >= 0.0001" in line and "per threshold" in line
    assert snapshot(tmp) == before
    ok = run("evaluate", path, "--gt", f"wsoleval:{meta}", "--cam-step", "0.0001", "--json")
    assert ok.exit_code == 0, ok.output
    assert len(json.loads(ok.stdout)["box"]["thresholds"]) == 10_000


@pytest.mark.parametrize("args", [["evaluate", "MAPS", "--gt", "GT", "--workers", "WORKERS"],
                                  ["baseline", "run", "center-gaussian", "--dataset", "GT", "--eval-workers", "WORKERS",
                                   "--out", "OUT"]])
def test_workers_bound_is_the_cpu_count(case, args):
    tmp, meta, *_, path = case
    too_many = available_cpus() + 1
    subst = {"MAPS": path, "GT": f"wsoleval:{meta}", "WORKERS": too_many, "OUT": tmp / "g.h5"}
    before = snapshot(tmp)
    line = error_line(run(*[subst.get(a, a) for a in args]))
    assert f"{too_many}: at most {available_cpus()}, the CPUs this process may use" in line and "memory" in line
    assert snapshot(tmp) == before


def test_workers_beyond_the_chunks_start_no_idle_processes(case, monkeypatch):
    """12 images make one chunk: --workers 2 evaluates in this process, with the same numbers."""
    tmp, meta, *_, path = case
    if available_cpus() < 2:
        pytest.skip("needs 2 CPUs")
    import wsolbench.pipeline as pipeline

    monkeypatch.setattr(pipeline, "process_pool", None)        # would raise if a pool were started
    one = run("evaluate", path, "--gt", f"wsoleval:{meta}", "--json")
    two = run("evaluate", path, "--gt", f"wsoleval:{meta}", "--json", "--workers", "2")
    assert two.exit_code == 0, two.output
    assert json.loads(one.stdout)["metrics"] == json.loads(two.stdout)["metrics"]


# ----------------------------------------------------------------------------- item 6: silently wrong numbers

def test_an_image_without_ground_truth_is_an_error_naming_it(case):
    tmp, meta, ids, *_, path = case
    _drop_box_of(meta, ids[4])
    before = snapshot(tmp)
    line = error_line(run("evaluate", path, "--gt", f"wsoleval:{meta}", "--out", tmp / "r.json"))
    assert str(meta) in line and "1 image(s) have no ground-truth box or mask" in line and repr(ids[4]) in line
    assert "--skip-images-without-gt" in line and "localization.txt" in line
    assert snapshot(tmp) == before


def test_skipping_images_without_ground_truth_is_explicit_and_recorded(case):
    tmp, meta, ids, maps, preds, path = case
    _drop_box_of(meta, ids[4])
    res = run("evaluate", path, "--gt", f"wsoleval:{meta}", "--skip-images-without-gt", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["dataset"]["skipped_without_gt"] == [ids[4]] and data["counts"]["n_images"] == 11
    assert "1 image(s) without ground truth left out" in " ".join(res.stderr.split())
    # the same numbers as a split that never listed the image (and maps without it)
    keep = [i for i in range(12) if i != 4]
    boxes = [[list(map(float, line.split(",")[1:]))] for line in (meta / "localization.txt").read_text().split()]
    sizes = [tuple(map(int, line.split(",")[1:])) for line in (meta / "image_sizes.txt").read_text().split()]
    sub = write_metadata(tmp / "sub", [ids[i] for i in keep], [i % 3 for i in keep], [sizes[i] for i in keep], boxes)
    sub_maps = write_maps(tmp / "sub.h5", [ids[i] for i in keep], maps[keep], predicted=[preds[i] for i in keep])
    expected = json.loads(run("evaluate", sub_maps, "--gt", f"wsoleval:{sub}", "--json").stdout)
    assert data["metrics"] == expected["metrics"] and data["box"] == expected["box"]


def test_datasets_check_reports_images_without_ground_truth(case):
    tmp, meta, ids, *_ = case
    _drop_box_of(meta, ids[7])
    res = run("datasets", "check", f"wsoleval:{meta}", "--no-counts", "--json")
    line = error_line(res)
    data = json.loads(res.stdout)
    assert not data["ok"] and [p["kind"] for p in data["problems"]] == ["no-ground-truth"]
    assert repr(ids[7]) in data["problems"][0]["message"] and "1 no-ground-truth" in line


def test_predicted_label_out_of_range_names_row_and_image(case):
    tmp, meta, ids, maps, preds, _ = case
    bad = list(preds)
    bad[6] = 3                                                  # the dataset has classes 0..2
    path = write_maps(tmp / "bad.h5", ids, maps, predicted=bad)
    before = snapshot(tmp)
    line = error_line(run("evaluate", path, "--gt", f"wsoleval:{meta}", "--out", tmp / "r.json"))
    assert "bad.h5: row 6" in line and ids[6] in line and "predicted_labels = 3" in line
    assert "classes 0..2" in line and "0-based" in line and "num_classes" in line
    assert snapshot(tmp) == before
    declared = run("evaluate", path, "--gt", f"wsoleval:{meta}", "-o", "num_classes=5", "--json")
    assert declared.exit_code == 0, declared.output                # a subset of a 5-class dataset
    assert json.loads(declared.stdout)["dataset"]["num_classes"] == 5


def test_nan_logits_are_refused_naming_row_and_image(case):
    tmp, meta, ids, maps, preds, _ = case
    path = write_maps(tmp / "logits.h5", ids, maps)
    logits = np.eye(3, dtype=np.float32)[preds]
    logits[9] = np.nan                                         # all-NaN once became class 0
    with h5py.File(path, "a") as f:
        f.create_dataset("logits", data=logits)
    before = snapshot(tmp)
    line = error_line(run("evaluate", path, "--gt", f"wsoleval:{meta}", "--out", tmp / "r.json"))
    assert "logits.h5: row 9" in line and ids[9] in line and "logits contains NaN" in line
    assert snapshot(tmp) == before


def test_argmax_of_logits_out_of_range_is_refused(case):
    tmp, meta, ids, maps, preds, _ = case
    path = write_maps(tmp / "wide.h5", ids, maps)
    logits = np.zeros((12, 5), np.float32)
    logits[:, 4] = 1.0                                         # argmax 4 on a 3-class dataset
    with h5py.File(path, "a") as f:
        f.create_dataset("logits", data=logits)
    line = error_line(run("evaluate", path, "--gt", f"wsoleval:{meta}"))
    assert "argmax of logits" in line and "= 4 is outside the dataset's classes 0..2" in line


# ----------------------------------------------------------------------------- item 7: reads outside the dataset

def _mask_case(tmp):
    root = tmp / "masks"
    root.mkdir()
    ids = ["a.jpg", "b.jpg"]
    for name in ("a", "b"):
        mask = np.zeros((20, 20), np.uint8)
        mask[5:15, 5:15] = 255
        Image.fromarray(mask).save(root / f"{name}.png")
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(root / "ignore.png")
    secret = tmp / "outside.png"
    Image.fromarray(np.full((20, 20), 255, np.uint8)).save(secret)
    meta = tmp / "meta"
    meta.mkdir()
    (meta / "image_ids.txt").write_text("a.jpg\nb.jpg\n")
    (meta / "class_labels.txt").write_text("a.jpg,0\nb.jpg,1\n")
    (meta / "image_sizes.txt").write_text("a.jpg,20,20\nb.jpg,20,20\n")
    maps = np.random.default_rng(0).random((2, 20, 20)).astype(np.float32)
    path = write_maps(tmp / "maps.h5", ids, maps)
    return meta, root, secret, path


@pytest.mark.parametrize("bad", ["../outside.png", "ABSOLUTE", "sub/../../outside.png"])
def test_mask_paths_may_not_leave_the_mask_root(tmp_path, bad):
    meta, root, secret, path = _mask_case(tmp_path)
    bad = str(secret) if bad == "ABSOLUTE" else bad
    (meta / "localization.txt").write_text(f"a.jpg,a.png,ignore.png\nb.jpg,{bad},\n")
    before = snapshot(tmp_path)
    line = error_line(run("evaluate", path, "--gt", f"wsoleval:{meta}", "--mask-root", root,
                          "--out", tmp_path / "r.json"))
    assert "localization.txt:2" in line and "image 'b.jpg'" in line and repr(bad) in line
    assert ("outside" in line or "absolute" in line) and "stay inside it" in line
    assert snapshot(tmp_path) == before
    (meta / "localization.txt").write_text("a.jpg,a.png,ignore.png\nb.jpg,./b.png,\n")    # inside: fine
    ok = run("evaluate", path, "--gt", f"wsoleval:{meta}", "--mask-root", root, "--json")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["metrics"]["pxap"] is not None


# ----------------------------------------------------------------------------- item 11: exit codes, messages

def test_import_npy_names_the_source_npy(tmp_path):
    folder = tmp_path / "npy"
    (folder / "val").mkdir(parents=True)
    np.save(folder / "val" / "a.jpg.npy", np.zeros((4, 4)))
    bad = np.full((4, 4), 0.5)
    bad[1, 1] = np.nan
    np.save(folder / "val" / "b.jpg.npy", bad)
    before = snapshot(tmp_path)
    line = error_line(run("scoremaps", "import-npy", folder, "--out", tmp_path / "m.h5"))
    assert f"{folder / 'val' / 'b.jpg.npy'}: image 'val/b.jpg'" in line and "NaN" in line and "m.h5" not in line
    assert snapshot(tmp_path) == before
    np.save(folder / "val" / "b.jpg.npy", np.full((4, 4), 3.0))              # outside [0, 1], imported as normalized
    line = error_line(run("scoremaps", "import-npy", folder, "--out", tmp_path / "m.h5"))
    assert "b.jpg.npy" in line and "outside [0, 1]" in line and "--raw" in line and "m.h5" not in line


def test_a_text_file_named_npy_is_called_what_it_is(tmp_path):
    folder = tmp_path / "npy"
    folder.mkdir()
    (folder / "a.jpg.npy").write_text("0.1 0.2\n0.3 0.4\n")
    before = snapshot(tmp_path)
    line = error_line(run("scoremaps", "import-npy", folder, "--out", tmp_path / "m.h5"))
    assert "a.jpg.npy" in line and "not a .npy file" in line and "pickled" not in line and "np.save" in line
    assert snapshot(tmp_path) == before
    np.save(folder / "a.jpg.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    line = error_line(run("scoremaps", "import-npy", folder, "--out", tmp_path / "m.h5"))
    assert "pickled Python objects" in line


def test_submission_for_an_unsupported_dataset_is_refused_before_evaluating(case):
    tmp, meta, *_, path = case
    before = snapshot(tmp)
    res = run("evaluate", path, "--gt", f"wsoleval:{meta}", "--out", tmp / "r.json", "--submission", tmp / "row.csv",
              "--method", "CAM", "--backbone", "vgg16")
    line = error_line(res)
    assert "--submission" in line and "nothing was evaluated" in line
    assert "unknown dataset" in line and "--dataset" in line
    assert "evaluating" not in res.stderr
    assert snapshot(tmp) == before
    # a known dataset name on ground truth that is not one of its official splits is refused before evaluating too
    line = error_line(run("evaluate", path, "--gt", f"wsoleval:{meta}", "--submission", tmp / "row.csv",
                          "--method", "CAM", "--backbone", "vgg16", "--dataset", "cub"))
    assert "nothing was evaluated" in line and "cub has no official split" in line
    assert snapshot(tmp) == before


def test_datasets_check_exits_2_like_every_input_error(case):
    tmp, meta, *_ = case
    with open(meta / "localization.txt", "a") as f:
        f.write("not,a,box\n")
    res = run("datasets", "check", f"wsoleval:{meta}", "--no-counts")
    line = error_line(res)
    assert str(meta) in line and "problem(s)" in line and "annotation" in line


def test_an_internal_error_exits_1_with_a_traceback_and_a_closing_line(case, monkeypatch):
    tmp, meta, *_, path = case
    import wsolbench.pipeline as pipeline

    def bug(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(pipeline, "evaluate_maps", bug)
    res = run("evaluate", path, "--gt", f"wsoleval:{meta}")
    assert res.exit_code == 1
    assert "Traceback" in res.stderr and res.stderr.strip().splitlines()[-1].startswith(
        "Error: internal error (ZeroDivisionError), a bug in wsolbench")


def test_usage_errors_exit_2():
    assert run("evaluate").exit_code == 2
    assert run("evaluate", "x.h5", "--gt", "wsoleval:x", "--workers", "zero").exit_code == 2


# ----------------------------------------------------------------------------- issue 15: --split

def test_split_contradicting_a_split_folder_is_an_error(tmp_path, case):
    _, meta, ids, maps, preds, path = case
    test_dir = tmp_path / "metadata" / "CUB" / "test"
    test_dir.parent.mkdir(parents=True)
    os.rename(meta, test_dir)
    before = snapshot(tmp_path)
    line = error_line(run("evaluate", path, "--gt", f"wsoleval:{test_dir}", "--split", "val", "--out",
                          tmp_path / "r.json"))
    assert "split folder 'test'" in line and "--split is 'val'" in line and "contradict" in line
    assert f"wsoleval:{tmp_path / 'metadata' / 'CUB' / 'val'}" in line
    assert snapshot(tmp_path) == before
    agree = run("evaluate", path, "--gt", f"wsoleval:{test_dir}", "--split", "test", "--json")
    folder_only = run("evaluate", path, "--gt", f"wsoleval:{test_dir}", "--json")
    parent = run("evaluate", path, "--gt", f"wsoleval:{test_dir.parent}", "--split", "test", "--json")
    results = [json.loads(r.stdout) for r in (agree, folder_only, parent)]
    assert all(r["dataset"]["split"] == "test" for r in results)
    assert results[0]["metrics"] == results[1]["metrics"] == results[2]["metrics"]


def test_the_in_memory_evaluator_applies_the_same_rules(case):
    from wsolbench import Evaluator
    from wsolbench.errors import AnnotationError, FormatError

    tmp, meta, ids, maps, preds, path = case
    _drop_box_of(meta, ids[4])
    with pytest.raises(AnnotationError, match=r"1 image\(s\) have no ground-truth box or mask.*skip_images_without_gt"):
        Evaluator(f"wsoleval:{meta}")
    evaluator = Evaluator(f"wsoleval:{meta}", skip_images_without_gt=True)
    with pytest.raises(FormatError, match=r"update\(\): image '.*': predicted_labels = 5 is outside the dataset's"):
        evaluator.update(ids[:2], maps[:2], [0, 5])
    evaluator.update(ids, maps, preds)                        # the left-out image's map is ignored
    in_memory = evaluator.compute().to_dict()
    cli = json.loads(run("evaluate", path, "--gt", f"wsoleval:{meta}", "--skip-images-without-gt", "--json").stdout)
    assert in_memory["dataset"]["skipped_without_gt"] == [ids[4]] == cli["dataset"]["skipped_without_gt"]
    assert in_memory["metrics"] == cli["metrics"]
