"""`verify_row`: protocol rebuilt and hash-checked, ground truth (name, count, fingerprint), content hash and
every metric compared.

The evaluation itself is replaced by a recording fake here (the end-to-end run against the real
pipeline is in test_leaderboard_submission.py).
"""

from dataclasses import dataclass
from pathlib import Path

import pytest

from wsolbench.errors import SubmissionError
from wsolbench.leaderboard import schema
from wsolbench.datasets.cards import official_split
from wsolbench.leaderboard.validate import Row, validate_file
from wsolbench.leaderboard.verify import compare_metrics, select_row, verify_row

DATA = Path(__file__).parent / "data" / "leaderboard"
SYNTHETIC_TEST = official_split("synthetic", "test")[1]
CONTENT = "c0" * 32


@dataclass
class FakeGT:
    name: str = "synthetic"
    split: str = "test"
    resolution: tuple | None = None
    n: int = SYNTHETIC_TEST.images
    print_: str = SYNTHETIC_TEST.fingerprint

    def __len__(self):
        return self.n

    def fingerprint(self):
        return self.print_


@dataclass
class FakeResult:
    metrics: dict
    content: str = CONTENT

    @property
    def maps(self):
        return {"content_sha256": self.content}


class Recorder:
    """Stands in for evaluate_maps / load_annotations and remembers how it was called."""

    def __init__(self, metrics, gt=None, content=CONTENT):
        self.metrics, self.gt, self.content, self.calls = metrics, gt or FakeGT(), content, []

    def load(self, spec, *, split=None, **options):
        self.calls.append(("load", spec, split, options))
        return self.gt

    def evaluate(self, maps, annotations, protocol, *, workers, progress, spec):
        self.calls.append(("evaluate", str(maps), protocol, workers, spec))
        return FakeResult(self.metrics, self.content)


@pytest.fixture
def verified_row(tmp_path):
    """The fixture's verified row, with the content hash the fake evaluation reports for its maps."""
    maps = tmp_path / "maps.h5"
    maps.write_bytes(b"not read: the fake evaluation reports the content hash")
    row = validate_file(DATA / "valid.csv")[0][2]
    row = Row(dict(row.values, maps_content_sha256=CONTENT), row.file, row.line)
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


def test_content_hash_and_ground_truth_are_checked(verified_row, tmp_path):
    row, maps, metrics = verified_row
    fake = Recorder(metrics, FakeGT(name="CUB", split="val", n=24, print_="ab" * 32), content="d1" * 32)
    report = verify_row(row, maps, "wsoleval:x", evaluate=fake.evaluate, load=fake.load)
    assert report.problems == [
        "dataset: the row says 'synthetic', the ground truth given is 'cub'",
        "n_images: the row says 500, the ground truth given has 24 images",
        f"gt_fingerprint: the row says {SYNTHETIC_TEST.fingerprint[:12]}..., the ground truth given has abababababab...; "
        "verify against the ground truth the row was computed on",
        f"maps_content_sha256: the row says {CONTENT}, the maps in {maps} have {'d1' * 32}; these are not the maps "
        "the row was computed from"]
    assert report.gt_fingerprint == "ab" * 32 and report.maps_content_sha256 == "d1" * 32


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
    twins = [rows[2], Row(dict(rows[2].values, method="HaS", maps_content_sha256="cd" * 32), rows[2].file, 5)]
    with pytest.raises(SubmissionError, match=r"2 verified rows \(lines 4, 5\); choose one with --line"):
        select_row(twins)
    assert select_row(twins, content_sha256="cd" * 32).line == 5


def test_compare_metrics_uses_the_printed_precision():
    row = Row({"maxboxacc_v2": "63.7", "pxap": ""})
    assert compare_metrics(row, {"maxboxacc_v2": 63.74}) == []
    assert compare_metrics(row, {"maxboxacc_v2": 63.76}) == ["maxboxacc_v2: the row says 63.7, recomputed 63.7600"]
