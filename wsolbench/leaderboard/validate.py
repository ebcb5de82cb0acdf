"""Validation of submission files: schema, types, ranges, known names, hashes, consistency, duplicates,
the official ground truth of verified rows (count and fingerprint from the dataset cards), row limits
and cells a spreadsheet would run as formulas.

Every check returns :class:`~wsolbench.leaderboard.problems.Problem` objects located by
``file:line:column``; nothing raises on bad input.

Example:
    >>> from wsolbench.leaderboard.validate import validate_files
    >>> rows, problems = validate_files(["leaderboard/reported.csv"])   # doctest: +SKIP
    >>> [str(p) for p in problems]                                       # doctest: +SKIP
    []
"""

from __future__ import annotations

import datetime as _dt
import difflib
import math
import os
import re
from dataclasses import dataclass, field

from wsolbench.errors import ProtocolError
from wsolbench.leaderboard import schema
from wsolbench.leaderboard.csvio import Table, read_table
from wsolbench.leaderboard.problems import Problem

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_TOKEN = re.compile(r"^[a-z0-9][a-z0-9._+-]*$")
_VERSION = re.compile(r"^\d+\.\d+(\.\d+)?([.+-]?[0-9A-Za-z]+)*$")
_DATE = re.compile(r"^(\d{4})(-(\d{2}))?(-(\d{2}))?$")
_URL = re.compile(r"^https?://[^\s\"<>]+$")
_MAX_TEXT = 300


@dataclass
class Row:
    """One submission row: stripped field values and where it came from.

    Attributes:
        values: column name -> text (empty string for an empty cell).
        file: the file it was read from (``"<memory>"`` for rows built in code).
        line: its physical line in ``file`` (0 for rows built in code).
        positions: column name -> 1-based field number in ``file``.
    """

    values: dict[str, str]
    file: str = "<memory>"
    line: int = 0
    positions: dict[str, int] = field(default_factory=lambda: {c: i + 1 for i, c in enumerate(schema.COLUMNS)})

    def __getitem__(self, column: str) -> str:
        return self.values.get(column, "")

    def metric(self, column: str) -> float | None:
        """The metric's value, or ``None`` if empty or unparsable."""
        value, _ = parse_percent(self[column])
        return value

    def metrics(self) -> dict[str, float | None]:
        return {c: self.metric(c) for c in schema.METRIC_COLUMNS}

    @property
    def key(self) -> tuple:
        """The duplicate key: :data:`schema.KEY_COLUMNS`, names compared case-insensitively."""
        return tuple(self[c].casefold() for c in schema.KEY_COLUMNS)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def problem(self, column: str | None, message: str) -> Problem:
        return Problem(self.file, self.line, self.positions.get(column, 0) if column else 0, message)


def parse_percent(text: str) -> tuple[float | None, str | None]:
    """Parse a percentage cell: ``(value, None)``, ``(None, None)`` when empty, or ``(None, why)``."""
    text = (text or "").strip()
    if not text:
        return None, None
    if text.endswith("%"):
        return None, f"{text!r} has a percent sign; write the bare number ({text[:-1].strip()!r})"
    if text.startswith("+"):
        return None, f"{text!r} has a '+' sign (a spreadsheet reads it as a formula); write {text[1:]!r}"
    if re.fullmatch(r"[+-]?\d+,\d+", text):
        return None, f"{text!r} uses a decimal comma; write {text.replace(',', '.')!r} (a point)"
    if not _NUMBER.match(text):
        return None, f"{text!r} is not a number; write a percentage such as 63.7, or leave the cell empty " \
                     "where the metric does not apply"
    value = float(text)
    if not math.isfinite(value):  # pragma: no cover - the regex admits no inf/nan
        return None, f"{text!r} is not a finite number"
    if not (0.0 <= value <= 100.0):
        return None, f"{text} is outside 0-100; metrics are percentages (write 63.7 for 63.7%)"
    return value, None


def decimals(text: str) -> int:
    """Digits after the decimal point of a number as written (``'63.70'`` -> 2)."""
    text = (text or "").strip()
    return len(text.split(".", 1)[1]) if "." in text else 0


# ----------------------------------------------------------------------------------------------
# files


