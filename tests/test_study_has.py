"""The Hide-and-Seek studies on real data (``has-tinyimagenet``, ``has-ilsvrc``) end to end on small
generated datasets in the releases' layouts: 1 epoch, the tables' shape, every cell a number, the
published reference column, the cost estimate, resuming, one GPU per job."""

import dataclasses
import json
import math

import pytest
from click.testing import CliRunner

torch = pytest.importorskip("torch")

from fixtures_datasets import make_tinyimagenet, write_jpeg, write_wsoleval_metadata  # noqa: E402
from wsolbench.cli.main import cli  # noqa: E402
from wsolbench.errors import WsolbenchError  # noqa: E402
from wsolbench.nn import studies as S  # noqa: E402
from wsolbench.nn.studies_has import TINY_REFERENCE  # noqa: E402

#: 1 epoch on tiny images: every network at 64x64 (AlexNet-GAP gives 2x2 maps, GoogLeNet-GAP 4x4)
QUICK = {"epochs": 1, "batch_size": 4, "image_size": 64, "resize_size": 64, "workers": 0, "eval_batch_size": 8}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tinyimagenet(tmp_path_factory.mktemp("tiny"), n_classes=3, train_per_class=3, n_val=6)


def _subset(study, names):
    return dataclasses.replace(study, rows=tuple(r for r in study.rows if r.variant.key in names))


def _check_tables(summary, study):
    """One row per study row, every measured cell a finite number, reference cells the published values."""
    rows = summary["sections"][0]["rows"]
    assert [r["label"] for r in rows] == [r.label for r in study.rows]
    for row, spec in zip(rows, study.rows):
        for col in summary["columns"]:
            cell = row["cells"][col["key"]]
            if col["reference"]:
                assert cell["mean"] == study.reference.get((spec.variant.key, spec.evaluation), {}).get(col["key"])
            else:
                assert isinstance(cell["mean"], float) and math.isfinite(cell["mean"]), (row["label"], col["key"])
        cells = row["cells"]
        if "fixed_best_threshold" in cells:  # the best of the fixed thresholds, by GT-known loc
            best = cells["fixed_best_threshold"]["mean"]
            assert cells["gt_known_fixed_best"]["mean"] == max(cells[f"gt_known_cam2016_{t:g}"]["mean"]
                                                               for t in study.thresholds)
            assert cells["top1_loc_fixed_best"]["mean"] == cells[f"top1_loc_cam2016_{best:g}"]["mean"]


def test_the_grids_name_every_reproduction_recipe():
    from wsolbench.nn.recipe import list_recipes

    tiny = S.get_study("has-tinyimagenet")
    names = {r.variant.recipe_name for r in tiny.rows}
    assert names == {r.name for r in list_recipes() if r.dataset == "tinyimagenet"}
    assert {r.evaluation for r in tiny.rows} == {"single", "multicrop@0.75"} and len(tiny.rows) == 2 * 58
    assert set(TINY_REFERENCE) <= {(r.variant.key, r.evaluation) for r in tiny.rows}
    ilsvrc = S.get_study("has-ilsvrc")
    assert {r.variant.recipe_name for r in ilsvrc.rows} == {r.name for r in list_recipes()
                                                             if r.name.endswith("-ilsvrc-has2017")}
    assert (tiny.seeds, tiny.device, ilsvrc.thresholds) == (1, "cuda", (0.2, 0.3))
    cell = S.Cell(tiny.datasets[0], tiny.rows[0].variant, 0)
    assert S.cell_recipe(cell) == S.cell_recipe(cell).replace()  # the packaged recipe as it is
    assert S.cell_recipe(cell).name == "cam-alexnet-tinyimagenet"


