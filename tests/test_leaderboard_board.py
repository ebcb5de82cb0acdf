"""The board: atomic `add`, ranking that never mixes protocols, `build` of README.md and index.html."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from wsolbench.cli.main import cli
from wsolbench.datasets.cards import official_split
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


SYNTHETIC_TEST = official_split("synthetic", "test")[1]


def verified(method, v2, *, backbone="resnet50", options="", dataset="synthetic", sha="3f", category="method"):
    """A verified row on the official synthetic test split with MaxBoxAccV2 = v2 (IoU columns consistent)."""
    row = {c: "" for c in schema.COLUMNS}
    row.update(method=method, backbone=backbone, category=category, dataset=dataset, split="test",
               protocol="wsoleval", protocol_options=options,
               protocol_hash=schema.expected_hash("wsoleval", schema.parse_options(options)),
               maxboxacc_v2=f"{v2:.4f}", maxboxacc_iou30=f"{v2 + 10:.4f}", maxboxacc_iou50=f"{v2:.4f}",
               maxboxacc_iou70=f"{v2 - 10:.4f}", n_images=str(SYNTHETIC_TEST.images),
               gt_fingerprint=SYNTHETIC_TEST.fingerprint, maps_content_sha256=sha * 32, wsolbench_version="0.1.0",
               source="verified", date="2026-11-20", schema_version="2")
    return row


def reported(method, v2, *, backbone="resnet50", dataset="synthetic", category="method"):
    row = verified(method, v2, backbone=backbone, dataset=dataset, category=category)
    row.update(maps_content_sha256="", n_images="", gt_fingerprint="", wsolbench_version="", source="reported",
               reference="A. Author, Venue 2026")
    return row


@pytest.fixture
def board(tmp_path):
    root = tmp_path / "leaderboard"
    write_submission(root / "reported.csv", [reported("HaS", 55.0), reported("ACoL", 60.0)])
    return root


def snapshot(folder: Path) -> dict:
    """Every file under ``folder`` with its bytes (to prove that nothing was created or changed)."""
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_add_copies_the_submission_and_rebuilds(board, tmp_path):
    sub = tmp_path / "cam.csv"
    write_submission(sub, [verified("CAM", 60.0), verified("CAM", 58.0, backbone="vgg16", sha="3e")])
    result = run(["leaderboard", "add", str(sub), "--board", str(board)])
    assert result.exit_code == 0, result.output
    assert (board / "submissions" / "cam.csv").read_bytes() == sub.read_bytes()
    readme = (board / "README.md").read_text()
    assert "| 1= | ACoL | resnet50 | **60.00** |" in readme and "| 1= | CAM | resnet50 | **60.00** |" in readme
    assert "| 3 | CAM | vgg16 | **58.00** |" in readme and "| 4 | HaS | resnet50 | **55.00** |" in readme
    assert "Rank 1 is shared by ACoL (resnet50), CAM (resnet50): equal MaxBoxAccV2 (60.00)" in readme
    assert (board / "index.html").is_file()
    assert "built 4 rows in 1 tables" in result.stderr


def test_add_refuses_duplicates_and_bad_files_and_writes_nothing(board, tmp_path):
    dup = tmp_path / "dup.csv"
    write_submission(dup, [verified("CAM", 60.0)])
    assert run(["leaderboard", "add", str(dup), "--board", str(board), "--no-build"]).exit_code == 0
    before = snapshot(board)
    again = tmp_path / "again.csv"
    write_submission(again, [verified("cam", 61.0, sha="7a")])   # names compare case-insensitively
    result = run(["leaderboard", "add", str(again), "--board", str(board)])
    assert result.exit_code == 2, result.output
    assert f"{again}:2:0: duplicated row: same method" in result.stdout
    assert f"{board / 'submissions' / 'dup.csv'}:2" in result.stdout
    assert result.stderr.strip().splitlines() == [f"Error: {again}: 1 row(s) already on the board; nothing was added"]
    result = run(["leaderboard", "add", str(DATA / "out_of_range.csv"), "--board", str(board)])
    assert result.exit_code == 2
    assert f"{DATA / 'out_of_range.csv'}:3:10: gt_known_loc: 101.5 is outside 0-100" in result.stdout
    assert len(result.stderr.strip().splitlines()) == 1
    assert snapshot(board) == before
    assert sorted(p.name for p in (board / "submissions").iterdir()) == ["dup.csv"]
    assert not (board / "README.md").exists()


def test_add_replace_updates_a_submission(board, tmp_path):
    sub = tmp_path / "cam.csv"
    write_submission(sub, [verified("CAM", 60.0)])
    add_submission(board, sub)
    write_submission(sub, [verified("CAM", 62.5, sha="9a")])
    with pytest.raises(SubmissionError, match="already exists; pass --replace"):
        add_submission(board, sub)
    target = add_submission(board, sub, replace=True)
    assert "62.5000" in target.read_text()
    with pytest.raises(SubmissionError, match="new-board does not exist; pass the board folder with --board"):
        add_submission(tmp_path / "new-board", DATA / "valid.csv", name="fixture.csv")
    assert not (tmp_path / "new-board").exists()
    assert add_submission(tmp_path / "new-board", DATA / "valid.csv", name="fixture.csv", new_board=True).name \
        == "fixture.csv"
    with pytest.raises(SubmissionError, match="plain file name ending in .csv"):
        add_submission(board, sub, name="../escape.csv")


def test_add_to_a_mistyped_board_creates_nothing(board, tmp_path):
    sub = tmp_path / "cam.csv"
    write_submission(sub, [verified("CAM", 60.0)])
    before = snapshot(tmp_path)
    typo = tmp_path / "leaderbaord"
    result = run(["leaderboard", "add", str(sub), "--board", str(typo)])
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"Error: {typo} does not exist; pass the board folder with --board DIR (default: "
                                     "leaderboard), or --new-board to start a new board there")
    assert snapshot(tmp_path) == before and not typo.exists()
    plain = tmp_path / "plain"
    plain.mkdir()
    result = run(["leaderboard", "add", str(sub), "--board", str(plain)])
    assert result.exit_code == 2 and "is not a board (no reported.csv, no submissions/)" in result.stderr
    assert list(plain.iterdir()) == []
    result = run(["leaderboard", "add", str(sub), "--board", str(typo), "--new-board"])
    assert result.exit_code == 0, result.output
    assert (typo / "submissions" / "cam.csv").is_file() and (typo / "README.md").is_file()


def test_a_crash_while_adding_leaves_the_board_as_it_was(board, tmp_path, monkeypatch):
    sub = tmp_path / "cam.csv"
    write_submission(sub, [verified("CAM", 60.0)])
    before = snapshot(board)

    def crash(src, dst):
        raise KeyboardInterrupt("power cut during rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        add_submission(board, sub)
    assert snapshot(board) == before                          # no half file, no temporary left behind
    assert load_board(board).problems == []


# `wsolbench leaderboard add ARGS`, started only when a line arrives on stdin (after the imports), so that
# the processes of one round really run at the same moment.
ADD_SCRIPT = ("import sys\nfrom wsolbench.cli.main import cli\nsys.stdin.readline()\n"
              "cli(['leaderboard', 'add', *sys.argv[1:], '--no-build'], prog_name='wsolbench')\n")


def _add_at_once(board, files, names):
    """Start one `leaderboard add` process per file, released together; return their exit codes and outputs."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    procs = [subprocess.Popen([sys.executable, "-c", ADD_SCRIPT, str(f), "--board", str(board), "--name", name],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
             for f, name in zip(files, names)]
    time.sleep(0.5)                                           # all imported and waiting on stdin
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    outs = [p.communicate(timeout=120) for p in procs]
    return [p.returncode for p in procs], outs


