"""Verified rows from evaluation results (`evaluate --submission`), written atomically, and verified back;
rows measured on anything but the official ground truth are refused, naming the count and the fingerprint."""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import wsolbench
from wsolbench.cli.main import cli
from wsolbench.datasets import load_annotations
from wsolbench.datasets.cards import official_split
from wsolbench.errors import SubmissionError
from wsolbench.leaderboard import schema
from wsolbench.leaderboard.submission import row_from_result, write_submission
from wsolbench.leaderboard.validate import validate_file
from wsolbench.protocol import get_protocol
from wsolbench.scoremaps import sha256_file, write_scoremaps

EXAMPLE = Path(wsolbench.__file__).parent / "data" / "example"
SYNTHETIC_TEST = official_split("synthetic", "test")[1]
CUB_TEST = official_split("cub", "test")[1]


def run(args):
    return CliRunner().invoke(cli, args)


def result_dict(protocol=None, *, dataset="synthetic", split="test", n_images=None, fingerprint=None, **metrics):
    """A result dict shaped as docs/result-json.md says (only the parts a row reads); by default measured on
    the official synthetic test split."""
    protocol = protocol or get_protocol("wsoleval")
    values = dict.fromkeys(schema.METRIC_COLUMNS)
    values.update(maxboxacc=70.0, gt_known_loc=70.0, top1_loc=61.25, top1_cls=87.5, maxboxacc_iou30=91.25,
                  maxboxacc_iou50=72.5, maxboxacc_iou70=38.75)
    values["maxboxacc_v2"] = (91.25 + 72.5 + 38.75) / 3
    values.update(metrics)
    return {"result_version": 1, "wsolbench_version": "0.1.0", "created": "2026-11-20T10:00:00Z",
            "maps": {"path": "/x/maps.h5", "sha256": "ab" * 32, "content_sha256": "cd" * 32, "n_maps": 500,
                     "attrs": {}},
            "dataset": {"spec": "synthetic:", "name": dataset, "split": split,
                        "n_images": SYNTHETIC_TEST.images if n_images is None else n_images,
                        "fingerprint": SYNTHETIC_TEST.fingerprint if fingerprint is None else fingerprint,
                        "num_classes": 10},
            "protocol": protocol.to_dict(), "protocol_name": protocol.name, "protocol_hash": protocol.hash(),
            "metrics": values}


def test_row_from_result_fills_every_column():
    row = row_from_result(result_dict(), method="CAM", backbone="resnet50", reference="Zhou et al. CVPR 2016",
                          notes="seed 0")
    assert list(row) == list(schema.COLUMNS)
    assert row["dataset"] == "synthetic" and row["split"] == "test" and row["category"] == "method"
    assert row["protocol"] == "wsoleval" and row["protocol_hash"] == get_protocol("wsoleval").hash()
    assert row["protocol_options"] == ""
    assert row["maxboxacc_v2"] == "67.5000" and row["top1_loc"] == "61.2500" and row["pxap"] == ""
    assert row["maps_content_sha256"] == "cd" * 32 and row["wsolbench_version"] == "0.1.0"
    assert row["n_images"] == "500" and row["gt_fingerprint"] == SYNTHETIC_TEST.fingerprint
    assert row["source"] == "verified" and row["date"] == "2026-11-20" and row["schema_version"] == "2"
    assert row["reference"] == "Zhou et al. CVPR 2016" and row["notes"] == "seed 0"
    assert row_from_result(result_dict(), method="random", backbone="none")["category"] == "sanity"


def test_non_default_protocols_are_recorded_as_options():
    coarse = get_protocol("wsoleval", cam_step=0.01, resolution=(64, 64))
    row = row_from_result(result_dict(coarse), method="CAM", backbone="resnet50")
    assert row["protocol_options"] == "cam_step=0.01;resolution=64x64"
    assert schema.expected_hash("wsoleval", schema.parse_options(row["protocol_options"])) == coarse.hash()
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
    with pytest.raises(SubmissionError, match="maps_url is empty; a verified row says where its score-map file"):
        row_from_result(result_dict(dataset="CUB", n_images=CUB_TEST.images, fingerprint=CUB_TEST.fingerprint),
                        method="CAM", backbone="resnet50")
    row = row_from_result(result_dict(dataset="CUB", n_images=CUB_TEST.images, fingerprint=CUB_TEST.fingerprint),
                          method="CAM", backbone="resnet50", maps_url="https://example.org/cam.h5")
    assert (row["dataset"], row["split"], row["n_images"]) == ("cub", "test", "5794")


def test_the_split_is_named_by_its_fingerprint():
    ilsvrc = official_split("ilsvrc", "test")[1]
    row = row_from_result(result_dict(dataset="ILSVRC", split="val", n_images=ilsvrc.images,
                                      fingerprint=ilsvrc.fingerprint),
                          method="CAM", backbone="resnet50", maps_url="https://example.org/cam.h5")
    assert row["split"] == "test"          # the native layout's 'val' is the board's 'test' (the same 50,000 images)


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
# a fake "verified" CUB row: the bundled 24-image example evaluated as if it were CUB test


