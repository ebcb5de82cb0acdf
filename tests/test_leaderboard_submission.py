"""Verified rows from evaluation results (`evaluate --submission`), written atomically, and verified back."""

import os
import shutil

import pytest
from click.testing import CliRunner

from wsolbench.cli.main import cli
from wsolbench.errors import SubmissionError
from wsolbench.leaderboard import schema
from wsolbench.leaderboard.submission import row_from_result, write_submission
from wsolbench.leaderboard.validate import validate_file
from wsolbench.protocol import get_protocol


def run(args):
    return CliRunner().invoke(cli, args)


def result_dict(protocol=None, *, dataset="CUB", split="test", **metrics):
    """A result dict shaped as docs/result-json.md says (only the parts a row reads)."""
    protocol = protocol or get_protocol("wsoleval")
    values = dict.fromkeys(schema.METRIC_COLUMNS)
    values.update(maxboxacc=70.0, gt_known_loc=70.0, top1_loc=61.25, top1_cls=87.5, maxboxacc_iou30=91.25,
                  maxboxacc_iou50=72.5, maxboxacc_iou70=38.75)
    values["maxboxacc_v2"] = (91.25 + 72.5 + 38.75) / 3
    values.update(metrics)
    return {"result_version": 1, "wsolbench_version": "0.1.0", "created": "2026-11-20T10:00:00Z",
            "maps": {"path": "/x/maps.h5", "sha256": "ab" * 32, "n_maps": 80, "attrs": {}},
            "dataset": {"spec": "wsoleval:CUB/test", "name": dataset, "split": split, "n_images": 80,
                        "num_classes": 3},
            "protocol": protocol.to_dict(), "protocol_name": protocol.name, "protocol_hash": protocol.hash(),
            "metrics": values}


def test_row_from_result_fills_every_column():
    row = row_from_result(result_dict(), method="CAM", backbone="resnet50", reference="Zhou et al. CVPR 2016",
                          notes="seed 0")
    assert list(row) == list(schema.COLUMNS)
    assert row["dataset"] == "cub" and row["split"] == "test"
    assert row["protocol"] == "wsoleval" and row["protocol_hash"] == get_protocol("wsoleval").hash()
    assert row["protocol_options"] == ""
    assert row["maxboxacc_v2"] == "67.5000" and row["top1_loc"] == "61.2500" and row["pxap"] == ""
    assert row["maps_sha256"] == "ab" * 32 and row["wsolbench_version"] == "0.1.0"
    assert row["source"] == "verified" and row["date"] == "2026-11-20" and row["schema_version"] == "1"
    assert row["reference"] == "Zhou et al. CVPR 2016" and row["notes"] == "seed 0"


def test_non_default_protocols_are_recorded_as_options():
    fine = get_protocol("wsoleval", cam_step=0.001, resolution=(64, 64))
    row = row_from_result(result_dict(fine), method="CAM", backbone="resnet50")
    assert row["protocol_options"] == "cam_step=0.001;resolution=64x64"
    assert schema.expected_hash("wsoleval", schema.parse_options(row["protocol_options"])) == fine.hash()
    cam = get_protocol("cam2016", threshold=0.3)
    metrics = dict.fromkeys(("maxboxacc", "maxboxacc_v2", "maxboxacc_iou30", "maxboxacc_iou50", "maxboxacc_iou70"))
    row = row_from_result(result_dict(cam, **metrics), method="CAM", backbone="resnet50")
    assert row["protocol_options"] == "threshold=0.3" and row["protocol_hash"] == cam.hash()


def test_results_that_cannot_make_a_row_are_refused_with_the_reason():
    with pytest.raises(SubmissionError, match="unknown dataset 'my_birds'"):
        row_from_result(result_dict(dataset="my_birds"), method="CAM", backbone="resnet50")
    with pytest.raises(SubmissionError, match="backbone 'ResNet-50' must be lower case"):
        row_from_result(result_dict(), method="CAM", backbone="ResNet-50")
    odd = result_dict(get_protocol("wsoleval").with_(interpolation="nearest"))
    with pytest.raises(SubmissionError, match="differs in: interpolation"):
        row_from_result(odd, method="CAM", backbone="resnet50")