@pytest.mark.parametrize("same_name", [True, False], ids=["same-file-name", "duplicate-rows"])
def test_two_adds_at_once_never_lose_or_duplicate_a_submission(tmp_path, same_name):
    """Two processes add at the same moment, 8 rounds: exactly one wins, the other is refused cleanly."""
    for round_ in range(8):
        board = tmp_path / f"board{round_}"
        write_submission(board / "reported.csv", [reported("HaS", 55.0)])
        subs = []
        for k in range(2):
            subs.append(tmp_path / f"r{round_}-{k}.csv")
            write_submission(subs[-1], [verified("CAM", 60.0 + k, sha=f"a{k}")])
        names = ["cam.csv", "cam.csv"] if same_name else ["cam-a.csv", "cam-b.csv"]
        codes, outs = _add_at_once(board, subs, names)
        assert sorted(codes) == [0, 2], outs
        loser = outs[codes.index(2)][1]
        expected = "already exists; pass --replace" if same_name else "row(s) already on the board"
        assert expected in loser, loser
        files = sorted((board / "submissions").iterdir())
        assert len(files) == 1
        winner = subs[codes.index(0)]
        assert files[0].read_bytes() == winner.read_bytes()
        assert load_board(board).problems == []


def test_rows_with_different_protocol_hashes_are_never_ranked_together():
    rows = [verified("CAM", 60.0), verified("HaS", 70.0, options="cam_step=0.01"),
            verified("ACoL", 65.0), reported("SPG", 65.0)]
    path = Path("<memory>")
    from wsolbench.leaderboard.validate import Row

    groups = rank_groups([Row(r, str(path), i + 2) for i, r in enumerate(rows)])
    assert [(g.protocol_options, [(r.row["method"], r.rank, r.tied) for r in g.rows]) for g in groups] == [
        ("", [("ACoL", 1, True), ("SPG", 1, True), ("CAM", 3, False)]),
        ("cam_step=0.01", [("HaS", 1, False)]),
    ]
    assert groups[0].protocol_hash == WSOLEVAL != groups[1].protocol_hash
    assert all(g.metric == "maxboxacc_v2" for g in groups)


