"""The public in-memory evaluator: the same result as `wsolbench evaluate` on the golden vectors, in any
update order and sharding, from numpy or torch, raw CAMs or final maps; ids checked; results usable by
report/compare/--submission."""

import json

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

import wsolbench
from evalfixtures import make_box_case, write_maps
from fixtures_datasets import make_voc
from wsolbench import Evaluator
from wsolbench.cli.main import cli
from wsolbench.datasets import load_annotations
from wsolbench.errors import FormatError, ProtocolError

PROVENANCE = ("created", "maps", "state")   # state: the per-image state file a saved result names


def _cli(*args) -> dict:
    result = CliRunner().invoke(cli, ["evaluate", *map(str, args), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _content(result) -> dict:
    data = result if isinstance(result, dict) else result.to_dict()
    return {k: v for k, v in data.items() if k not in PROVENANCE}


def _batches(n, sizes, rng=None):
    order = np.arange(n) if rng is None else rng.permutation(n)
    out, start = [], 0
    while start < n:
        size = sizes[len(out) % len(sizes)]
        out.append(order[start:start + size])
        start += size
    return out


@pytest.mark.parametrize("step", [0.01, 0.001])
def test_in_memory_equals_cli_on_golden_boxes(golden_vectors, golden_box_case, step):
    z, expected = golden_vectors
    meta, maps = golden_box_case
    spec = f"wsoleval:{meta}"
    cli_data = _cli(maps, "--gt", spec, "--cam-step", step)
    ev = Evaluator(spec, cam_step=step, normalized=True)
    ids = [str(i) for i in z["box_image_ids"]]
    for batch in _batches(len(ids), [7, 16, 1]):
        ev.update([ids[i] for i in batch], z["box_scoremaps"][batch], z["box_pred_class"][batch])
    result = ev.compute()
    assert _content(result) == _content(cli_data)
    ref = expected["box"][f"interval_{step}"]
    assert result.metrics["maxboxacc_v2"] == ref["maxboxaccv2"]["mean_max_box_acc"]
    assert result.metrics["top1_loc"] == ref["maxboxacc"]["top1_loc"]["50"]["at_gt_known_optimal_threshold"]
    assert result.maps == {"source": "memory", "n_maps": len(ids), "normalized": True}


@pytest.mark.parametrize("step", [0.01, 0.001])
def test_in_memory_equals_cli_on_golden_masks(golden_vectors, golden_mask_case, step):
    z, expected = golden_vectors
    meta, root, maps = golden_mask_case
    spec = f"wsoleval:{meta}"
    cli_data = _cli(maps, "--gt", spec, "--mask-root", root, "--cam-step", step)
    ev = Evaluator(spec, cam_step=step, normalized=True, mask_root=str(root))
    ids = [str(i) for i in z["mask_image_ids"]]
    ev.update(ids, list(z["mask_scoremaps"]))          # a list of 2-D maps
    result = ev.compute()
    assert _content(result) == _content(cli_data)
    assert result.metrics["pxap"] == expected["mask"][f"interval_{step}"]["pxap"]


def test_sharded_updates_in_any_order_equal_one_pass(golden_vectors, golden_box_case):
    z, _ = golden_vectors
    meta, _ = golden_box_case
    gt = load_annotations(f"wsoleval:{meta}")
    protocol = wsolbench.get_protocol("wsoleval", cam_step=0.01)
    ids = [str(i) for i in z["box_image_ids"]]
    maps, preds = z["box_scoremaps"], z["box_pred_class"]
    one = Evaluator(gt, protocol, normalized=True)
    one.update(ids, maps, preds)
    expected = _content(one.compute())
    rng = np.random.default_rng(7)
    shards = [Evaluator(gt, protocol, normalized=True) for _ in range(3)]
    for k, batch in enumerate(_batches(len(ids), [5, 11, 2], rng)):
        shards[k % 3].update([ids[i] for i in batch], maps[batch], preds[batch])
    merged = shards[2].merge(shards[0]).merge(shards[1].state)        # an evaluator or a shipped state
    assert _content(merged.compute()) == expected
    shuffled = Evaluator(gt, protocol, normalized=True)
    for i in rng.permutation(len(ids)):
        shuffled.update(ids[i], maps[i], int(preds[i]))                # one id, one 2-D map
    assert _content(shuffled.compute()) == expected


def test_raw_cams_at_feature_resolution_equal_cli(tmp_path):
    meta, ids, maps, preds = make_box_case(tmp_path, n=12)
    path = write_maps(tmp_path / "maps.h5", ids, maps, predicted=preds)
    spec = f"wsoleval:{meta}"
    cli_data = _cli(path, "--gt", spec, "--cam-step", 0.01)
    ev = Evaluator(spec, cam_step=0.01)                                # raw 28x28 CAMs: resized + normalised
    ev.update(ids[:5], maps[:5], preds[:5])
    ev.update(ids[5:], maps[5:], np.asarray(preds[5:]))
    assert _content(ev.compute()) == _content(cli_data)
    assert cli_data["maps"]["n_maps"] == 12


def test_torch_tensors_equal_numpy(tmp_path):
    torch = pytest.importorskip("torch")
    meta, ids, maps, preds = make_box_case(tmp_path, n=9)
    a = Evaluator(f"wsoleval:{meta}", cam_step=0.01)
    a.update(ids, maps, preds)
    b = Evaluator(f"wsoleval:{meta}", cam_step=0.01)
    b.update(ids[:4], torch.from_numpy(maps[:4]).requires_grad_(), torch.tensor(preds[:4]))
    b.update(ids[4:], [torch.from_numpy(m) for m in maps[4:]], torch.tensor(preds[4:]))
    assert _content(b.compute()) == _content(a.compute())
    c = Evaluator(f"wsoleval:{meta}", cam_step=0.01)                 # half precision converts too
    c.update(ids, torch.from_numpy(maps).to(torch.bfloat16), preds)
    assert c.compute().counts["n_images"] == 9


def test_multilabel_maps_with_map_labels_equal_cli(tmp_path):
    fx = make_voc(tmp_path, n_train=1, n_val=6, seed=5)
    gt = load_annotations(f"voc:{fx.root}", split="val")
    rng = np.random.default_rng(1)
    ids, labels = zip(*[(r.image_id, c) for r in gt for c in r.labels])
    maps = rng.random((len(ids), 20, 20)).astype(np.float32)
    path = write_maps(tmp_path / "maps.h5", list(ids), maps)
    with h5py.File(path, "a") as f:
        f.create_dataset("map_labels", data=np.asarray(labels, np.int64))
    cli_data = _cli(path, "--gt", f"voc:{fx.root}", "--split", "val", "--cam-step", 0.01)
    ev = Evaluator(gt, wsolbench.get_protocol(cam_step=0.01), spec=f"voc:{fx.root}")
    order = rng.permutation(len(ids))
    ev.update([ids[i] for i in order], maps[order], map_labels=[labels[i] for i in order])
    result = ev.compute()
    assert _content(result)["metrics"] == _content(cli_data)["metrics"] and result.metrics["mpxap"] is not None
    assert _content(result)["mask"] == _content(cli_data)["mask"]
    with pytest.raises(FormatError, match="multi-label: pass map_labels"):
        Evaluator(gt).update(ids[:1], maps[:1])
    absent = next(c for c in range(gt.num_classes) if c not in gt.records[0].labels)
    with pytest.raises(FormatError, match=f"has no class {absent}"):
        Evaluator(gt).update(gt.records[0].image_id, maps[0], map_labels=absent)


# --- errors ------------------------------------------------------------------------------------


@pytest.fixture
def small(tmp_path):
    meta, ids, maps, preds = make_box_case(tmp_path, n=6)
    return Evaluator(f"wsoleval:{meta}", cam_step=0.01), ids, maps, preds


def test_a_first_batch_of_foreign_ids_says_0_of_n_match(small):
    ev, ids, maps, _ = small
    with pytest.raises(FormatError, match=r"0 of 2 image ids match the ground truth's 6: the maps have e.g. "
                                          r"'val/" + ids[0] + r"', the ground truth '" + ids[0] + r"' \(the maps' ids "
                                          r"carry a leading 'val/'"):
        ev.update(["val/" + i for i in ids[:2]], maps[:2])


def test_unknown_and_duplicate_ids_fail_at_update_and_add_nothing(small):
    ev, ids, maps, _ = small
    with pytest.raises(FormatError, match=r"1 image id\(s\) are not in the ground truth .*'nope.jpg'"):
        ev.update([ids[0], "nope.jpg"], maps[:2])
    assert len(ev.state) == 0
    with pytest.raises(FormatError, match=r"given twice: '" + ids[1]):
        ev.update([ids[1], ids[1]], maps[:2])
    assert len(ev.state) == 0
    ev.update(ids[:2], maps[:2])
    with pytest.raises(ValueError, match="given twice"):             # FormatError is a ValueError
        ev.update(ids[1:3], maps[1:3])
    assert len(ev.state) == 2
    with pytest.raises(FormatError, match="infinite"):
        bad = maps[2:4].copy()
        bad[1, 0, 0] = np.inf
        ev.update(ids[2:4], bad)
    assert len(ev.state) == 2 and ev.missing() == ids[2:]


def test_missing_ids_fail_at_compute_naming_them(small):
    ev, ids, maps, _ = small
    with pytest.raises(FormatError, match="no map was given"):
        ev.compute()
    ev.update(ids[:4], maps[:4])
    with pytest.raises(FormatError, match=rf"2 image\(s\) of the ground truth .* have no map: '{ids[4]}', '{ids[5]}'"):
        ev.compute()
    partial = ev.compute(allow_missing=True)
    assert partial.counts["n_images"] == 4 and partial.dataset["n_images"] == 6
    ev.reset()
    assert len(ev.state) == 0 and len(ev.missing()) == 6


def test_bad_shapes_and_lengths_are_explained(small):
    ev, ids, maps, _ = small
    with pytest.raises(FormatError, match=r"squeeze\(1\)"):
        ev.update(ids[:2], maps[:2, None])
    with pytest.raises(FormatError, match=r"got 2 map\(s\) for 3 image id\(s\)"):
        ev.update(ids[:3], maps[:2])
    with pytest.raises(FormatError, match=r"argmax\(1\)"):
        ev.update(ids[:2], maps[:2], np.zeros((2, 3)))
    with pytest.raises(FormatError, match="expected a batch"):
        ev.update(ids[:2], maps[0])
    with pytest.raises(FormatError, match="must be strings"):
        ev.update([1, 2], maps[:2])
    with pytest.raises(FormatError, match="GT class"):
        ev.update(ids[:1], maps[:1], map_labels=[99])
    assert len(ev.state) == 0


def test_merge_refuses_other_protocols_datasets_and_overlaps(small, tmp_path):
    ev, ids, maps, _ = small
    ev.update(ids[:3], maps[:3])
    other = Evaluator(ev.annotations, wsolbench.get_protocol(cam_step=0.001))
    other.update(ids[3:], maps[3:])
    with pytest.raises(ProtocolError, match="different protocols"):
        ev.merge(other)
    meta2, ids2, maps2, _ = make_box_case(tmp_path / "b", n=5)
    with pytest.raises(FormatError, match="different ground truths"):
        ev.merge(Evaluator(f"wsoleval:{meta2}", cam_step=0.01))
    twin = Evaluator(ev.annotations, ev.protocol)
    twin.update(ids[2:], maps[2:])
    with pytest.raises(FormatError, match=rf"1 map\(s\) were evaluated in both shards: '{ids[2]}'"):
        ev.merge(twin)
    assert len(ev.state) == 3
    ev.merge(twin, drop_duplicates=True)
    assert ev.missing() == [] and len(ev.state) == 6


def test_protocol_arguments_are_checked(small):
    ev, *_ = small
    with pytest.raises(ProtocolError, match="preset name"):
        Evaluator(ev.annotations, ev.protocol, cam_step=0.01)
    with pytest.raises(ProtocolError, match="unknown protocol"):
        Evaluator(ev.annotations, "cvpr")
    with pytest.raises(wsolbench.DatasetError, match="spec"):
        Evaluator(42)
    fixed = Evaluator(ev.annotations, "cam2016", threshold=0.3)
    assert fixed.protocol.fixed_threshold == 0.3


# --- the result goes where evaluate's goes --------------------------------------------------------


def test_result_feeds_compare_report_and_submission(tmp_path):
    meta, ids, maps, preds = make_box_case(tmp_path, n=8)
    ev = Evaluator(f"wsoleval:{meta}", cam_step=0.01)
    ev.update(ids, maps, preds)
    result = ev.compute()
    a = result.save(tmp_path / "a.json")
    assert wsolbench.EvaluationResult.load(a).to_dict() == result.to_dict()
    ev.reset()
    ev.update(ids, maps[::-1].copy(), preds)
    b = ev.compute().save(tmp_path / "b.json")
    out = CliRunner().invoke(cli, ["compare", a, b, "--json"])
    assert out.exit_code == 0, out.output
    assert str(result.metrics["maxboxacc_v2"])[:6] in out.output
    report = CliRunner().invoke(cli, ["report", a, "--out", str(tmp_path / "report")])
    assert report.exit_code == 0, report.output
    assert (tmp_path / "report" / "index.html").is_file()
    from wsolbench.errors import SubmissionError
    from wsolbench.leaderboard.submission import row_from_result

    # a verified row must be re-verifiable from a maps file: an in-memory result says what it lacks
    with pytest.raises(SubmissionError, match="maps_content_sha256 is empty"):
        row_from_result(result.to_dict(), method="centre", backbone="none", dataset="cub")
