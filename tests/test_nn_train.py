"""Training: exact resume, checkpoint format, schedule, data order/augmentation determinism, extraction."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from wsolbench.datasets import load_annotations  # noqa: E402
from wsolbench.datasets.records import AnnotationSet, ImageRecord  # noqa: E402
from wsolbench.errors import DatasetError, WsolbenchError  # noqa: E402
from wsolbench.nn import checkpoint as ckpt  # noqa: E402
from wsolbench.nn.data import EpochSampler, WSOLDataset  # noqa: E402
from wsolbench.nn.extract import extract_maps  # noqa: E402
from wsolbench.nn.recipe import get_recipe  # noqa: E402
from wsolbench.nn.train import StepDecay, make_optimizer, make_scheduler, train  # noqa: E402
from wsolbench.scoremaps import ScoreMapFile  # noqa: E402

TINY = "classes=3&train=8&val=2&test=4&seed=1"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("syn") / "data"
    spec = f"synthetic:{root}?{TINY}"
    return spec, load_annotations(spec, split="train"), load_annotations(spec, split="test")


def _recipe(**kw):
    base = dict(epochs=2, batch_size=8, workers=0, lr=0.05, lr_decay_every=1, eval_batch_size=8)
    base.update(kw)
    return get_recipe("cam-smallcnn-synthetic").replace(**base)


def _states_equal(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_resume_reproduces_an_uninterrupted_run(tiny, tmp_path):
    _, train_set, _ = tiny
    straight = train(_recipe(), train_set, out_dir=tmp_path / "a")
    first = train(_recipe(epochs=1), train_set, out_dir=tmp_path / "b")
    assert [h.epoch for h in first.history] == [1]
    after_one = {k: v.clone() for k, v in first.model.state_dict().items()}
    assert not torch.equal(after_one["fc.weight"], straight.model.state_dict()["fc.weight"])  # epoch 2 trains
    # resumed with a DataLoader worker: augmentation does not depend on who loads the data
    resumed = train(_recipe(workers=1), train_set, out_dir=tmp_path / "b", resume=True)
    assert resumed.start_epoch == 1 and [h.epoch for h in resumed.history] == [2]
    _states_equal(straight.model.state_dict(), resumed.model.state_dict())
    a, b = ckpt.load_checkpoint(tmp_path / "a" / ckpt.LAST_CHECKPOINT), ckpt.load_checkpoint(
        tmp_path / "b" / ckpt.LAST_CHECKPOINT)
    _states_equal(a["model"], b["model"])
    assert a["optimizer"]["state"].keys() == b["optimizer"]["state"].keys()
    for k, s in a["optimizer"]["state"].items():
        assert torch.equal(s["momentum_buffer"], b["optimizer"]["state"][k]["momentum_buffer"])
    assert straight.history[-1].loss == pytest.approx(resumed.history[-1].loss, abs=0)
    log = [json.loads(line) for line in (tmp_path / "b" / "train_log.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in log] == [1, 2]


def test_checkpoint_has_fixed_keys_and_loads_weights_only(tiny, tmp_path):
    _, train_set, _ = tiny
    train(_recipe(epochs=1), train_set, out_dir=tmp_path)
    path = tmp_path / ckpt.LAST_CHECKPOINT
    state = torch.load(path, weights_only=True)
    assert tuple(sorted(state)) == tuple(sorted(ckpt.CHECKPOINT_KEYS))
    assert state["epoch"] == 1 and state["recipe"]["backbone"] == "smallcnn"
    assert state["wsolbench_version"] and set(state["rng"]) >= {"torch", "python"}
    assert sorted(p.name for p in tmp_path.iterdir()) == [ckpt.LAST_CHECKPOINT, "train_log.jsonl"]  # no temp files


def test_existing_run_needs_resume_and_the_same_recipe(tiny, tmp_path):
    _, train_set, _ = tiny
    train(_recipe(epochs=1), train_set, out_dir=tmp_path)
    with pytest.raises(WsolbenchError, match="--resume"):
        train(_recipe(epochs=1), train_set, out_dir=tmp_path)
    with pytest.raises(ckpt.CheckpointError, match="lr"):
        train(_recipe(epochs=2, lr=0.5), train_set, out_dir=tmp_path, resume=True)
    (tmp_path / ckpt.LAST_CHECKPOINT).write_bytes(b"\x00garbage")
    with pytest.raises(ckpt.CheckpointError, match="cannot load checkpoint"):
        train(_recipe(epochs=2), train_set, out_dir=tmp_path, resume=True)


def test_atomic_save_leaves_no_file_on_failure(tmp_path):
    class Boom:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        ckpt.atomic_torch_save({"x": Boom()}, tmp_path / "c.pt")
    assert list(tmp_path.iterdir()) == []


def test_step_decay_matches_wsolevaluation_schedule():
    # wsolevaluation multiplies the lr by 0.1 before epochs 15, 30, 45 (1-based) with frequency 15
    factors = [StepDecay(15, 0.1)(e) for e in range(50)]
    first_decays = [e + 1 for e in range(1, 50) if factors[e] < factors[e - 1]]
    assert first_decays == [15, 30, 45]
    model = torch.nn.Linear(2, 2)
    recipe = get_recipe("cam-resnet50-cub")
    model.param_groups = lambda **kw: [{"params": list(model.parameters()), "lr": kw["lr"], "name": "trunk"}]
    opt = make_optimizer(model, recipe)
    sched = make_scheduler(opt, recipe)
    lrs = []
    for _ in range(16):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[13] == pytest.approx(recipe.lr) and lrs[14] == pytest.approx(recipe.lr * 0.1)
    assert opt.defaults["nesterov"] and opt.defaults["momentum"] == 0.9


def test_dataset_transforms_are_deterministic(tiny):
    _, train_set, test_set = tiny
    ds = WSOLDataset(train_set, train=True, size=56, resize=64, seed=3)
    x1, label, image_id = ds[2]
    assert x1.shape == (3, 56, 56) and label == train_set.records[2].label and image_id == train_set.records[2].image_id
    assert torch.equal(ds[2][0], x1)
    ds.set_epoch(1)
    assert not torch.equal(ds[2][0], x1)
    ev = WSOLDataset(test_set, train=False, size=48)
    x, _, _ = ev[0]
    assert x.shape == (3, 48, 48) and abs(float(x.mean())) < 3
    order = list(EpochSampler(10, shuffle=True, seed=0))
    assert sorted(order) == list(range(10)) and order == list(EpochSampler(10, shuffle=True, seed=0))


def test_dataset_errors_name_the_problem(tiny, tmp_path):
    _, train_set, _ = tiny
    rootless = AnnotationSet(records=list(train_set.records), name="x", root=None, source="meta/x")
    with pytest.raises(DatasetError, match="--image-root"):
        WSOLDataset(rootless, train=False)
    missing = AnnotationSet(records=[ImageRecord("nope/a.png", (0,))], name="x", root=str(tmp_path))
    with pytest.raises(DatasetError, match="image 'nope/a.png' not found"):
        WSOLDataset(missing, train=False)[0]


def test_extraction_writes_raw_maps_with_predictions(tiny, tmp_path):
    _, train_set, test_set = tiny
    result = train(_recipe(epochs=1), train_set, out_dir=tmp_path)
    path = extract_maps(result.model, result.method, test_set, tmp_path / "maps.h5", image_size=64, batch_size=5,
                        attrs={"method": "cam"})
    with ScoreMapFile(path) as f:
        assert f.image_ids == test_set.image_ids and not f.normalized and f.attrs["method"] == "cam"
        batch = next(iter(f.iter_batches(100)))
        maps = np.asarray(batch.maps)
        assert maps.shape == (len(test_set), 16, 16) and maps.dtype == np.float32
        image, label, _ = WSOLDataset(test_set, train=False, size=64)[0]
        with torch.no_grad():
            cam, logits = result.model.cams_and_logits(image[None], torch.tensor([label]))
        np.testing.assert_allclose(maps[0], cam[0].numpy(), rtol=1e-5, atol=1e-5)
        assert batch.predicted_labels[0] == int(logits.argmax())


def test_multilabel_extraction_writes_one_map_per_class(tiny, tmp_path):
    _, train_set, test_set = tiny
    result = train(_recipe(epochs=1), train_set, out_dir=tmp_path)
    recs = [ImageRecord(r.image_id, (r.label, (r.label + 1) % 3) if i % 2 == 0 else (r.label,), r.image_size, r.boxes)
            for i, r in enumerate(test_set.records[:5])]
    multi = AnnotationSet(records=recs, name="multi", num_classes=3, root=test_set.root)
    path = extract_maps(result.model, result.method, multi, tmp_path / "multi.h5", image_size=64, batch_size=4)
    with ScoreMapFile(path) as f:
        pairs = sorted(zip(f.image_ids, f.map_labels.tolist()))
    assert pairs == sorted((r.image_id, c) for r in recs for c in r.labels)


def test_a_diverging_run_stops_with_a_clear_error_and_no_nan_checkpoint(tiny, tmp_path):
    _, train_set, _ = tiny
    with pytest.raises(WsolbenchError, match="training diverged in epoch 1 .*NaN or infinite.*lower the learning rate"):
        train(_recipe(lr=1e12, epochs=2, batch_size=4), train_set, out_dir=tmp_path / "nan")
    assert not (tmp_path / "nan" / ckpt.LAST_CHECKPOINT).exists()