def test_reference_lines_are_listed_but_never_ranked(tmp_path):
    from wsolbench.leaderboard.validate import Row

    rows = [verified("random", 80.0, category="sanity"), verified("CAM", 20.0),
            reported("FSL baseline", 90.0, category="fully-supervised"), verified("HaS", 30.0, sha="4b"),
            verified("center-gaussian", 25.0, category="sanity", sha="5c")]
    (group,) = rank_groups([Row(r, "<memory>", i + 2) for i, r in enumerate(rows)])
    assert [(r.row["method"], r.rank, r.reference) for r in group.rows] == [
        ("HaS", 1, False), ("CAM", 2, False),
        ("FSL baseline", None, True), ("random", None, True), ("center-gaussian", None, True)]
    root = tmp_path / "lb"
    write_submission(root / "reported.csv", [r for r in rows if r["source"] == "reported"])
    write_submission(root / "submissions" / "v.csv", [r for r in rows if r["source"] == "verified"])
    build(root, locked=True)
    readme = (root / "README.md").read_text()
    assert "| 1 | HaS |" in readme and "| 2 | CAM |" in readme
    assert "| ref | random *(sanity baseline)* |" in readme and "| ref | FSL baseline *(fully supervised)* |" in readme
    html = (root / "index.html").read_text()
    assert html.count('<tbody class="reference">') == 1 and html.count('<g class="bar"') == 2


def test_a_sanity_or_fully_supervised_method_must_say_so():
    from wsolbench.leaderboard.validate import Row, check_row

    assert [p.message for p in check_row(Row(verified("Center-gaussian baseline", 20.0)))] == [
        "'Center-gaussian baseline' is a sanity baseline (its maps ignore the image); write category 'sanity' so "
        "that it is shown as a reference line, not ranked"]
    assert "write category 'fully-supervised'" in check_row(Row(reported("FSL baseline", 70.0)))[0].message
    assert check_row(Row(verified("CAM", 20.0, category="sanity"))) == []      # a submitter may declare it


