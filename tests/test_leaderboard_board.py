"""The board: atomic `add`, ranking that never mixes protocols, `build` of README.md and index.html."""

import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from wsolbench.cli.main import cli
from wsolbench.errors import SubmissionError
from wsolbench.leaderboard import schema
from wsolbench.leaderboard.board import SubmissionRejected, add_submission, load_board, rank_groups
from wsolbench.leaderboard.build import build
from wsolbench.leaderboard.submission import write_submission

DATA = Path(__file__).parent / "data" / "leaderboard"
REPO = Path(__file__).resolve().parents[1]
WSOLEVAL = schema.expected_hash("wsoleval", {})


def run(args):
    return CliRunner().invoke(cli, args)


def verified(method, v2, *, backbone="resnet50", options="", dataset="synthetic", sha="3f"):
    """A verified synthetic-benchmark row with MaxBoxAccV2 = v2 (IoU columns consistent)."""
    row = {c: "" for c in schema.COLUMNS}
    row.update(method=method, backbone=backbone, dataset=dataset, split="test", protocol="wsoleval",
               protocol_options=options, protocol_hash=schema.expected_hash("wsoleval", schema.parse_options(options)),
               maxboxacc_v2=f"{v2:.4f}", maxboxacc_iou30=f"{v2 + 10:.4f}", maxboxacc_iou50=f"{v2:.4f}",
               maxboxacc_iou70=f"{v2 - 10:.4f}", maps_sha256=sha * 32, wsolbench_version="0.1.0",
               source="verified", date="2026-11-20", schema_version="1")
    return row


def reported(method, v2, *, backbone="resnet50", dataset="synthetic"):
    row = verified(method, v2, backbone=backbone, dataset=dataset)
    row.update(maps_sha256="", wsolbench_version="", source="reported", reference="A. Author, Venue 2026")
    return row


@pytest.fixture
def board(tmp_path):
    root = tmp_path / "leaderboard"
    write_submission(root / "reported.csv", [reported("HaS", 55.0), reported("ACoL", 60.0)])
    return root


def test_add_copies_the_submission_and_rebuilds(board, tmp_path):
    sub = tmp_path / "cam.csv"
    write_submission(sub, [verified("CAM", 60.0), verified("CAM", 58.0, backbone="vgg16")])
    result = run(["leaderboard", "add", str(sub), "--board", str(board)])
    assert result.exit_code == 0, result.output
    assert (board / "submissions" / "cam.csv").read_bytes() == sub.read_bytes()
    readme = (board / "README.md").read_text()
    assert "| 1 | ACoL | resnet50 | **60.00** |" in readme and "| 1 | CAM | resnet50 | **60.00** |" in readme
    assert "| 3 | CAM | vgg16 | **58.00** |" in readme and "| 4 | HaS | resnet50 | **55.00** |" in readme
    assert (board / "index.html").is_file()
    assert "built 4 rows in 1 tables" in result.stderr


def test_add_refuses_duplicates_and_bad_files_and_writes_nothing(board, tmp_path):
    dup = tmp_path / "dup.csv"
    write_submission(dup, [verified("CAM", 60.0)])
    assert run(["leaderboard", "add", str(dup), "--board", str(board), "--no-build"]).exit_code == 0
    again = tmp_path / "again.csv"
    write_submission(again, [verified("cam", 61.0, sha="77")])   # names compare case-insensitively
    result = run(["leaderboard", "add", str(again), "--board", str(board)])
    assert result.exit_code == 1, result.output
    assert f"{again}:2:0: duplicated row: same method" in result.output
    assert f"{board / 'submissions' / 'dup.csv'}:2" in result.output
    result = run(["leaderboard", "add", str(DATA / "out_of_range.csv"), "--board", str(board)])
    assert result.exit_code == 1
    assert f"{DATA / 'out_of_range.csv'}:3:9: gt_known_loc: 101.5 is outside 0-100" in result.output
    assert sorted(p.name for p in (board / "submissions").iterdir()) == ["dup.csv"]
    assert not (board / "README.md").exists()


def test_add_replace_updates_a_submission(board, tmp_path):
    sub = tmp_path / "cam.csv"
    write_submission(sub, [verified("CAM", 60.0)])
    add_submission(board, sub)
    write_submission(sub, [verified("CAM", 62.5, sha="99")])
    with pytest.raises(SubmissionError, match="already exists; pass --replace"):
        add_submission(board, sub)
    target = add_submission(board, sub, replace=True)
    assert "62.5000" in target.read_text()
    assert add_submission(tmp_path / "new-board", DATA / "valid.csv", name="fixture.csv").name == "fixture.csv"
    with pytest.raises(SubmissionError, match="plain file name ending in .csv"):
        add_submission(board, sub, name="../escape.csv")


