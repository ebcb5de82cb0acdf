"""`verify_row`: protocol rebuilt and hash-checked, checksum, dataset and every metric compared.

The evaluation itself is replaced by a recording fake here (the end-to-end run against the real
pipeline is in test_leaderboard_submission.py).
"""

from dataclasses import dataclass
from pathlib import Path

import pytest

from wsolbench.errors import SubmissionError
from wsolbench.leaderboard import schema
from wsolbench.leaderboard.validate import Row, validate_file
from wsolbench.leaderboard.verify import compare_metrics, file_sha256, select_row, verify_row

DATA = Path(__file__).parent / "data" / "leaderboard"


@dataclass
class FakeGT:
    name: str = "synthetic"
    split: str = "test"
    resolution: tuple | None = None


@dataclass
class FakeResult:
    metrics: dict


class Recorder:
    """Stands in for evaluate_maps / load_annotations and remembers how it was called."""

    def __init__(self, metrics, gt=None):
        self.metrics, self.gt, self.calls = metrics, gt or FakeGT(), []

    def load(self, spec, *, split=None, **options):
        self.calls.append(("load", spec, split, options))
        return self.gt

    def evaluate(self, maps, annotations, protocol, *, workers, progress, spec):
        self.calls.append(("evaluate", str(maps), protocol, workers, spec))
        return FakeResult(self.metrics)


@pytest.fixture
def verified_row(tmp_path):
    """The fixture's verified row, pointing at a real maps file (any bytes) whose checksum it carries."""
    maps = tmp_path / "maps.h5"
    maps.write_bytes(b"not really HDF5; only its checksum matters here")
    row = validate_file(DATA / "valid.csv")[0][2]
    row = Row(dict(row.values, maps_sha256=file_sha256(maps)), row.file, row.line)
    metrics = {c: (float(row[c]) if row[c] else None) for c in schema.METRIC_COLUMNS}
    return row, maps, metrics


def test_a_faithful_row_is_confirmed(verified_row):
    row, maps, metrics = verified_row
    fake = Recorder(dict(metrics, maxboxacc_v2=metrics["maxboxacc_v2"] + 0.00004))  # below half a unit of 1e-4
    report = verify_row(row, maps, "synthetic:", evaluate=fake.evaluate, load=fake.load)
    assert report.ok, report.problems
    (_, _, _, load_options), (_, _, protocol, workers, spec) = fake.calls
    assert protocol.hash() == row["protocol_hash"] == report.protocol_hash
    assert (workers, spec, load_options) == (1, "synthetic:", {})


def test_every_differing_number_is_reported(verified_row):
    row, maps, metrics = verified_row
    fake = Recorder(dict(metrics, top1_cls=91.0, pxap=55.5, top1_loc=None))
    report = verify_row(row, maps, "synthetic:", evaluate=fake.evaluate, load=fake.load)
    assert report.problems == ["top1_cls: the row says 91.2500, recomputed 91.0000",
                               "top1_loc: the row says 65.0000, recomputed empty",
                               "pxap: the row says empty, recomputed 55.5000"]


def test_checksum_dataset_and_split_are_checked(verified_row, tmp_path):
    row, _, metrics = verified_row
    other = tmp_path / "other.h5"
    other.write_bytes(b"other maps")
    fake = Recorder(metrics, FakeGT(name="CUB", split="val"))
    report = verify_row(row, other, "wsoleval:x", evaluate=fake.evaluate, load=fake.load)
    assert report.problems[0].startswith(f"maps_sha256: the row says {row['maps_sha256']}, the file {other} has ")
    assert report.problems[1:] == ["dataset: the row says 'synthetic', the ground truth given is 'cub'",
                                   "split: the row says 'test', the ground truth given is 'val'"]


def test_a_protocol_hash_that_does_not_rebuild_stops_before_evaluating(verified_row):
    row, maps, metrics = verified_row
    fake = Recorder(metrics, FakeGT(resolution=(64, 64)))   # the dataset imposes another frame
    report = verify_row(row, maps, "synthetic:", evaluate=fake.evaluate, load=fake.load)
    assert len(report.problems) == 1 and report.problems[0].startswith("protocol: the preset 'wsoleval' with options")
    assert [c[0] for c in fake.calls] == ["load"]
    # with the option recorded (as `evaluate --submission` does), the same dataset verifies
    options = "resolution=64x64"
    rebuilt = Row(dict(row.values, protocol_options=options,
                       protocol_hash=schema.expected_hash("wsoleval", schema.parse_options(options))))
    assert verify_row(rebuilt, maps, "synthetic:", evaluate=fake.evaluate, load=fake.load).ok


def test_reported_rows_cannot_be_verified(verified_row):
    _, maps, metrics = verified_row
    reported = validate_file(DATA / "valid.csv")[0][0]
    fake = Recorder(metrics)
    report = verify_row(reported, maps, "synthetic:", evaluate=fake.evaluate, load=fake.load)
    assert report.problems == [f"{reported.where}: a reported row cannot be recomputed (it has no score maps)"]
    assert fake.calls == []


def test_select_row():
    rows = validate_file(DATA / "valid.csv")[0]
    assert select_row(rows).line == 4                      # the only verified row
    assert select_row(rows, line=3).line == 3
    with pytest.raises(SubmissionError, match="no row starts on line 9; rows start on lines 2, 3, 4"):
        select_row(rows, line=9)
    with pytest.raises(SubmissionError, match="no verified row"):
        select_row(rows[:2])
    twins = [rows[2], Row(dict(rows[2].values, method="HaS", maps_sha256="cd" * 32), rows[2].file, 5)]
    with pytest.raises(SubmissionError, match=r"2 verified rows \(lines 4, 5\); choose one with --line"):
        select_row(twins)
    assert select_row(twins, maps_sha256="cd" * 32).line == 5


def test_compare_metrics_uses_the_printed_precision():
    row = Row({"maxboxacc_v2": "63.7", "pxap": ""})
    assert compare_metrics(row, {"maxboxacc_v2": 63.74}) == []
    assert compare_metrics(row, {"maxboxacc_v2": 63.76}) == ["maxboxacc_v2: the row says 63.7, recomputed 63.7600"]