def test_every_table_has_its_protocols_columns(tmp_path):
    from wsolbench.leaderboard.validate import Row

    only_v2 = dict(reported("CAM", 60.0, dataset="cub"), maxboxacc_iou30="", maxboxacc_iou50="", maxboxacc_iou70="")
    cam2016 = dict(only_v2, protocol="cam2016", protocol_hash=schema.expected_hash("cam2016", {}), maxboxacc_v2="",
                   gt_known_loc="50.0")
    mask = dict(only_v2, dataset="openimages", maxboxacc_v2="", pxap="60.0")
    groups = {(g.dataset, g.protocol): g for g in rank_groups([Row(r) for r in (only_v2, cam2016, mask)])}
    assert groups[("cub", "wsoleval")].columns == ["maxboxacc_v2", "maxboxacc_iou30", "maxboxacc_iou50",
                                                   "maxboxacc_iou70", "maxboxacc", "gt_known_loc", "top1_loc",
                                                   "top1_cls"]
    assert groups[("cub", "cam2016")].columns == ["gt_known_loc", "top1_loc", "top1_cls"]
    assert groups[("openimages", "wsoleval")].columns == ["pxap", "piou", "top1_cls"]
    synthetic = rank_groups([Row(verified("CAM", 60.0))])[0]
    assert synthetic.columns[:2] == ["maxboxacc_v2", "maxboxacc_iou30"] and "pxap" in synthetic.columns


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
        assert all(r.rank is None for r in group.reference_rows)
    by_key = {(g.dataset, g.protocol): g for g in groups}
    assert by_key[("cub", "wsoleval")].metric == "maxboxacc_v2"
    assert by_key[("openimages", "wsoleval")].metric == "pxap"
    assert by_key[("cub", "paper-own-threshold")].rankable is False
    cub = by_key[("cub", "wsoleval")]
    assert {r.row["method"] for r in cub.reference_rows} == {"FSL baseline", "Center-gaussian baseline"}
    assert cub.method_rows[0].rank == 1 and cub.method_rows[0].row["category"] == "method"
    synthetic = by_key[("synthetic", "wsoleval")]
    assert synthetic.method_rows[0].row["method"] == "CAM"             # the sanity floors are not ranked above it
    assert {r.row["method"] for r in synthetic.reference_rows} == {"center-gaussian", "random", "full-image"}


def test_build_check_and_the_committed_pages_are_up_to_date(board):
    result = run(["leaderboard", "build", "--board", str(board), "--check"])
    assert result.exit_code == 2
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
    result = run(["leaderboard", "build", "--board", str(board)])
    assert result.exit_code == 2 and result.stdout.startswith(f"{board / 'submissions' / 'bad.csv'}:1:1: ")
    result = run(["leaderboard", "build", "--board", str(board.parent / "nowhere")])
    assert result.exit_code == 2 and "nowhere does not exist" in result.output
    assert not (board.parent / "nowhere").exists()


def test_markdown_marks_unranked_tables(tmp_path):
    root = tmp_path / "lb"
    row = {c: "" for c in schema.COLUMNS}
    row.update(method="BAS", backbone="vgg16", category="method", dataset="cub", split="test",
               protocol="paper-own-threshold", protocol_hash=schema.pseudo_hash("paper-own-threshold"),
               top1_loc="71.33", gt_known_loc="91.07", source="reported", reference="Wu et al. CVPR 2022 | table 2",
               schema_version="2")
    write_submission(root / "reported.csv", [row])
    build(root)
    readme = (root / "README.md").read_text()
    assert "Not ranked: each paper's own threshold" in readme
    assert "| – | BAS | vgg16 | **71.33** | 91.07 |  | reported | [[1]](#ref-1) |  |" in readme
    assert "1. <a id=\"ref-1\"></a>Wu et al. CVPR 2022 \\| table 2" in readme


def test_generated_pages_escape_html_from_rows(tmp_path):
    root = tmp_path / "lb"
    row = reported("CAM <script>alert(1)</script>", 60.0)
    row.update(notes='<img src=x onerror="alert(2)"> & more', reference="A. Author <b>2026</b>")
    write_submission(root / "reported.csv", [row])
    build(root)
    for name in ("README.md", "index.html"):
        text = (root / name).read_text()
        assert "<script>alert" not in text and "<img src=x" not in text and "<b>2026" not in text, name
    readme = (root / "README.md").read_text()
    assert "CAM &lt;script&gt;alert(1)&lt;/script&gt;" in readme and "&lt;img src=x onerror=\"alert(2)\"&gt; &amp; more" in readme


