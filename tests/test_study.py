"""Studies: a tiny grid end to end (training, evaluations, caching, tables), the CLI, and the
synthetic ``body_cue`` knob the methods study uses."""

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner

from wsolbench.datasets import load_annotations
from wsolbench.datasets.synthgen import SyntheticConfig, render_sample

TINY = "classes=3&train=8&val=2&test=4&part=0.25"


# -- body_cue (no torch) ---------------------------------------------------------------------

def test_body_cue_default_keeps_existing_configs_and_their_hashes():
    # hashes of configs generated before the knob existed (generator version 2)
    assert SyntheticConfig().hash() == "186bdbeee613"
    assert SyntheticConfig(part=0.25, scale_min=0.25, scale_max=0.45).hash() == "374aee2cc654"
    assert "body_cue" not in SyntheticConfig().to_dict()
    assert SyntheticConfig(body_cue=0.5).to_dict()["body_cue"] == 0.5
    assert SyntheticConfig(body_cue=0.5).hash() != SyntheticConfig().hash()
    with pytest.raises(Exception, match="body_cue"):
        SyntheticConfig(body_cue=1.5)


def test_body_cue_styles_only_the_body_with_the_class_hue():
    import colorsys

    plain, cued = SyntheticConfig(classes=5), SyntheticConfig(classes=5, body_cue=1.0)
    hue_error = []
    for label in range(5):
        for index in range(4):
            a, b = render_sample(plain, "train", label, index), render_sample(cued, "train", label, index)
            assert np.array_equal(a.mask, b.mask) and np.array_equal(a.part, b.part)
            body = b.mask & ~b.part
            changed = (a.image != b.image).any(-1)
            assert changed[body].mean() > 0.5
            assert np.abs(a.image.astype(int) - b.image)[~b.mask & ~b.ignore].max() <= 3  # background kept
            r, g, bl = b.image[body].mean(0) / 255
            hue = colorsys.rgb_to_hsv(r, g, bl)[0]
            target = (0.618034 * label) % 1.0
            hue_error.append(min(abs(hue - target), 1 - abs(hue - target)))
    assert np.median(hue_error) < 0.08  # textures and noise move the mean colour a little


def test_body_cue_knob_in_specs_and_old_folders(tmp_path):
    spec = f"synthetic:{tmp_path / 'd'}?classes=2&train=1&val=1&test=1"
    load_annotations(spec, split="test")
    config = json.loads((tmp_path / "d" / "config.json").read_text())
    assert "body_cue" not in config["config"]  # same bytes as before the knob
    assert len(load_annotations(spec + "&body_cue=0", split="test")) == 2  # default = what the folder has
    with pytest.raises(Exception, match="body_cue"):
        load_annotations(spec + "&body_cue=0.5", split="test")


# -- the study machinery (torch) --------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    pytest.importorskip("torch")
    from wsolbench.nn import studies as S

    root = tmp_path_factory.mktemp("study")
    tiny = S.DatasetConfig("tiny", "tiny config", f"synthetic:{root / 'data'}?{TINY}")
    study = S.Study("tiny", "Tiny study", "two variants, two seeds", (tiny,),
                    (S.Row(S.CAM), S.Row(S.CAM, "multicrop"), S.Row(S.HAS_MIX)),
                    (S.TOP1, S.GTK, S.V2, S.PXAP, S.BODY, S.Metric("best_threshold", "best", 2)))
    out = root / "out"
    seen = []
    summary = S.run_study(study, out=out, seeds=(0, 1), overrides={"epochs": 1, "batch_size": 8},
                          progress=lambda done, total, msg: seen.append((done, total)))
    return S, study, out, summary, seen


def test_study_runs_every_cell_and_aggregates_over_seeds(tiny_study):
    S, study, out, summary, seen = tiny_study
    assert seen[-1] == (4, 4)  # (cam, has-mix) x 2 seeds; the 10-crop row reuses the cam runs
    rows = summary["sections"][0]["rows"]
    assert [r["label"] for r in rows] == ["CAM", "CAM + 10-crop", "HaS-mixed"]
    for row in rows:
        for cell in row["cells"].values():
            assert len(cell["values"]) == 2
            assert cell["mean"] == pytest.approx(np.mean(cell["values"]))
            assert cell["std"] == pytest.approx(np.std(cell["values"], ddof=1))
    cam_dir = S.Cell(study.datasets[0], S.CAM, 0).run_dir(out)
    result = json.loads((cam_dir / "result.json").read_text())
    assert rows[0]["cells"]["maxboxacc_v2"]["values"][0] == result["metrics"]["maxboxacc_v2"]
    # cam2016 at 0.2 = the wsoleval curve (largest region, IoU 50) at the same threshold
    index = result["box"]["thresholds"].index(0.2)
    assert rows[0]["cells"]["gt_known_cam2016_0.2"]["values"][0] == result["box"]["largest"]["curves"]["50"][index]
    assert (cam_dir / "maps.multicrop10-0.875.h5").exists()
    assert 0.0 <= rows[0]["cells"]["body_pxap"]["mean"] <= 100.0