def test_a_crash_while_adding_leaves_the_board_as_it_was(board, tmp_path, monkeypatch):
    sub = tmp_path / "cam.csv"
    write_submission(sub, [verified("CAM", 60.0)])
    before = {p: p.read_bytes() for p in board.rglob("*") if p.is_file()}

    def crash(src, dst):
        raise KeyboardInterrupt("power cut during rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        add_submission(board, sub)
    after = {p: p.read_bytes() for p in board.rglob("*") if p.is_file()}
    assert after == before                                   # no half file, no temporary left behind
    assert load_board(board).problems == []


def test_rows_with_different_protocol_hashes_are_never_ranked_together():
    rows = [verified("CAM", 60.0), verified("HaS", 70.0, options="cam_step=0.001"),
            verified("ACoL", 65.0), reported("SPG", 65.0)]
    path = Path("<memory>")
    from wsolbench.leaderboard.validate import Row

    groups = rank_groups([Row(r, str(path), i + 2) for i, r in enumerate(rows)])
    assert [(g.protocol_options, [(r.row["method"], r.rank) for r in g.rows]) for g in groups] == [
        ("", [("ACoL", 1), ("SPG", 1), ("CAM", 3)]),
        ("cam_step=0.001", [("HaS", 1)]),
    ]
    assert groups[0].protocol_hash == WSOLEVAL != groups[1].protocol_hash
    assert all(g.metric == "maxboxacc_v2" for g in groups)


def test_the_repository_board_is_ranked_by_protocol():
    board = load_board(REPO / "leaderboard")
    assert board.problems == []
    groups = rank_groups(board.rows)
    keys = [g.key for g in groups]
    assert len(keys) == len(set(keys))
    for group in groups:
        assert len({(r.row["protocol"], r.row["protocol_hash"]) for r in group.rows}) == 1
        if not group.rankable:
            assert all(r.rank is None for r in group.rows)
    by_key = {(g.dataset, g.protocol): g for g in groups}
    assert by_key[("cub", "wsoleval")].metric == "maxboxacc_v2"
    assert by_key[("openimages", "wsoleval")].metric == "pxap"
    assert by_key[("cub", "paper-own-threshold")].rankable is False


def test_build_check_and_the_committed_pages_are_up_to_date(board):
    result = run(["leaderboard", "build", "--board", str(board), "--check"])
    assert result.exit_code == 1
    assert "README.md: out of date" in result.stdout
    assert run(["leaderboard", "build", "--board", str(board)]).exit_code == 0
    assert run(["leaderboard", "build", "--board", str(board), "--check"]).exit_code == 0
    report = build(REPO / "leaderboard", check=True)
    assert report.stale == [], "leaderboard/README.md or index.html is stale: run `wsolbench leaderboard build`"


def test_build_refuses_a_broken_board_with_located_problems(board):
    (board / "submissions").mkdir()
    (board / "submissions" / "bad.csv").write_bytes((DATA / "bom.csv").read_bytes())
    with pytest.raises(SubmissionRejected) as caught:
        build(board)
    assert [str(p) for p in caught.value.problems][0].startswith(f"{board / 'submissions' / 'bad.csv'}:1:1: ")
    result = run(["leaderboard", "build", "--board", str(board.parent / "nowhere")])
    assert result.exit_code == 2 and "no board at" in result.output


def test_markdown_marks_unranked_tables(tmp_path):
    root = tmp_path / "lb"
    row = {c: "" for c in schema.COLUMNS}
    row.update(method="BAS", backbone="vgg16", dataset="cub", split="test", protocol="paper-own-threshold",
               protocol_hash=schema.pseudo_hash("paper-own-threshold"), top1_loc="71.33", gt_known_loc="91.07",
               source="reported", reference="Wu et al. CVPR 2022 | table 2", schema_version="1")
    write_submission(root / "reported.csv", [row])
    build(root)
    readme = (root / "README.md").read_text()
    assert "Not ranked: each paper's own threshold" in readme
    assert "| – | BAS | vgg16 | 91.07 | **71.33** | reported | [[1]](#ref-1) |  |" in readme
    assert "1. <a id=\"ref-1\"></a>Wu et al. CVPR 2022 \\| table 2" in readme


def test_show_prints_ranked_groups_as_json(board):
    result = run(["leaderboard", "show", "--board", str(board), "--json"])
    assert result.exit_code == 0, result.output
    (group,) = json.loads(result.stdout)
    assert group["ranked_by"] == "maxboxacc_v2"
    assert [(r["rank"], r["method"]) for r in group["rows"]] == [(1, "ACoL"), (2, "HaS")]
    result = run(["leaderboard", "show", "--board", str(board), "--source", "verified", "--json"])
    assert json.loads(result.stdout) == []


def test_the_page_is_self_contained(board):
    build(board)
    html = (board / "index.html").read_text()
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"(https?:)?//", html)
    assert "<script src" not in html and "@import" not in html
    assert html.count("<section class=\"group\"") == 1
    assert html.count('<g class="bar"') == 2