@pytest.mark.parametrize("column,value", [("method", "=HYPERLINK(\"http://x\")"), ("notes", "+1+2"),
                                          ("reference", "@SUM(A1)"), ("backbone", "-resnet"),
                                          ("maxboxacc_v2", "+60.0")])
def test_cells_a_spreadsheet_would_run_are_refused(tmp_path, board, column, value):
    sub = tmp_path / "evil.csv"
    row = verified("CAM", 60.0)
    row[column] = value
    from wsolbench.leaderboard.csvio import write_csv_atomic

    write_csv_atomic(sub, schema.COLUMNS, [row])
    before = snapshot(board)
    result = run(["leaderboard", "add", str(sub), "--board", str(board)])
    assert result.exit_code == 2, result.output
    position = schema.COLUMNS.index(column) + 1
    line = next(line for line in result.stdout.splitlines() if line.startswith(f"{sub}:2:{position}: "))
    assert ("formula" in line) or ("'+' sign" in line), line
    assert len(result.stderr.strip().splitlines()) == 1 and snapshot(board) == before


def test_a_submission_holds_at_most_the_stated_number_of_rows(tmp_path, board):
    from wsolbench.leaderboard.csvio import write_csv_atomic

    big = tmp_path / "big.csv"
    rows = [verified(f"M{k}", 50.0, sha=f"{k % 200:02x}"[::-1] + "1") for k in range(schema.MAX_SUBMISSION_ROWS + 1)]
    write_csv_atomic(big, schema.COLUMNS, rows)
    before = snapshot(board)
    for command in (["validate", str(big)], ["add", str(big), "--board", str(board)]):
        result = run(["leaderboard", *command])
        assert result.exit_code == 2, result.output
        assert result.stdout.splitlines()[0] == (
            f"{big}:{schema.MAX_SUBMISSION_ROWS + 2}:0: the file has {schema.MAX_SUBMISSION_ROWS + 1} rows; a "
            f"submission holds at most {schema.MAX_SUBMISSION_ROWS} (one row per method, backbone, dataset, split and "
            "protocol): split it into several submissions; nothing was checked beyond the header")
    assert snapshot(board) == before
    with pytest.raises(SubmissionError, match="holds at most 100"):
        write_submission(tmp_path / "x.csv", rows)


def test_show_prints_ranked_groups_as_json(board):
    result = run(["leaderboard", "show", "--board", str(board), "--json"])
    assert result.exit_code == 0, result.output
    (group,) = json.loads(result.stdout)
    assert group["ranked_by"] == "maxboxacc_v2"
    assert [(r["rank"], r["method"]) for r in group["rows"]] == [(1, "ACoL"), (2, "HaS")]
    result = run(["leaderboard", "show", "--board", str(board), "--source", "verified", "--json"])
    assert json.loads(result.stdout) == []


def test_show_fits_the_terminal_without_truncating_cells():
    wide = run(["leaderboard", "show", "--dataset", "cub", "--protocol", "wsoleval", "--width", "200",
                "--board", str(REPO / "leaderboard")])
    assert wide.exit_code == 0, wide.output
    assert "BoxAcc@70" in wide.stdout and "Top-1 cls" in wide.stdout and "not shown" not in wide.stdout
    narrow = run(["leaderboard", "show", "--dataset", "cub", "--protocol", "wsoleval", "--width", "80",
                  "--board", str(REPO / "leaderboard")])
    assert narrow.exit_code == 0, narrow.output
    lines = narrow.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in narrow.stdout                                # rich's ellipsis: no cell is cut
    assert "MaxBoxAccV2" in lines[2] and "not shown at 80 columns:" in narrow.stdout
    for method in ("Center-gaussian", "HaS + IVR", "DA-WSOL"):
        assert method in narrow.stdout
    assert "| ref " not in narrow.stdout and any(line.startswith("│ ref │") for line in lines)


def test_the_page_is_self_contained(board):
    build(board)
    html = (board / "index.html").read_text()
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"(https?:)?//", html)
    assert "<script src" not in html and "@import" not in html
    assert html.count("<section class=\"group\"") == 1
    assert html.count('<g class="bar"') == 2
