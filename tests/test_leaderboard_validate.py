"""`wsolbench leaderboard validate`: every broken submission gives one precise, located message."""

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from wsolbench.cli.main import cli
from wsolbench.leaderboard import schema
from wsolbench.leaderboard.validate import Row, check_row, parse_percent, validate_file, validate_files

DATA = Path(__file__).parent / "data" / "leaderboard"
REPO = Path(__file__).resolve().parents[1]


def run(args):
    return CliRunner().invoke(cli, args)


def valid_rows():
    rows, problems = validate_file(DATA / "valid.csv")
    assert problems == []
    return rows


def with_values(row: Row, **changes) -> Row:
    values = dict(row.values)
    values.update(changes)
    return Row(values, row.file, row.line)


def messages(row: Row) -> list[str]:
    return [p.message for p in check_row(row)]


def test_the_valid_fixture_has_three_rows_and_no_problem():
    rows = valid_rows()
    assert [r["source"] for r in rows] == ["reported", "reported", "verified"]
    assert [r.line for r in rows] == [2, 3, 4]
    # the fixtures carry real preset hashes: if a preset's definition changes, this says why they fail
    assert rows[0]["protocol_hash"] == schema.expected_hash("wsoleval", {})
    assert rows[1]["protocol_hash"] == schema.expected_hash("cam2016", {})


BROKEN = [
    # file, line, column, phrases the single message must contain
    ("missing_column.csv", 1, 0, ["missing column 'maxboxacc_iou70'", "add 'maxboxacc_iou70' to the header"]),
    ("text_in_number.csv", 2, 13, ["maxboxacc_v2", "'high' is not a number"]),
    ("out_of_range.csv", 3, 10, ["gt_known_loc", "101.5 is outside 0-100"]),
    ("unknown_protocol.csv", 3, 6, ["unknown protocol 'cam2017'", "did you mean 'cam2016'?"]),
    ("duplicated_row.csv", 5, 0, ["duplicated row: identical to", "duplicated_row.csv:2"]),
    ("wrong_delimiter.csv", 1, 7, ["separated by semicolons (';'), not commas"]),
    ("bom.csv", 1, 1, ["UTF-8 byte-order mark (BOM", "without BOM"]),
    ("empty.csv", 1, 0, ["the file is empty", "header line"]),
    ("inconsistent_v2.csv", 2, 13, ["maxboxacc_v2 73.7 is not the mean of maxboxacc_iou30/50/70 (63.7)"]),
    ("ragged_row.csv", 3, 0, ["30 fields but the header has 29", "double quotes"]),
    ("bad_hash.csv", 2, 7, ["protocol_hash '560faee96a30' does not match protocol 'wsoleval'",
                            f"expected '{schema.expected_hash('wsoleval', {})}'"]),
    ("reported_without_reference.csv", 3, 26, ["a reported row needs its reference"]),
]


@pytest.mark.parametrize("name, line, column, phrases", BROKEN, ids=[b[0] for b in BROKEN])
def test_each_broken_file_gives_one_located_message(name, line, column, phrases):
    path = DATA / name
    _, problems = validate_file(path)
    assert len(problems) == 1, [str(p) for p in problems]
    text = str(problems[0])
    assert text.startswith(f"{path}:{line}:{column}: "), text
    for phrase in phrases:
        assert phrase in text


@pytest.mark.parametrize("name, line, column, phrases", BROKEN[:8], ids=[b[0] for b in BROKEN[:8]])
def test_cli_prints_file_line_column_and_exits_2(name, line, column, phrases):
    path = DATA / name
    result = run(["leaderboard", "validate", str(path)])
    assert result.exit_code == 2, result.output
    assert result.stdout.splitlines()[0].startswith(f"{path}:{line}:{column}: ")
    assert "1 problem(s)" in result.stderr


def test_cli_accepts_a_valid_file_and_reports_json():
    result = run(["leaderboard", "validate", str(DATA / "valid.csv")])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "OK: 3 row(s)" in result.stderr
    result = run(["leaderboard", "validate", "--json", str(DATA / "out_of_range.csv")])
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert data["problems"] == [{"file": str(DATA / "out_of_range.csv"), "line": 3, "column": 10,
                                 "message": data["problems"][0]["message"]}]


def test_duplicates_are_found_across_files(tmp_path):
    other = tmp_path / "other.csv"
    other.write_text((DATA / "valid.csv").read_text())
    rows, problems = validate_files([DATA / "valid.csv", other])
    assert len(rows) == 6
    assert [(p.file, p.line) for p in problems] == [(str(other), 2), (str(other), 3), (str(other), 4)]
    assert all(f"valid.csv:{p.line}" in p.message for p in problems)