@pytest.fixture
def fake_cub(tmp_path):
    gt = tmp_path / "CUB" / "test"
    shutil.copytree(EXAMPLE / "metadata", gt)
    return tmp_path, gt


def test_the_24_image_example_posing_as_cub_test_is_refused(fake_cub):
    tmp, gt = fake_cub
    example = load_annotations(f"wsoleval:{gt}")
    row_path = tmp / "fake.csv"
    result = run(["evaluate", str(EXAMPLE / "maps.h5"), "--gt", f"wsoleval:{gt}", "--submission", str(row_path),
                  "--method", "CAM", "--backbone", "resnet50", "--maps-url", "https://example.org/maps.h5",
                  "--out", str(tmp / "fake.json")])
    assert result.exit_code == 2, result.output
    message = result.stderr.strip().splitlines()[-1]
    assert "n_images 24 is not the 5,794 images of the official cub test split" in message
    assert (f"gt_fingerprint {example.fingerprint()[:12]}... is not the fingerprint of the official cub test split "
            f"({CUB_TEST.fingerprint[:12]}...") in message
    assert not row_path.exists()
    assert not (tmp / "fake.json").exists()        # refused before anything was evaluated or written
    # the same row written by hand (it would have ranked #1 with 100.00) is refused by validate and add
    import json

    result = run(["evaluate", str(EXAMPLE / "maps.h5"), "--gt", f"wsoleval:{gt}", "--out", str(tmp / "fake.json")])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp / "fake.json").read_text())
    row = {c: "" for c in schema.COLUMNS}
    row.update(method="CAM", backbone="resnet50", category="method", dataset="cub", split="test",
               protocol="wsoleval", protocol_hash=data["protocol_hash"], maxboxacc="100.0000",
               gt_known_loc="100.0000", n_images="24", gt_fingerprint=data["dataset"]["fingerprint"],
               maps_content_sha256=data["maps"]["content_sha256"], maps_url="https://example.org/maps.h5",
               wsolbench_version="0.1.0", source="verified", date="2026-11-20", schema_version="2")
    from wsolbench.leaderboard.csvio import write_csv_atomic

    write_csv_atomic(row_path, schema.COLUMNS, [row])
    result = run(["leaderboard", "validate", str(row_path)])
    assert result.exit_code == 2
    lines = result.stdout.splitlines()
    n_col, fp_col = schema.COLUMNS.index("n_images") + 1, schema.COLUMNS.index("gt_fingerprint") + 1
    assert lines[0].startswith(f"{row_path}:2:{n_col}: n_images 24 is not the 5,794 images of the official cub test "
                               "split (wsolbench/datasets/cards/cub.toml)")
    assert lines[1].startswith(f"{row_path}:2:{fp_col}: gt_fingerprint {example.fingerprint()[:12]}... is not the "
                               f"fingerprint of the official cub test split ({CUB_TEST.fingerprint[:12]}...")
    board = tmp / "board"
    write_submission(board / "reported.csv", [dict(row, source="reported", maps_content_sha256="", maps_url="",
                                                   gt_fingerprint="", n_images="", wsolbench_version="",
                                                   method="HaS", reference="A. Author 2026")])
    before = {p: p.read_bytes() for p in board.rglob("*") if p.is_file()}
    result = run(["leaderboard", "add", str(row_path), "--board", str(board)])
    assert result.exit_code == 2 and "n_images 24 is not the 5,794 images" in result.stdout
    assert {p: p.read_bytes() for p in board.rglob("*") if p.is_file()} == before


# ----------------------------------------------------------------------------------------------
# the real thing on the official synthetic test split: evaluate -> --submission -> validate -> add -> verify


