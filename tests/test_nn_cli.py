"""``wsolbench baseline list`` and ``wsolbench baseline run`` through the CLI."""

import json

import pytest
from click.testing import CliRunner

torch = pytest.importorskip("torch")

from wsolbench.cli.main import cli  # noqa: E402
from wsolbench.datasets import load_annotations  # noqa: E402
from wsolbench.scoremaps import ScoreMapFile  # noqa: E402

TINY = "classes=3&train=8&val=2&test=4&seed=3"


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    spec = f"synthetic:{tmp_path_factory.mktemp('syn') / 'data'}?{TINY}"
    load_annotations(spec, split="test")
    return spec


def _run(*args):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result


def test_list_shows_recipes_backbones_and_sanity_kinds():
    result = _run("baseline", "list", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert {"cam-resnet50-cub", "cam-smallcnn-synthetic"} <= {r["name"] for r in data["recipes"]}
    backbones = {b["name"]: b for b in data["backbones"]}
    assert {"vgg16", "resnet50", "inception_v3", "alexnet", "googlenet", "preresnet18", "se_resnet50",
            "smallcnn"} <= set(backbones)
    assert backbones["vgg16"]["torchvision"] == "vgg16"
    assert data["sanity"] == ["center-gaussian", "random", "full-image"]
    table = _run("baseline", "list")
    assert table.exit_code == 0 and "cam-vgg16-cub" in table.output and "inception_v3" in table.output


def test_run_cam_trains_extracts_evaluates_and_resumes(spec, tmp_path):
    out = tmp_path / "run"
    result = _run("baseline", "run", "cam", "--dataset", spec, "--epochs", "2", "--batch-size", "8",
                  "--device", "cpu", "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["dataset"]["split"] == "test" and data["counts"]["n_images"] == 12
    assert data["counts"]["n_with_predicted_labels"] == 12 and data["metrics"]["top1_cls"] is not None
    assert data["maps"]["attrs"]["method"] == "cam" and data["maps"]["attrs"]["backbone"] == "smallcnn"
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint_last.pt", "maps.h5", "recipe.toml", "result.json",
                                                     "result.state.npz", "train_log.jsonl"]
    assert json.loads((out / "result.json").read_text())["metrics"] == data["metrics"]
    with ScoreMapFile(out / "maps.h5") as f:
        assert f.shape_of(0) == (16, 16) and not f.normalized and f.has_predicted_labels
    again = CliRunner().invoke(cli, ["baseline", "run", "cam", "--dataset", spec, "--epochs", "2", "--batch-size",
                                     "8", "--device", "cpu", "--out", str(out)])
    assert again.exit_code == 2 and "--resume" in again.output
    resumed = _run("baseline", "run", "cam", "--dataset", spec, "--epochs", "2", "--batch-size", "8",
                   "--device", "cpu", "--out", str(out), "--resume", "--json")
    assert resumed.exit_code == 0 and json.loads(resumed.stdout)["metrics"] == data["metrics"]


def test_run_with_gmp_head(spec, tmp_path):
    result = _run("baseline", "run", "cam", "--dataset", spec, "--epochs", "1", "--pool", "gmp", "--device", "cpu",
                  "--out", str(tmp_path / "gmp"), "--json")
    assert result.exit_code == 0, result.output
    assert 'pool = "gmp"' in (tmp_path / "gmp" / "recipe.toml").read_text()


def test_run_reads_wsoleval_metadata_with_an_image_root(spec, tmp_path):
    root = spec.split(":", 1)[1].split("?")[0]
    result = _run("baseline", "run", "cam", "--dataset", f"wsoleval:{root}/metadata", "--image-root",
                  f"{root}/images", "--recipe", "cam-smallcnn-synthetic", "--epochs", "1", "--device", "cpu",
                  "--out", str(tmp_path / "w"), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["counts"]["n_images"] == 12


def test_run_without_image_root_explains_the_fix(spec, tmp_path):
    root = spec.split(":", 1)[1].split("?")[0]
    result = CliRunner().invoke(cli, ["baseline", "run", "cam", "--dataset", f"wsoleval:{root}/metadata",
                                      "--recipe", "cam-smallcnn-synthetic", "--device", "cpu",
                                      "--out", str(tmp_path / "w")])
    assert result.exit_code == 2 and "--image-root" in result.output


@pytest.mark.parametrize("kind", ["center-gaussian", "random", "full-image"])
def test_run_sanity_kinds(spec, tmp_path, kind):
    out = tmp_path / "maps.h5"
    result = _run("baseline", "run", kind, "--dataset", spec, "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["maps"]["attrs"]["method"] == f"sanity/{kind}" and data["metrics"]["top1_cls"] is None
    assert (tmp_path / "maps.result.json").exists()
    if kind == "full-image":  # the whole-image box at every threshold: flat accuracy curves
        assert len(set(data["box"]["largest"]["curves"]["50"])) == 1
    folder = _run("baseline", "run", kind, "--dataset", spec, "--out", str(tmp_path / "dir"))
    assert folder.exit_code == 0 and (tmp_path / "dir" / f"sanity-{kind}.h5").exists()


def test_run_unknown_method_and_cuda_without_gpu(spec, tmp_path):
    result = CliRunner().invoke(cli, ["baseline", "run", "nope", "--dataset", spec, "--out", str(tmp_path)])
    assert result.exit_code == 2 and "unknown WSOL method 'nope'" in result.output
    if not torch.cuda.is_available():
        result = CliRunner().invoke(cli, ["baseline", "run", "cam", "--dataset", spec, "--device", "cuda",
                                          "--out", str(tmp_path)])
        assert result.exit_code == 2 and "no CUDA device" in result.output