@pytest.mark.parametrize("text, value, phrase", [
    ("63.7", 63.7, None), ("0", 0.0, None), ("100", 100.0, None), (" 7.25 ", 7.25, None), ("", None, None),
    ("63,7", None, "decimal comma; write '63.7'"), ("63.7%", None, "percent sign"), ("nan", None, "not a number"),
    ("inf", None, "not a number"), ("-0.5", None, "outside 0-100"), ("1e2", None, "not a number"),
    ("100.01", None, "outside 0-100"),
])
def test_parse_percent(text, value, phrase):
    parsed, why = parse_percent(text)
    assert parsed == value
    assert (why is None) if phrase is None else (phrase in why)


def test_row_level_consistency_rules():
    reported, cam, verified = valid_rows()
    assert messages(with_values(reported, maxboxacc_iou30="70.0", maxboxacc_iou50="71.3", maxboxacc_v2="55.33")) \
        == ["maxboxacc_iou50 71.3 exceeds maxboxacc_iou30 70.0; box accuracy cannot grow with a stricter IoU"]
    assert any("top1_loc 70.0000 exceeds gt_known_loc" in m for m in messages(with_values(verified, top1_loc="70.0000",
                                                                                       gt_known_loc="69.0000")))
    assert any("top1_loc 92.0000 exceeds top1_cls" in m for m in messages(with_values(verified, top1_loc="92.0000",
                                                                                   gt_known_loc="95.0000",
                                                                                   maxboxacc="95.0000")))
    assert any("maxboxacc_v2 must be empty under cam2016" in m for m in messages(with_values(cam, maxboxacc_v2="50")))
    # two decimals: the mean of rounded IoU accuracies may differ from the rounded V2 by up to 0.01
    assert messages(with_values(reported, maxboxacc_v2="63.70", maxboxacc_iou30="95.11", maxboxacc_iou50="71.31",
                                maxboxacc_iou70="24.70")) == []


def test_fractions_and_empty_metrics_are_refused():
    reported, _, _ = valid_rows()
    fractions = with_values(reported, maxboxacc_v2="0.637", maxboxacc_iou30="0.951", maxboxacc_iou50="0.713",
                            maxboxacc_iou70="0.247")
    assert messages(fractions) == ["every metric is at most 1 (maxboxacc_v2 = 0.637); metrics are percentages: "
                                   "write 63.7, not 0.637"]
    empty = with_values(reported, **{c: "" for c in schema.METRIC_COLUMNS})
    assert messages(empty) == ["the row has no metric; fill at least one of " + ", ".join(schema.METRIC_COLUMNS)]


def test_provenance_rules():
    reported, _, verified = valid_rows()
    assert messages(with_values(verified, maps_content_sha256="")) == [
        "maps_content_sha256 is empty; a verified row carries the content hash of its score maps (written by "
        "'wsolbench evaluate MAPS --gt SPEC --submission ROW.csv')"]
    assert messages(with_values(verified, maps_content_sha256="0" * 64))[0].startswith(
        "maps_content_sha256 is 00000000... (one digit repeated), a placeholder, not a hash")
    for column in ("maps_content_sha256", "gt_fingerprint", "maps_url"):
        assert any(f"{column} must be empty for a reported row" in m
                   for m in messages(with_values(reported, **{column: "ab" * 32})))
    assert any("wsolbench_version must be empty for a reported row" in m
               for m in messages(with_values(reported, wsolbench_version="0.1.0")))
    assert any("source 'paper'" in m for m in messages(with_values(reported, source="paper")))
    assert messages(with_values(verified, date="2026-02-30")) == [
        "date '2026-02-30' is not a calendar date written YYYY-MM-DD (or YYYY-MM, YYYY)"]
    assert messages(with_values(verified, date="2999-01-01")) == ["date 2999-01-01 is in the future"]
    reported_only = schema.expected_hash("paper-own-threshold", {})
    assert any("is reported-only; a verified row is measured under a preset" in m for m in messages(
        with_values(verified, protocol="paper-own-threshold", protocol_hash=reported_only)))