def test_the_dataset_is_checked_before_anything_runs(tiny, tmp_path):
    study = S.get_study("has-tinyimagenet")
    with pytest.raises(WsolbenchError, match="needs --dataset tinyimagenet:PATH"):
        S.bind_dataset(study, None)
    with pytest.raises(WsolbenchError, match="is cub"):
        S.bind_dataset(study, "cub:/nowhere")
    with pytest.raises(WsolbenchError, match="bind it first"):
        S.run_study(study, out=tmp_path)
    result = CliRunner().invoke(cli, ["study", "has-ilsvrc", "--dataset", f"tinyimagenet:{tiny.root}",
                                      "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "runs on ilsvrc" in result.output and not (tmp_path / "o").exists()
    result = CliRunner().invoke(cli, ["study", "methods", "-o", "metadata=x", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "synthetic benchmark it defines" in result.output
    bound = S.bind_dataset(study, f"tinyimagenet:{tiny.root}", {"class_order": "file"})
    assert bound.datasets[0].options == {"class_order": "file"} and bound.datasets[0].spec.endswith("tiny-imagenet-200")


#: every network and every kind of method, at the recipes' 64x64 inputs (the no-resize AlexNet-GAP / GoogLeNet-GAP)
TINY_CLI_CELLS = ("cam-noresize-alexnet-tinyimagenet", "cam-noresize-googlenet-tinyimagenet",
                  "has-mix-squeezenet-gap-tinyimagenet", "input-dropout-train-test-nonorm-alexnet-small-tinyimagenet",
                  "augment+has-aug2-alexnet-small-tinyimagenet", "cam-gmp-squeezenet-gap-tinyimagenet")


def test_has_tinyimagenet_from_the_cli_estimates_runs_resumes(tiny, tmp_path, monkeypatch):
    """A part of the grid (the whole grid is the slow test) with the recipes as they are but for 1 epoch
    and batches of 4."""
    study = _subset(S.get_study("has-tinyimagenet"), TINY_CLI_CELLS)
    monkeypatch.setitem(S.STUDIES, "has-tinyimagenet", study)
    args = ["study", "has-tinyimagenet", "--dataset", f"tinyimagenet:{tiny.root}", "--device", "cpu", "--epochs", "1",
            "--workers", "0", "--batch-size", "4", "--out", str(tmp_path / "out"), "--tables", str(tmp_path), "--json"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "estimated cost:" in result.stderr and "CPU-hours for the 6 of 6 cells left" in result.stderr
    summary = json.loads(result.stdout)
    _check_tables(summary, study)
    estimate = summary["estimate"]
    assert estimate["device_hours"] > 0 and {m["backbone"] for m in estimate["models"]} == {
        "alexnet", "googlenet", "alexnet-small", "squeezenet-gap"}
    assert all(m["train_images_per_s"] > 0 and m["extract_images_per_s"] > 0 for m in estimate["models"])
    rows = {(r["variant"], r["evaluation"]): r for r in summary["sections"][0]["rows"]}
    assert rows[("has-mix-squeezenet-gap-tinyimagenet", "single")]["cells"]["ref_top1_cls"]["mean"] == 49.70
    assert rows[("has-mix-squeezenet-gap-tinyimagenet", "multicrop@0.75")]["cells"]["ref_top1_cls"]["mean"] is None
    run = tmp_path / "out" / "runs" / "tinyimagenet" / "cam-noresize-alexnet-tinyimagenet" / "seed0"
    assert (run / "maps.multicrop10-0.75.h5").exists() and json.loads((run / "result.json").read_text())[
        "dataset"]["split"] == "val"
    md = (tmp_path / "study-has-tinyimagenet.md").read_text()
    assert "*AlexNet-GAP (64x64 upscaled to 227) — GT-known loc at each fixed threshold*" in md
    assert "| HaS-Mix | " in md and "| 55.68 | 31.20 | 49.70 |" in md
    assert "`wsolbench study has-tinyimagenet --dataset" in md and "Reference columns: the Hide-and-Seek" in md
    # resumable: a second call trains nothing and says so before it starts
    stamp = (run / "checkpoint_last.pt").stat().st_mtime_ns
    again = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert again.exit_code == 0 and "every one of the 6 cells is done" in again.stderr
    assert (run / "checkpoint_last.pt").stat().st_mtime_ns == stamp
    assert json.loads(again.stdout)["sections"] == summary["sections"]


@pytest.mark.slow
def test_whole_has_tinyimagenet_grid(tiny, tmp_path):
    """All 58 recipes x (one pass, 10-crop) on the fixture, 1 epoch at 64x64."""
    study = S.bind_dataset(S.get_study("has-tinyimagenet"), f"tinyimagenet:{tiny.root}")
    summary = S.run_study(study, out=tmp_path / "out", seeds=(0,), device="cpu", overrides=QUICK,
                          on_estimate=lambda e: None)
    _check_tables(summary, study)
    assert summary["estimate"]["cells_left"] == 58
    paths = S.write_tables(summary, tmp_path, command="test")
    md = paths[0].read_text()
    assert md.count("| method |") == 3 * 4  # 3 tables x 4 networks
    csv_rows = paths[1].read_text().splitlines()
    assert len(csv_rows) == 1 + 116 * len(study.columns)


def _ilsvrc_fixture(root):
    """wsolevaluation's metadata/ILSVRC (train and test splits) over a few generated images."""
    images, meta = root / "ILSVRC", root / "metadata" / "ILSVRC"
    for split, n in (("train", 6), ("test", 4)):
        ids, labels, sizes, boxes = [], [], [], []
        for k in range(n):
            label = k % 3
            image_id = f"train/n0000000{label}/img_{k}.JPEG" if split == "train" else f"val/ILSVRC2012_val_{k:08d}.JPEG"
            box = [8 + 4 * k, 10, 60 + 3 * k, 70]
            write_jpeg(images / image_id, (96, 80), box, seed=k)
            ids.append(image_id), labels.append(label), sizes.append((96, 80)), boxes.append([box])
        write_wsoleval_metadata(meta / split, ids, labels, sizes, boxes)
    return images, meta


def test_has_ilsvrc_on_wsolevaluation_metadata(tmp_path):
    images, meta = _ilsvrc_fixture(tmp_path)
    names = ("cam-alexnet-ilsvrc-has2017", "has-mix-googlenet-ilsvrc-has2017")
    study = S.bind_dataset(_subset(S.get_study("has-ilsvrc"), names), f"ilsvrc:{images}", {"metadata": str(meta)})
    summary = S.run_study(study, out=tmp_path / "out", seeds=(0,), device="cpu", overrides=QUICK)
    _check_tables(summary, study)
    rows = summary["sections"][0]["rows"]
    assert rows[0]["cells"]["ref_gt_known"]["mean"] == 54.90 and rows[1]["cells"]["ref_gt_known"]["mean"] is None
    result = json.loads((S.Cell(study.datasets[0], study.rows[0].variant, 0).run_dir(tmp_path / "out")
                         / "result.json").read_text())
    assert result["dataset"]["split"] == "test" and result["counts"]["n_images"] == 4


def test_one_gpu_per_job(monkeypatch):
    """With --device cuda each job process sees one GPU of CUDA_VISIBLE_DEVICES, its own for its life."""
    from jobprobe import visible_gpu

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert S._gpu_ids(2) == ["3", "5"]
    with pytest.raises(WsolbenchError, match="--jobs 3 with --device cuda runs one cell per GPU, but 2"):
        S._gpu_ids(3)
    seen = [m for _, m, _ in S._map_jobs([(i,) for i in range(6)], 2, "cuda", fn=visible_gpu)]
    gpus = {}
    for m in seen:
        gpus.setdefault(m["pid"], set()).add(m["gpu"])
    assert all(len(g) == 1 for g in gpus.values()) and set.union(*gpus.values()) <= {"3", "5"}
    assert len(gpus) < 2 or set.union(*gpus.values()) == {"3", "5"}  # two processes: two GPUs