def _synthetic_maps(annotations, seed=0):
    """A raw 16x16 map per image: a Gaussian blob near its box; a predicted label that is right 3 times in 4."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:16, 0:16]
    maps, preds = [], []
    for k, rec in enumerate(annotations):
        w, h = rec.image_size
        x0, y0, x1, y1 = rec.boxes[0]
        cx, cy = (x0 + x1) / 2 / w * 16 + rng.normal(0, 1), (y0 + y1) / 2 / h * 16 + rng.normal(0, 1)
        maps.append(np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 8.0) + 0.05 * rng.random((16, 16)))
        preds.append(rec.label if k % 4 else (rec.label + 1) % annotations.num_classes)
    return annotations.image_ids, np.asarray(maps, np.float32), np.asarray(preds)


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("synthetic-row")
    annotations = load_annotations("synthetic:", split="test")
    ids, maps, preds = _synthetic_maps(annotations)
    maps_path = write_scoremaps(tmp / "maps.h5", ids, maps, predicted_labels=preds)
    row_path = tmp / "cam-smallcnn-synthetic.csv"
    result = run(["evaluate", str(maps_path), "--gt", "synthetic:", "--split", "test", "--submission", str(row_path),
                  "--method", "CAM", "--backbone", "smallcnn"])
    assert result.exit_code == 0, result.output
    return tmp, maps_path, row_path, ids, maps, preds


def test_evaluate_writes_a_row_that_validates_adds_and_verifies(evaluated, tmp_path):
    tmp, maps_path, row_path, *_ = evaluated
    rows, problems = validate_file(row_path)
    assert problems == [] and len(rows) == 1
    row = rows[0]
    assert (row["dataset"], row["split"], row["source"], row["n_images"]) == ("synthetic", "test", "verified", "500")
    assert row["gt_fingerprint"] == SYNTHETIC_TEST.fingerprint and row["maxboxacc_v2"] and row["top1_loc"]
    board = tmp_path / "board"
    result = run(["leaderboard", "add", str(row_path), "--board", str(board), "--new-board"])
    assert result.exit_code == 0, result.output
    assert (board / "submissions" / row_path.name).read_bytes() == row_path.read_bytes()
    assert "CAM" in (board / "README.md").read_text()
    result = run(["leaderboard", "verify", str(board / "submissions" / row_path.name), "--maps", str(maps_path),
                  "--gt", "synthetic:", "--split", "test"])
    assert result.exit_code == 0, result.output
    assert "verified" in result.stderr and "differs" not in result.stdout


def test_identical_maps_written_again_verify(evaluated):
    tmp, maps_path, row_path, ids, maps, preds = evaluated
    order = np.random.default_rng(3).permutation(len(ids))
    again = write_scoremaps(tmp / "again.h5", [ids[k] for k in order], maps[order], predicted_labels=preds[order],
                            compression=None, attrs={"method": "CAM", "notes": "written again"})
    assert sha256_file(again) != sha256_file(maps_path)
    result = run(["leaderboard", "verify", str(row_path), "--maps", str(again), "--gt", "synthetic:",
                  "--split", "test"])
    assert result.exit_code == 0, result.output


def test_verify_fails_on_a_changed_number_other_maps_or_other_ground_truth(evaluated, tmp_path):
    tmp, maps_path, row_path, ids, maps, preds = evaluated
    rows, _ = validate_file(row_path)
    value = rows[0]["top1_cls"]
    changed = f"{float(value) + 0.01:.4f}"      # still a valid row: only recomputation can tell
    tampered = tmp_path / "tampered.csv"
    write_submission(tampered, [dict(rows[0].values, top1_cls=changed)])
    result = run(["leaderboard", "verify", str(tampered), "--maps", str(maps_path), "--gt", "synthetic:",
                  "--split", "test"])
    assert result.exit_code == 2, result.output
    assert f"top1_cls: the row says {changed}, recomputed {value}" in result.stdout
    assert "NOT verified" in result.stderr

    bumped = maps.copy()
    bumped[0] *= 1.5                                            # one map changed (same numbers after min-max)
    other = write_scoremaps(tmp_path / "other.h5", ids, bumped, predicted_labels=preds)
    result = run(["leaderboard", "verify", str(row_path), "--maps", str(other), "--gt", "synthetic:", "--split", "test"])
    assert result.exit_code == 2
    assert "maps_content_sha256: the row says" in result.stdout and "top1_cls: the row says" not in result.stdout

    # the same images with one box moved by a pixel: another ground truth, another fingerprint
    from wsolbench.datasets.synthetic import resolve_synthetic

    root, _ = resolve_synthetic("")
    moved = tmp_path / "synthetic" / "test"
    shutil.copytree(root / "metadata" / "test", moved)
    loc = moved / "localization.txt"
    first, *rest = loc.read_text().splitlines()
    image_id, x0, *others = first.split(",")
    loc.write_text("\n".join([",".join([image_id, str(int(x0) + 1), *others]), *rest]) + "\n")
    result = run(["leaderboard", "verify", str(row_path), "--maps", str(maps_path), "--gt", f"wsoleval:{moved}"])
    assert result.exit_code == 2
    assert "gt_fingerprint: the row says" in result.stdout and "n_images" not in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["center-gaussian", "random", "full-image"])
def test_the_committed_sanity_rows_verify_from_regenerated_maps(kind, tmp_path):
    """leaderboard/submissions/README.md's commands regenerate the sanity maps; the committed rows verify."""
    repo = Path(__file__).resolve().parents[1]
    maps = tmp_path / f"sanity-{kind}.h5"
    made = run(["baseline", "run", kind, "--dataset", "synthetic:", "--split", "test", "--out", str(maps), "--json"])
    assert made.exit_code == 0, made.output
    row = repo / "leaderboard" / "submissions" / f"synthetic-sanity-{kind}.csv"
    result = run(["leaderboard", "verify", str(row), "--maps", str(maps), "--gt", "synthetic:", "--split", "test"])
    assert result.exit_code == 0, result.output