def test_names_and_options():
    reported, cam, _ = valid_rows()
    assert messages(with_values(reported, dataset="CUB")) == ["dataset 'CUB' should be written 'cub'"]
    assert "unknown dataset 'coco'" in messages(with_values(reported, dataset="coco"))[0]
    assert messages(with_values(reported, backbone="ResNet50")) == [
        "backbone 'ResNet50' must be lower case letters, digits and . _ + - (write 'resnet50')"]
    # options change the hash: the row must carry the hash of the preset *with* its options
    options_hash = schema.expected_hash("wsoleval", {"cam_step": 0.01})
    assert options_hash != reported["protocol_hash"]
    assert messages(with_values(reported, protocol_options="cam_step=0.01", protocol_hash=options_hash)) == []
    assert "expected '" + options_hash in messages(with_values(reported, protocol_options="cam_step=0.01"))[0]
    assert messages(with_values(reported, protocol_options="cam_step=0.001")) == [
        "protocol_options 'cam_step=0.001': cam_step is the preset's default; leave it out (one spelling per "
        "protocol)"]
    assert messages(with_values(reported, protocol_options="cam_step=lots")) == [
        "protocol_options 'cam_step=lots': cam_step 'lots' is not a number"]
    assert "takes no options" in messages(with_values(
        cam, protocol="paper-own-threshold", protocol_hash=schema.pseudo_hash("paper-own-threshold"),
        protocol_options="threshold=0.3"))[0]


def test_header_problems_are_located(tmp_path):
    text = (DATA / "valid.csv").read_text().splitlines()
    header = text[0].replace("method", "Method").replace(",notes,", ",note,")
    path = tmp_path / "header.csv"
    path.write_text("\n".join([header] + text[1:]) + "\n")
    _, problems = validate_file(path)
    found = [str(p) for p in problems]
    assert f"{path}:1:1: column 'Method' should be written 'method' (lower case, underscores)" in found
    assert any(re.match(rf"{re.escape(str(path))}:1:28: unknown column 'note'; did you mean 'notes'\?", p)
               for p in found)
    assert any(p.startswith(f"{path}:1:0: missing column 'method'") for p in found)


def test_encoding_problems_are_located(tmp_path):
    utf16 = tmp_path / "utf16.csv"
    utf16.write_bytes((DATA / "valid.csv").read_text().encode("utf-16"))
    latin = tmp_path / "latin.csv"
    lines = (DATA / "valid.csv").read_text().splitlines()
    lines[2] = lines[2].replace("Singh & Lee", "Singh & L\xe9e")
    latin.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    header_only = tmp_path / "header_only.csv"
    header_only.write_text(lines[0] + "\n")
    (p16,) = validate_file(utf16)[1]
    assert str(p16).startswith(f"{utf16}:1:1: the file is UTF-16-encoded")
    (pl,) = validate_file(latin)[1]
    column = lines[2].index("\xe9") + 1
    assert str(pl).startswith(f"{latin}:3:{column}: byte 0xE9 is not valid UTF-8")
    (ph,) = validate_file(header_only)[1]
    assert str(ph) == f"{header_only}:1:0: the file has a header but no rows; add one line per result"


def test_missing_file_is_a_problem_not_a_crash(tmp_path):
    result = run(["leaderboard", "validate", str(tmp_path / "nope.csv")])
    assert result.exit_code == 2
    assert result.stdout.startswith(f"{tmp_path / 'nope.csv'}:0:0: cannot read the file")


def test_the_repository_reported_csv_is_valid_and_cited():
    rows, problems = validate_file(REPO / "leaderboard" / "reported.csv")
    assert problems == []
    assert len(rows) > 100
    assert all(r["source"] == "reported" and r["reference"] for r in rows)
    derived = [r for r in rows if r["notes"].startswith("derived:")]
    assert derived, "values computed from a paper must be marked 'derived:' in notes"
    assert {r["protocol"] for r in rows} == set(schema.PROTOCOLS)


def test_schema_md_documents_every_column_and_protocol_hash():
    text = (REPO / "leaderboard" / "SCHEMA.md").read_text()
    assert f"version {schema.SCHEMA_VERSION}" in text
    for column in schema.COLUMNS:
        assert f"| `{column}` |" in text, column
    for name in schema.PROTOCOLS:
        assert f"| `{name}` |" in text and f"`{schema.expected_hash(name, {})}`" in text, name
    for dataset in schema.DATASETS:
        assert f"`{dataset}`" in text, dataset


def test_line_numbers_survive_crlf_and_quoted_line_breaks(tmp_path):
    lines = (DATA / "valid.csv").read_text().splitlines()
    assert '"Choe et al. CVPR 2020, Table 5"' in lines[1]
    lines[1] = lines[1].replace("Choe et al. CVPR 2020", "Choe et al.\nCVPR 2020")
    lines[3] = lines[3].replace("91.2500", '"91,25"')
    path = tmp_path / "windows.csv"
    path.write_bytes("\r\n".join(lines + [""]).encode())
    _, problems = validate_file(path)
    found = [str(p) for p in problems]
    # the quoted line break is a problem of row 2; the bad number is on physical line 5
    assert found[0].startswith(f"{path}:2:26: reference contains a line break")
    assert found[1].startswith(f"{path}:5:9: top1_cls: '91,25' uses a decimal comma; write '91.25'")
    assert len(found) == 2