def test_write_submission_round_trips_and_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "cam.csv"
    row = row_from_result(result_dict(), method="CAM", backbone="resnet50")
    write_submission(path, [row])
    rows, problems = validate_file(path)
    assert problems == [] and rows[0].values == row
    assert oct(os.stat(path).st_mode & 0o777) == "0o644"
    before = path.read_bytes()

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    other = dict(row, method="HaS")
    with pytest.raises(OSError):
        write_submission(path, [other])
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cam.csv"]


def test_write_submission_refuses_bad_rows_and_duplicates(tmp_path):
    row = row_from_result(result_dict(), method="CAM", backbone="resnet50")
    with pytest.raises(SubmissionError, match="duplicated row"):
        write_submission(tmp_path / "x.csv", [row, dict(row)])
    with pytest.raises(SubmissionError, match="101.5 is outside 0-100"):
        write_submission(tmp_path / "x.csv", [dict(row, top1_cls="101.5")])
    assert not (tmp_path / "x.csv").exists()


# ----------------------------------------------------------------------------------------------
# the real thing: evaluate -> --submission -> validate -> add -> verify


@pytest.fixture
def evaluated(tmp_path):
    """A CUB-named wsolevaluation metadata folder, its maps, and the verified row `evaluate` wrote."""
    from evalfixtures import make_box_case, write_maps

    meta, ids, maps, preds = make_box_case(tmp_path)
    gt = tmp_path / "CUB" / "test"
    gt.parent.mkdir()
    shutil.move(str(meta), str(gt))
    maps_path = write_maps(tmp_path / "maps.h5", ids, maps, predicted=preds)
    row_path = tmp_path / "cam-resnet50-cub.csv"
    result = run(["evaluate", str(maps_path), "--gt", f"wsoleval:{gt}", "--submission", str(row_path),
                  "--method", "CAM", "--backbone", "resnet50"])
    assert result.exit_code == 0, result.output
    return tmp_path, gt, maps_path, row_path, ids, maps, preds


def test_evaluate_writes_a_row_that_validates_adds_and_verifies(evaluated):
    tmp, gt, maps_path, row_path, *_ = evaluated
    rows, problems = validate_file(row_path)
    assert problems == [] and len(rows) == 1
    row = rows[0]
    assert (row["dataset"], row["split"], row["source"]) == ("cub", "test", "verified")
    assert row["maxboxacc_v2"] and row["top1_loc"]
    board = tmp / "board"
    result = run(["leaderboard", "add", str(row_path), "--board", str(board)])
    assert result.exit_code == 0, result.output
    assert (board / "submissions" / row_path.name).read_bytes() == row_path.read_bytes()
    assert "CAM" in (board / "README.md").read_text()
    result = run(["leaderboard", "verify", str(board / "submissions" / row_path.name), "--maps", str(maps_path),
                  "--gt", f"wsoleval:{gt}"])
    assert result.exit_code == 0, result.output
    assert "verified" in result.stderr and "differs" not in result.stdout


def test_verify_fails_on_a_changed_number_or_other_maps(evaluated):
    tmp, gt, maps_path, row_path, ids, maps, preds = evaluated
    from evalfixtures import write_maps

    rows, _ = validate_file(row_path)
    value = rows[0]["top1_cls"]
    changed = f"{float(value) + 0.01:.4f}"      # still a valid row: only recomputation can tell
    tampered = tmp / "tampered.csv"
    write_submission(tampered, [dict(rows[0].values, top1_cls=changed)])
    result = run(["leaderboard", "verify", str(tampered), "--maps", str(maps_path), "--gt", f"wsoleval:{gt}"])
    assert result.exit_code == 1, result.output
    assert f"top1_cls: the row says {changed}, recomputed {value}" in result.stdout
    assert "NOT verified" in result.stderr

    other = write_maps(tmp / "other.h5", ids, maps[:, ::-1, :].copy(), predicted=preds)
    result = run(["leaderboard", "verify", str(row_path), "--maps", str(other), "--gt", f"wsoleval:{gt}"])
    assert result.exit_code == 1
    assert "maps_sha256: the row says" in result.stdout
