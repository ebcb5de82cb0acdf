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


def test_missing_image_root_is_reported_before_the_model_is_built(spec, tmp_path, monkeypatch):
    import wsolbench.nn.runner as runner

    def never(*args, **kwargs):
        raise AssertionError("training started before the image folder was checked")

    monkeypatch.setattr(runner, "train", never)
    root = spec.split(":", 1)[1].split("?")[0]
    args = ["baseline", "run", "cam", "--dataset", f"wsoleval:{root}/metadata", "--recipe", "cam-smallcnn-synthetic",
            "--device", "cpu", "--out", str(tmp_path / "w")]
    missing = CliRunner().invoke(cli, args)
    assert missing.exit_code == 2 and "pass --image-root DIR" in missing.output
    wrong = CliRunner().invoke(cli, args + ["--image-root", str(tmp_path)])
    assert wrong.exit_code == 2 and "not found" in wrong.output and "--image-root must be the folder" in wrong.output
    absent = CliRunner().invoke(cli, args + ["--image-root", str(tmp_path / "nope")])
    assert absent.exit_code == 2 and "does not exist" in absent.output
    # through the API (no click check before it): the runner's own message
    from wsolbench.errors import DatasetError
    from wsolbench.nn.recipe import get_recipe

    with pytest.raises(DatasetError, match=r"nope: image folder not found \(split train\); check --image-root"):
        runner.run_trained(get_recipe("cam-smallcnn-synthetic"), spec=f"wsoleval:{root}/metadata", device="cpu",
                           out_dir=tmp_path / "api", image_root=str(tmp_path / "nope"))


@pytest.mark.parametrize("dataset", ["wsoleval:/nowhere/birds", "voc:/nowhere/VOC2012"])
def test_unknown_dataset_family_is_an_error_listing_the_families(dataset, tmp_path):
    result = CliRunner().invoke(cli, ["baseline", "run", "cam", "--dataset", dataset, "--out", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert "cub, ilsvrc, openimages, synthetic" in result.output and "--recipe NAME|FILE" in result.output
    assert not (tmp_path / "x").exists()


def test_backbone_aliases_and_large_feature_map_choose_the_recipe(tmp_path):
    from wsolbench.nn.runner import choose_recipe

    recipe = choose_recipe("cam", spec="wsoleval:/data/metadata/CUB", backbone="inceptionv3")
    assert (recipe.name, recipe.backbone, recipe.backbone_options) == ("cam-inceptionv3-cub", "inception_v3",
                                                                       {"large_feature_map": True})
    assert choose_recipe("adl", spec="ilsvrc:/data/ILSVRC", backbone="VGG16").name == "adl-vgg16-ilsvrc"
    bad = CliRunner().invoke(cli, ["baseline", "run", "cam", "--dataset", "synthetic:", "--large-feature-map",
                                   "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "backbone smallcnn has no option large_feature_map" in bad.output


def test_amp_is_opt_in_and_recorded_in_the_recipe_and_the_result(spec, tmp_path):
    plain = _run("baseline", "run", "cam", "--dataset", spec, "--epochs", "1", "--device", "cpu",
                 "--out", str(tmp_path / "fp32"), "--json")
    assert plain.exit_code == 0, plain.output
    assert json.loads(plain.stdout)["maps"]["attrs"]["amp"] == "none"
    assert 'amp = "none"' in (tmp_path / "fp32" / "recipe.toml").read_text()
    bf16 = _run("baseline", "run", "cam", "--dataset", spec, "--epochs", "1", "--device", "cpu", "--amp", "bf16",
                "--out", str(tmp_path / "bf16"), "--json")
    assert bf16.exit_code == 0, bf16.output
    assert json.loads(bf16.stdout)["maps"]["attrs"]["amp"] == "bf16"
    assert 'amp = "bf16"' in (tmp_path / "bf16" / "recipe.toml").read_text()


def test_pretrained_accepts_a_wsolevaluation_checkpoint_and_says_what_it_loaded(spec, tmp_path):
    from wsolbench.nn.backbones import create_backbone

    torch.manual_seed(5)
    trained = create_backbone("smallcnn", num_classes=3, width=16, stem_stride=2)
    path = tmp_path / "last_checkpoint.pth.tar"
    torch.save({"architecture": "smallcnn", "epoch": 40, "state_dict": trained.state_dict(), "optimizer": {}}, path)
    result = CliRunner().invoke(cli, ["baseline", "run", "cam", "--dataset", spec, "--epochs", "1",
                                      "--lr", "1e-9", "--device", "cpu", "--pretrained", str(path),
                                      "--out", str(tmp_path / "run"), "--json"])
    assert result.exit_code == 0, result.output
    assert "pretrained: wsolevaluation checkpoint: " in result.stderr and "tensors loaded" in result.stderr
    state = torch.load(tmp_path / "run" / "checkpoint_last.pt", weights_only=True)["model"]
    torch.testing.assert_close(state["fc.weight"], trained.state_dict()["fc.weight"], atol=1e-6, rtol=0)