def test_a_finished_study_is_read_back_without_retraining(tiny_study):
    S, study, out, summary, _ = tiny_study
    cam_dir = S.Cell(study.datasets[0], S.CAM, 1).run_dir(out)
    stamp = (cam_dir / "checkpoint_last.pt").stat().st_mtime_ns
    again = S.run_study(study, out=out, seeds=(0, 1), overrides={"epochs": 1, "batch_size": 8})
    assert (cam_dir / "checkpoint_last.pt").stat().st_mtime_ns == stamp
    assert again["sections"] == summary["sections"]


def test_tables_in_markdown_csv_and_json(tiny_study, tmp_path):
    S, _, _, summary, _ = tiny_study
    paths = S.write_tables(summary, tmp_path, command="wsolbench study tiny")
    assert [p.name for p in paths] == ["study-tiny.md", "study-tiny.csv", "study-tiny.json"]
    md = paths[0].read_text()
    cell = summary["sections"][0]["rows"][0]["cells"]["top1_cls"]
    assert f"| CAM | {cell['mean']:.1f} ± {cell['std']:.1f} |" in md and "`wsolbench study tiny`" in md
    with open(paths[1], newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 * 6 and {r["metric"] for r in rows} >= {"top1_cls", "body_pxap"}
    assert json.loads(paths[2].read_text())["command"] == "wsolbench study tiny"


def test_cli_study_list_and_run(tiny_study, tmp_path, monkeypatch):
    S, study, _, _, _ = tiny_study
    from wsolbench.cli.main import cli

    listed = CliRunner().invoke(cli, ["study", "--list"])
    assert listed.exit_code == 0 and all(n in listed.output for n in ("methods", "thresholds", "multicrop", "pooling"))
    monkeypatch.setitem(S.STUDIES, "pooling", study)  # the CLI's study names, a tiny grid behind one
    result = CliRunner().invoke(cli, ["study", "pooling", "--out", str(tmp_path / "out"), "--tables", str(tmp_path),
                                      "--seeds", "2", "--epochs", "1", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["study"] == "tiny" and (tmp_path / "study-tiny.md").exists()
    command = "wsolbench study pooling --seeds 2 --jobs 1 --threads 1 --epochs 1"
    assert command in (tmp_path / "study-tiny.md").read_text()


def test_published_studies_and_their_cell_recipes():
    pytest.importorskip("torch")
    from wsolbench.nn import studies as S

    methods = S.get_study("methods")
    assert [r.label for r in methods.rows] == ["CAM", "HaS-16", "HaS-32", "HaS-mixed", "CutMix", "ADL", "ACoL",
                                                "SPG", "ER"]
    assert [d.spec for d in methods.datasets] == ["synthetic:?part=0.25&scale=0.25-0.45",
                                                  "synthetic:?part=0.25&scale=0.25-0.45&body_cue=0.5"]
    assert {r.evaluation for r in S.get_study("multicrop").rows} == {"single", "multicrop"}
    has16 = S.cell_recipe(S.Cell(S.DEMO, S.HAS16, 2))
    assert (has16.name, has16.seed, has16.method_options["patch_sizes"]) == ("has-smallcnn-synthetic", 2, [16])
    assert S.cell_recipe(S.Cell(S.DEMO, S.CAM_GMP, 0)).pool == "gmp"
    assert S.cell_recipe(S.Cell(S.DEMO, S.CAM, 0)).epochs == 12  # the demo's schedule
    cells = S.study_cells(S.get_study("thresholds"), (0, 1, 2))
    assert len(cells) == 2 * 9 * 3 and all(evals == ("single",) for _, evals in cells)
    with pytest.raises(Exception, match="unknown study"):
        S.get_study("nope")