def rows_from_table(table: Table) -> tuple[list[Row], list[Problem]]:
    """Header checks, then one :class:`Row` per well-formed record."""
    problems = list(table.problems)
    if table.fatal:
        return [], problems
    header_problems, fatal = _check_header(table)
    problems += header_problems
    if fatal:
        return [], problems
    limit = row_limit(table.path)
    if len(table.rows) > limit:
        what = "the board's reported.csv" if limit == schema.MAX_REPORTED_ROWS else "a submission"
        problems.append(Problem(table.path, table.rows[limit].line, 0,
                                f"the file has {len(table.rows):,} rows; {what} holds at most {limit:,} (one row "
                                "per method, backbone, dataset, split and protocol): split it into several "
                                "submissions; nothing was checked beyond the header"))
        return [], problems
    positions = {name: i + 1 for i, name in enumerate(table.header)}
    rows = []
    for raw in table.rows:
        if len(raw.cells) != len(table.header):
            problems.append(Problem(table.path, raw.line, 0, _ragged_message(len(raw.cells), len(table.header))))
            continue
        values = {name: cell.strip() for name, cell in zip(table.header, raw.cells) if name in schema.COLUMNS}
        rows.append(Row(values, table.path, raw.line, positions))
    if not table.rows:
        problems.append(Problem(table.path, table.header_line, 0, "the file has a header but no rows; add one "
                                                                   "line per result"))
    return rows, problems


def row_limit(path) -> int:
    """How many rows a board file may hold: :data:`schema.MAX_REPORTED_ROWS` for ``reported.csv``,
    :data:`schema.MAX_SUBMISSION_ROWS` for any submission."""
    return schema.MAX_REPORTED_ROWS if os.path.basename(os.fspath(path)) == "reported.csv" \
        else schema.MAX_SUBMISSION_ROWS


def _ragged_message(found: int, expected: int) -> str:
    hint = ("a field with a comma inside (often 'reference' or 'notes') must be enclosed in double quotes, and "
            "numbers take a decimal point (63.7, not 63,7)"
            if found > expected else "every row needs one field per column, empty ones included (',,')")
    return f"the row has {found} fields but the header has {expected}; {hint}"


def _check_header(table: Table) -> tuple[list[Problem], bool]:
    problems, seen = [], set()
    known = set(schema.COLUMNS)
    for i, name in enumerate(table.header):
        where = (table.path, table.header_line, i + 1)
        if name in seen:
            problems.append(Problem(*where, f"column {name!r} appears twice in the header; keep one"))
        seen.add(name)
        if name not in known:
            problems.append(Problem(*where, _unknown_column_message(name)))
    missing = [c for c in schema.COLUMNS if c not in seen]
    if set(schema.REMOVED_IN_V2) <= seen and set(missing) <= set(schema.ADDED_IN_V2) | {"maps_content_sha256"}:
        return [Problem(table.path, table.header_line, 0,
                        f"this is a schema version 1 file (it has {', '.join(schema.REMOVED_IN_V2)} and lacks "
                        f"{', '.join(missing)}); upgrade it with 'wsolbench leaderboard migrate {table.path}' "
                        "(see leaderboard/SCHEMA.md, 'Versions')")], True
    for name in missing:
        problems.append(Problem(table.path, table.header_line, 0,
                                f"missing column {name!r}; schema v{schema.SCHEMA_VERSION} needs every column "
                                f"in the header (cells may be empty): add {name!r} to the header and a field to "
                                "every row (see leaderboard/SCHEMA.md)"))
    return problems, bool(missing)


