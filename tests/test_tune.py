"""`wsolbench tune` end to end on a tiny synthetic benchmark (CPU), and its bad-input errors."""

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

torch = pytest.importorskip("torch")
pytest.importorskip("optuna")

from wsolbench.cli.main import cli  # noqa: E402
from wsolbench.datasets import load_annotations  # noqa: E402
from wsolbench.nn import tune_study  # noqa: E402
from wsolbench.nn.recipe import load_recipe  # noqa: E402

TINY = "classes=3&train=8&val=5&test=4&seed=3"
FAST = ("--epochs", "1", "--batch-size", "8", "--device", "cpu", "--heartbeat", "5")


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    spec = f"synthetic:{tmp_path_factory.mktemp('syn') / 'data'}?{TINY}"
    load_annotations(spec, split="test")
    return spec


def _tune(*args):
    return CliRunner().invoke(cli, ["tune", *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def cam_study(spec, tmp_path_factory):
    out = tmp_path_factory.mktemp("tune") / "cam"
    result = _tune("cam", "--dataset", spec, "--trials", "2", *FAST, "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


def test_tune_runs_the_budget_selects_on_val_and_tests_the_best_once(cam_study):
    out, summary = cam_study
    assert summary["counts"] == {"budget": 2, "finished": 2, "complete": 2, "failed": 0, "requeued": 0,
                                 "running": 0, "waiting": 0}
    assert (summary["metric"], summary["splits"]["select"], summary["splits"]["test"]) == ("maxboxacc_v2", "val", "test")
    trials = summary["trials"]
    assert [t["slot"] for t in trials] == [0, 1] and all(0.01 <= t["params"]["train.lr"] <= 0.5 for t in trials)
    best = max(trials, key=lambda t: (t["value"], -t["number"]))
    assert summary["best"]["number"] == best["number"]
    for t in trials:   # each trial is an ordinary run folder, scored on val with the selection metric
        folder = out / t["folder"]
        result = json.loads((folder / "result.json").read_text())
        assert result["dataset"]["split"] == "val" and result["counts"]["n_images"] == 15
        assert result["metrics"]["maxboxacc_v2"] == t["value"]
        recipe = load_recipe(str(folder / "recipe.toml"))
        assert (recipe.train_split, recipe.eval_split, recipe.lr) == ("train", "val", t["params"]["train.lr"])
    test = json.loads((out / "result.test.json").read_text())
    assert test["dataset"]["split"] == "test" and test["counts"]["n_images"] == 12
    assert summary["test"]["metrics"] == test["metrics"]
    assert (out / summary["best"]["folder"] / "result.test.json").is_file()
    assert sum((out / t["folder"] / "result.test.json").is_file() for t in trials) == 1   # only the best is tested
    chosen = load_recipe(str(out / "best-recipe.toml"))
    assert (chosen.train_split, chosen.eval_split, chosen.lr) == ("train", "test", best["params"]["train.lr"])
    md = (out / "tune.md").read_text()
    assert f"**{best['number']}** (best)" in md and "MaxBoxAccV2 (val)" in md and "result.test.json" in md
    panel = summary["figure"]["panels"][0]
    assert (out / "tune.png").is_file() and panel["title"] == "train.lr"
    assert sorted(panel["lines"]["trials"]["y"]) == sorted(t["value"] for t in trials)
    assert panel["lines"]["best"] == {"x": [best["params"]["train.lr"]], "y": [best["value"]]}


def test_the_best_recipe_reruns_to_the_reported_test_number(cam_study, spec, tmp_path):
    out, summary = cam_study
    result = CliRunner().invoke(cli, ["baseline", "run", "cam", "--recipe", str(out / "best-recipe.toml"),
                                      "--dataset", spec, "--device", "cpu", "--out", str(tmp_path / "rerun"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["metrics"] == summary["test"]["metrics"]


def test_status_and_rerun_change_nothing_and_more_trials_extend_the_study(cam_study, spec):
    out, summary = cam_study
    status = _tune("cam", "--dataset", spec, "--out", str(out), "--status", "--json")
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["trials"] == summary["trials"]
    table = _tune("cam", "--dataset", spec, "--out", str(out), "--status")
    assert "| trial | state | train.lr |" in table.stdout
    logs = {t["folder"]: (out / t["folder"] / "train_log.jsonl").read_text() for t in summary["trials"]}
    again = _tune("cam", "--dataset", spec, "--trials", "2", *FAST, "--out", str(out), "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["trials"] == summary["trials"]
    assert {f: (out / f / "train_log.jsonl").read_text() for f in logs} == logs   # nothing retrained
    more = _tune("cam", "--dataset", spec, "--trials", "3", *FAST, "--out", str(out), "--json")
    assert more.exit_code == 0, more.output
    extended = json.loads(more.stdout)
    assert extended["counts"]["complete"] == 3 and extended["trials"][:2] == summary["trials"]


def test_table_compares_finished_studies(cam_study, tmp_path):
    out, _ = cam_study
    summary = json.loads((out / "tune.json").read_text())   # as it is now (another test may extend the study)
    result = _tune("--table", str(out))
    assert result.exit_code == 0, result.output
    row = result.stdout.splitlines()[2]
    assert row.startswith(f"| cam | {summary['counts']['complete']}/") and "MaxBoxAccV2" in row
    assert f"{summary['test']['metrics']['pxap']:.2f}" in row
    rows = json.loads(_tune("--table", str(out), "--json").stdout)
    assert rows[0]["chosen"] == summary["best"]["params"]
    assert json.loads(_tune("--table", str(out.parent), "--json").stdout)[0]["study"] == summary["study"]["name"]
    assert "no tune.json here nor in its sub-folders" in _error(_tune("--table", str(tmp_path)))


def test_fsl_is_tuned_on_a_held_out_part_of_train_fullsup_and_retrained_on_all_of_it(spec, tmp_path):
    out = tmp_path / "fsl"
    result = _tune("fsl", "--dataset", spec, "--trials", "1", *FAST, "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["splits"] == {"train": "val[fit]", "select": "val[holdout]", "refit": "val", "test": "test"}
    trial = summary["trials"][0]
    assert set(trial["params"]) == {"train.lr", "train.weight_decay"}
    recipe = load_recipe(str(out / trial["folder"] / "recipe.toml"))
    assert (recipe.method, recipe.train_split, recipe.eval_split) == ("fsl", "val[fit]", "val[holdout]")
    scored = json.loads((out / trial["folder"] / "result.json").read_text())
    assert scored["dataset"]["split"] == "val[holdout]" and scored["counts"]["n_images"] == 3
    assert summary["test"]["from"] == "refit/trial-000/result.json" and summary["test"]["refit_split"] == "val"
    refit = load_recipe(str(out / "refit" / "trial-000" / "recipe.toml"))
    assert (refit.train_split, refit.eval_split, refit.lr) == ("val", "test", trial["params"]["train.lr"])
    assert json.loads((out / "result.test.json").read_text())["counts"]["n_images"] == 12


# --------------------------------------------------------------------------- bad input

def _error(result):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return result.output


def test_a_method_without_a_search_space_is_refused(spec, tmp_path):
    assert "no search space 'input-dropout'" in _error(_tune("input-dropout", "--dataset", spec, *FAST,
                                                             "--out", str(tmp_path / "x")))


def test_an_unknown_method_option_in_a_space_is_refused_before_training(spec, tmp_path):
    space = tmp_path / "space.toml"
    space.write_text('[space]\nmethod = "cutmix"\n[params."method.alpha"]\ndistribution = "uniform"\n'
                     'low = 0\nhigh = 1\n')
    out = _error(_tune("cutmix", "--dataset", spec, "--space", str(space), *FAST, "--out", str(tmp_path / "x")))
    assert "method.alpha" in out and "has no option(s) alpha" in out
    assert not (tmp_path / "x" / "trials").exists()


def test_a_space_for_another_method_is_refused(spec, tmp_path):
    assert "is for method 'cam', not 'has'" in _error(_tune("has", "--dataset", spec, "--space", "cam", *FAST,
                                                            "--out", str(tmp_path / "x")))


def test_a_dataset_without_train_fullsup_says_which_splits_exist_and_how_to_make_one(spec, tmp_path):
    root = Path(spec.split(":", 1)[1].split("?")[0])
    for split in ("train", "test"):   # a wsolevaluation-style metadata folder without its val split
        shutil.copytree(root / "metadata" / split, tmp_path / "meta" / split)
    out = _error(_tune("cam", "--dataset", f"wsoleval:{tmp_path / 'meta'}", "--image-root", str(root / "images"),
                       "--recipe", "cam-smallcnn-synthetic", *FAST, "--out", str(tmp_path / "x")))
    assert "no train-fullsup split 'val'" in out and "splits found: train, test" in out
    assert "metadata/<DATASET>/val" in out and not (tmp_path / "x").exists()


def test_a_selection_split_that_is_the_test_set_is_refused(spec, tmp_path):
    root = Path(spec.split(":", 1)[1].split("?")[0])
    for split in ("train", "test"):
        shutil.copytree(root / "metadata" / split, tmp_path / "meta" / split)
    shutil.copytree(root / "metadata" / "test", tmp_path / "meta" / "val")   # "val" holding the test images
    out = _error(_tune("cam", "--dataset", f"wsoleval:{tmp_path / 'meta'}", "--image-root", str(root / "images"),
                       "--recipe", "cam-smallcnn-synthetic", *FAST, "--out", str(tmp_path / "x")))
    assert "12 of its 12 images are in the test split 'test'" in out


def test_an_unreachable_storage_is_one_line(spec, tmp_path):
    out = _error(_tune("cam", "--dataset", spec, *FAST, "--storage", "postgresql://u:pw@127.0.0.1:1/db",
                       "--out", str(tmp_path / "x")))
    assert "cannot open the study storage postgresql://u:***@127.0.0.1:1/db" in out
    assert len(out.strip().splitlines()) == 1 and "pw" not in out.replace("postgresql", "")


def test_a_study_created_for_another_space_is_refused(spec, tmp_path):
    out_dir = tmp_path / "x"
    out_dir.mkdir()
    url = f"sqlite:///{out_dir.resolve() / 'study.db'}"
    tune_study.create_or_join(tune_study.open_storage(url), "cam-smallcnn-synthetic", identity={"space": "other"},
                              budget=2, url=url)
    out = _error(_tune("cam", "--dataset", spec, "--trials", "2", *FAST, "--out", str(out_dir)))
    assert "was created for another search" in out and "--study-name NEW" in out


def test_a_set_up_error_stops_the_worker_and_gives_the_slots_back(spec, tmp_path):
    root = spec.split(":", 1)[1].split("?")[0]
    args = ("cam", "--dataset", f"wsoleval:{root}/metadata", "--image-root", str(tmp_path / "no-images"),
            "--recipe", "cam-smallcnn-synthetic", "--trials", "3", *FAST, "--out", str(tmp_path / "x"))
    out = _error(_tune(*args))
    assert "two trials in a row failed with the same error" in out and "not found" in out
    status = json.loads(_tune(*args, "--status", "--json").stdout)
    assert status["counts"]["finished"] == 0 and status["counts"]["requeued"] == 2
    assert status["counts"]["waiting"] == 3   # the two retries and the untouched slot: a fixed rerun runs them