def _unknown_column_message(name: str) -> str:
    if name in schema.REMOVED_IN_V2:
        return (f"column {name!r} is from schema version 1 (the file's byte checksum); version 2 records "
                "maps_content_sha256 instead: run 'wsolbench leaderboard migrate FILE'")
    lowered = name.strip().lower().replace(" ", "_").replace("-", "_")
    if lowered in schema.COLUMNS:
        return f"column {name!r} should be written {lowered!r} (lower case, underscores)"
    close = difflib.get_close_matches(name, schema.COLUMNS, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return (f"unknown column {name!r}; {hint}the columns are: {', '.join(schema.COLUMNS)}; put other "
            "information into 'notes'")


def validate_file(path, data: bytes | None = None) -> tuple[list[Row], list[Problem]]:
    """Validate one submission file (rows, duplicates within it).

    Args:
        path: the file.
        data: its content, if already read (what is validated is then exactly what will be copied).

    Returns:
        The rows read (including rows with problems) and every problem, in file order.
    """
    rows, problems = rows_from_table(read_table(path, data))
    for row in rows:
        problems += check_row(row)
    problems += find_duplicates(rows)
    return rows, _sorted(problems, [str(path)])


def validate_files(paths) -> tuple[list[Row], list[Problem]]:
    """Validate several files; duplicates are also looked for across them."""
    all_rows, problems = [], []
    for path in paths:
        rows, found = rows_from_table(read_table(path))
        for row in rows:
            found += check_row(row)
        all_rows += rows
        problems += found
    problems += find_duplicates(all_rows)
    return all_rows, _sorted(problems, [str(p) for p in paths])


def _sorted(problems: list[Problem], files: list[str]) -> list[Problem]:
    """Problems in the order of the files given, then by line and column."""
    order = {f: i for i, f in reversed(list(enumerate(files)))}
    return sorted(problems, key=lambda p: (order.get(p.file, len(order)), p.line, p.column))


# ----------------------------------------------------------------------------------------------
# rows


def check_row(row: Row) -> list[Problem]:
    """Every single-row check: names, types, ranges, protocol hash, provenance and consistency."""
    found: list[tuple[str | None, str]] = []
    for check in (_check_formulas, _check_names, _check_category, _check_protocol, _check_metrics,
                  _check_provenance, _check_schema_version):
        found += check(row)
    if not any(column in schema.METRIC_COLUMNS for column, _ in found):
        found += _check_consistency(row)
    first, seen = [], set()
    for column, message in found:                   # one problem per cell: the first check that failed it
        if column is None or column not in seen:
            first.append((column, message))
            seen.add(column)
    return [row.problem(column, message) for column, message in first]


def _text_problem(row: Row, column: str, *, required: bool = True) -> str | None:
    text = row[column]
    if not text:
        return f"{column} is empty" if required else None
    if len(text) > _MAX_TEXT:
        return f"{column} is {len(text)} characters long; keep it under {_MAX_TEXT} (details go to 'notes')"
    if any(ord(ch) < 32 for ch in text):
        return f"{column} contains a line break or control character; write it on one line"
    return None


def _check_names(row: Row) -> list[tuple[str, str]]:
    out = []
    for column in ("method", "reference", "notes"):
        message = _text_problem(row, column, required=column == "method")
        if message:
            out.append((column, message))
    for column, example in (("backbone", "resnet50"), ("split", "test")):
        text = row[column]
        if not text:
            out.append((column, f"{column} is empty; write e.g. {example!r}"))
        elif not _TOKEN.match(text):
            hint = f" (write {text.lower()!r})" if _TOKEN.match(text.lower()) else ""
            out.append((column, f"{column} {text!r} must be lower case letters, digits and . _ + -{hint}"))
    out += _check_dataset(row)
    return out


def _check_dataset(row: Row) -> list[tuple[str, str]]:
    text = row["dataset"]
    if text in schema.DATASETS:
        return []
    if not text:
        return [("dataset", f"dataset is empty; write one of {', '.join(schema.DATASETS)}")]
    normal = schema.normalize_dataset(text)
    if normal in schema.DATASETS:
        return [("dataset", f"dataset {text!r} should be written {normal!r}")]
    return [("dataset", f"unknown dataset {text!r}; known datasets: {', '.join(schema.DATASETS)} (a new dataset "
                        "needs an adapter and an entry in wsolbench/leaderboard/schema.py DATASETS)")]


def _check_formulas(row: Row) -> list[tuple[str, str]]:
    """Cells a spreadsheet would run (CSV injection) are refused rather than escaped: a leading quote
    would change the value for every other CSV reader, and no legitimate cell starts this way."""
    out = []
    for column in schema.COLUMNS:
        text = row[column]
        if column not in schema.METRIC_COLUMNS and text.startswith(schema.FORMULA_PREFIXES):
            out.append((column, f"{column} starts with {text[0]!r}, which makes spreadsheets run the cell as a "
                                "formula; rephrase it so that it starts with a letter or digit"))
    return out


def sanity_method(method: str) -> bool:
    """Whether a method name is one of the sanity baselines (``Center-gaussian baseline``, ``random``...)."""
    name = method.strip().lower().removesuffix(" baseline").strip()
    return name in schema.SANITY_METHODS


def _words(text: str) -> str:
    return " " + " ".join(re.findall(r"[a-z0-9]+", text.lower())) + " "


def fully_supervised_method(method: str) -> bool:
    """Whether a method name says it is trained with localization labels (FSL, few-shot, fully supervised)."""
    name = _words(method)
    return any(_words(word) in name for word in schema.FULLY_SUPERVISED_WORDS)


def _check_category(row: Row) -> list[tuple[str, str]]:
    category, method = row["category"], row["method"]
    if category not in schema.CATEGORIES:
        what = "category is empty" if not category else f"category {category!r} is unknown"
        return [("category", f"{what}; write one of {', '.join(schema.CATEGORIES)} ('method' for a weakly "
                             "supervised method; the others are reference lines, never ranked)")]
    if sanity_method(method) and category != "sanity":
        return [("category", f"{method!r} is a sanity baseline (its maps ignore the image); write category "
                             "'sanity' so that it is shown as a reference line, not ranked")]
    if fully_supervised_method(method) and category != "fully-supervised":
        return [("category", f"{method!r} is trained with localization labels; write category "
                             "'fully-supervised' so that it is shown as a reference line, not ranked")]
    return []


def _check_protocol(row: Row) -> list[tuple[str, str]]:
    name, given = row["protocol"], row["protocol_hash"]
    if name not in schema.PROTOCOLS:
        close = difflib.get_close_matches(name, schema.PROTOCOLS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        what = "protocol is empty" if not name else f"unknown protocol {name!r}"
        return [("protocol", f"{what}; {hint}known protocols: {', '.join(schema.PROTOCOLS)} (see "
                             "leaderboard/SCHEMA.md; evaluate with --protocol wsoleval or cam2016)")]
    info = schema.PROTOCOLS[name]
    try:
        options = schema.parse_options(row["protocol_options"])
        if options and not info.preset:
            raise ValueError(f"the reported-only protocol {name!r} takes no options; leave it empty")
        defaults = [k for k, v in options.items() if schema.expected_hash(name, {k: v}) == schema.expected_hash(name, {})]
        if defaults:
            raise ValueError(f"{', '.join(defaults)} is the preset's default; leave it out (one spelling per protocol)")
        expected = schema.expected_hash(name, options)
    except (ValueError, ProtocolError) as e:
        return [("protocol_options", f"protocol_options {row['protocol_options']!r}: {e}")]
    if given == expected:
        return []
    what = "protocol_hash is empty" if not given else f"protocol_hash {given!r} does not match"
    with_options = f" with options {row['protocol_options']!r}" if row["protocol_options"] else ""
    kind = "the hash of the preset" if info.preset else "its documented pseudo-hash"
    return [("protocol_hash", f"{what} protocol {name!r}{with_options}: expected {expected!r} ({kind}; see "
                              "leaderboard/SCHEMA.md, 'Protocol hashes')")]


def _check_metrics(row: Row) -> list[tuple[str, str]]:
    out, values = [], {}
    for column in schema.METRIC_COLUMNS:
        value, why = parse_percent(row[column])
        if why:
            out.append((column, f"{column}: {why}"))
        values[column] = value
    present = [v for v in values.values() if v is not None]
    if not out and not present:
        out.append((None, "the row has no metric; fill at least one of " + ", ".join(schema.METRIC_COLUMNS)))
    if present and max(present) <= 1.0:
        first = next(c for c in schema.METRIC_COLUMNS if values[c] is not None)
        out.append((first, f"every metric is at most 1 ({first} = {row[first]}); metrics are percentages: "
                           "write 63.7, not 0.637"))
    return out


def _check_provenance(row: Row) -> list[tuple[str, str]]:
    source = row["source"]
    if source not in schema.SOURCES:
        return [("source", f"source {source!r} must be 'verified' (computed by wsolbench from a score-map file) "
                           "or 'reported' (copied from a paper, with its reference)")]
    if source == "reported":
        return _check_reported(row)
    return _check_verified(row)


def _check_reported(row: Row) -> list[tuple[str, str]]:
    out = []
    if not row["reference"]:
        out.append(("reference", "a reported row needs its reference: the paper (authors, venue, year, table) "
                                 "or a URL the number can be checked against"))
    for column in ("maps_content_sha256", "maps_url", "gt_fingerprint", "wsolbench_version"):
        if row[column]:
            out.append((column, f"{column} must be empty for a reported row (only rows wsolbench computed from a "
                                "score-map file carry one); use source 'verified' for those"))
    if row["n_images"]:
        out += _check_count(row)
    if row["date"]:
        out += _check_date(row)
    return out


_EVALUATE = "written by 'wsolbench evaluate MAPS --gt SPEC --submission ROW.csv'"


def _check_hash_cell(row: Row, column: str, what: str) -> list[tuple[str, str]]:
    value = row[column]
    if not schema.is_sha256(value):
        found = "is empty" if not value else f"{value!r} is not 64 lower-case hex digits"
        return [(column, f"{column} {found}; a verified row carries {what} ({_EVALUATE})")]
    if len(set(value)) == 1:
        return [(column, f"{column} is {value[:8]}... (one digit repeated), a placeholder, not a hash; write "
                         f"{what} ({_EVALUATE})")]
    return []


def _check_count(row: Row) -> list[tuple[str, str]]:
    text = row["n_images"]
    if not text:
        return [("n_images", f"n_images is empty; a verified row records how many images were evaluated "
                             f"({_EVALUATE})")]
    if not text.isdigit() or int(text) < 1:
        return [("n_images", f"n_images {text!r} is not a positive whole number of images")]
    return []


def _check_url(row: Row) -> list[tuple[str, str]]:
    url = row["maps_url"]
    if not url:
        if row["dataset"] in schema.REGENERABLE_DATASETS:
            return []
        return [("maps_url", "maps_url is empty; a verified row says where its score-map file can be downloaded "
                             "(https://...), so that anyone can recompute it with 'wsolbench leaderboard verify' "
                             "(see leaderboard/README.md, 'How a row reaches the board')")]
    if not _URL.match(url) or len(url) > _MAX_TEXT:
        return [("maps_url", f"maps_url {url[:60]!r} is not an http(s) URL of at most {_MAX_TEXT} characters")]
    return []


def _check_verified(row: Row) -> list[tuple[str, str]]:
    out = _check_hash_cell(row, "maps_content_sha256", "the content hash of its score maps")
    out += _check_hash_cell(row, "gt_fingerprint", "the fingerprint of the ground truth it was evaluated on")
    out += _check_count(row) + _check_url(row)
    if not any(column in ("n_images", "gt_fingerprint") for column, _ in out):
        out += check_official_ground_truth(row)
    version = row["wsolbench_version"]
    if not _VERSION.match(version):
        what = "is empty" if not version else f"{version!r} is not a version number"
        out.append(("wsolbench_version", f"wsolbench_version {what}; write the version that computed the row "
                                         "(wsolbench --version)"))
    if not schema.PROTOCOLS.get(row["protocol"], schema.PROTOCOLS["wsoleval"]).preset:
        out.append(("protocol", f"protocol {row['protocol']!r} is reported-only; a verified row is measured "
                                "under a preset (wsoleval or cam2016)"))
    out += _check_date(row) if row["date"] else [("date", "date is empty; write the evaluation date, YYYY-MM-DD")]
    return out


def check_official_ground_truth(row: Row) -> list[tuple[str, str]]:
    """A verified row of a dataset with a card must be measured on one of its official splits: the
    image count and the ground-truth fingerprint must be those the card lists (``datasets/cards``)."""
    from wsolbench.datasets.cards import official_split

    dataset, split = row["dataset"], row["split"]
    card, counts = official_split(dataset, split)
    if card is None:
        return []
    splits = card.board_splits()
    if counts is None:
        return [("split", f"{dataset} has no official split {split!r}; verified rows are measured on one of "
                          f"{', '.join(splits)} (wsolbench/datasets/cards/{dataset}.toml)")]
    out = []
    card_file = f"wsolbench/datasets/cards/{dataset}.toml"
    if int(row["n_images"]) != counts.images:
        out.append(("n_images", f"n_images {int(row['n_images']):,} is not the {counts.images:,} images of the "
                                f"official {dataset} {split} split ({card_file}): the maps were evaluated on other "
                                "ground truth (a subset, or a folder that only has the split's name); evaluate "
                                "against the complete split"))
    fingerprint = row["gt_fingerprint"]
    if counts.fingerprint and fingerprint != counts.fingerprint:
        other = [name for name, c in splits.items() if c.fingerprint == fingerprint]
        hint = f"it is the fingerprint of {dataset} {other[0]!r}: write split {other[0]!r}" if other else \
            "the images, labels, boxes or mask files differ from the official ones"
        out.append(("gt_fingerprint", f"gt_fingerprint {fingerprint[:12]}... is not the fingerprint of the official "
                                      f"{dataset} {split} split ({counts.fingerprint[:12]}..., {card_file}); {hint}"))
    return out


def _check_date(row: Row) -> list[tuple[str, str]]:
    text = row["date"]
    m = _DATE.match(text)
    try:
        if not m:
            raise ValueError
        day = _dt.date(int(m.group(1)), int(m.group(3) or 1), int(m.group(5) or 1))
    except ValueError:
        return [("date", f"date {text!r} is not a calendar date written YYYY-MM-DD (or YYYY-MM, YYYY)")]
    if day > _dt.date.today() + _dt.timedelta(days=1):
        return [("date", f"date {text} is in the future")]
    return []


def _check_schema_version(row: Row) -> list[tuple[str, str]]:
    text = row["schema_version"]
    if text == str(schema.SCHEMA_VERSION):
        return []
    if text.isdigit() and int(text) > schema.SCHEMA_VERSION:
        return [("schema_version", f"schema_version {text} is newer than this wsolbench understands "
                                   f"({schema.SCHEMA_VERSION}); upgrade wsolbench")]
    return [("schema_version", f"schema_version {text!r} is not supported; write {schema.SCHEMA_VERSION}")]


# ----------------------------------------------------------------------------------------------
# consistency between the numbers of one row


def _tolerance(row: Row, columns) -> float:
    """Half a unit of the coarsest precision among ``columns``, for each rounding involved."""
    digits = min(decimals(row[c]) for c in columns)
    return 10.0 ** -digits + 1e-9


def _check_consistency(row: Row) -> list[tuple[str, str]]:
    v = row.metrics()
    out = []
    ious = ("maxboxacc_iou30", "maxboxacc_iou50", "maxboxacc_iou70")
    if v["maxboxacc_v2"] is not None and all(v[c] is not None for c in ious):
        mean = sum(v[c] for c in ious) / 3
        if abs(mean - v["maxboxacc_v2"]) > _tolerance(row, ("maxboxacc_v2", *ious)):
            out.append(("maxboxacc_v2", f"maxboxacc_v2 {row['maxboxacc_v2']} is not the mean of maxboxacc_iou30/50/70 "
                                        f"({mean:.4g}); MaxBoxAccV2 is by definition their mean"))
    present = [c for c in ious if v[c] is not None]
    for a, b in zip(present, present[1:]):
        if v[a] + _tolerance(row, (a, b)) < v[b]:
            out.append((b, f"{b} {row[b]} exceeds {a} {row[a]}; box accuracy cannot grow with a stricter IoU"))
    for upper in ("gt_known_loc", "top1_cls"):
        if v["top1_loc"] is not None and v[upper] is not None and v["top1_loc"] > v[upper] + _tolerance(
                row, ("top1_loc", upper)):
            out.append(("top1_loc", f"top1_loc {row['top1_loc']} exceeds {upper} {row[upper]}; a top-1 "
                                    f"localization is also a correct {'box' if upper == 'gt_known_loc' else 'class'}"))
    if row["protocol"] == "cam2016":
        for column in ("maxboxacc", "maxboxacc_v2", *ious):
            if v[column] is not None:
                out.append((column, f"{column} must be empty under cam2016: it is a maximum over thresholds (and "
                                    "MaxBoxAccV2 also over IoUs and all regions), but cam2016 uses one fixed "
                                    "threshold, the largest region and IoU 50; report gt_known_loc/top1_loc"))
    return out


# ----------------------------------------------------------------------------------------------
# duplicates


def find_duplicates(rows: list[Row], *, against: list[Row] = ()) -> list[Problem]:
    """Rows with the same :data:`schema.KEY_COLUMNS` as an earlier row (or a row of ``against``)."""
    seen: dict[tuple, Row] = {}
    for row in against:
        seen.setdefault(row.key, row)
    problems = []
    for row in rows:
        first = seen.get(row.key)
        if first is None:
            seen[row.key] = row
            continue
        same = "identical to" if first.values == row.values else "same " + ", ".join(schema.KEY_COLUMNS) + " as"
        problems.append(row.problem(None, f"duplicated row: {same} {first.where}; keep one row per method, "
                                          "backbone, dataset, split, protocol and source (to update a "
                                          "submission, replace its file: 'wsolbench leaderboard add --replace')"))
    return problems
