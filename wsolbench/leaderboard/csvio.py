"""Reading submission CSV files with every physical-level problem located, and writing them atomically.

Reading never raises on a bad file: encoding, byte-order marks, delimiters, quoting and ragged rows
become :class:`~wsolbench.leaderboard.problems.Problem` objects with a line and a column.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field

from wsolbench.atomic import write_text_atomic
from wsolbench.leaderboard.problems import Problem
from wsolbench.leaderboard.schema import MAX_FILE_BYTES

_BOM_UTF8 = b"\xef\xbb\xbf"
_BOMS_OTHER = {b"\xff\xfe\x00\x00": "UTF-32", b"\x00\x00\xfe\xff": "UTF-32", b"\xff\xfe": "UTF-16",
               b"\xfe\xff": "UTF-16"}
_OTHER_DELIMITERS = {";": "semicolons", "\t": "tabs", "|": "vertical bars"}


@dataclass
class RawRow:
    """One data record: the physical line it starts on and its fields (not yet stripped)."""

    line: int
    cells: list[str]


@dataclass
class Table:
    """A CSV file split into a header and records.

    Attributes:
        path: the file as given.
        header: the header's column names, stripped (empty if the file could not be read).
        header_line: the physical line of the header.
        rows: the data records, blank lines skipped.
        problems: problems found while reading.
        fatal: True when the file could not be read far enough to check its rows.
    """

    path: str
    header: list[str] = field(default_factory=list)
    header_line: int = 1
    rows: list[RawRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    fatal: bool = False

    def fail(self, line: int, column: int, message: str) -> "Table":
        self.problems.append(Problem(self.path, line, column, message))
        self.fatal = True
        return self


def read_bytes(path) -> bytes:
    """The bytes of a board file, at most :data:`MAX_FILE_BYTES` + 1 (more is refused by :func:`read_table`).

    Raises:
        OSError: the file cannot be read.
    """
    with open(path, "rb") as f:
        return f.read(MAX_FILE_BYTES + 1)


def read_table(path, data: bytes | None = None) -> Table:
    """Read a CSV file (or its ``data``, read before); problems of size, encoding, BOM, delimiter and
    quoting are collected, not raised."""
    table = Table(str(path))
    if data is None:
        try:
            data = read_bytes(path)
        except OSError as e:
            return table.fail(0, 0, f"cannot read the file ({e.strerror or e}); check the path")
    if len(data) > MAX_FILE_BYTES:
        return table.fail(0, 0, f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; a leaderboard file "
                                "holds at most a few hundred rows: split it into several submissions")
    text = _decode(data, table)
    if text is None:
        return table
    return _parse(text, table)


def _decode(data: bytes, table: Table) -> str | None:
    for bom, name in _BOMS_OTHER.items():
        if data.startswith(bom):
            table.fail(1, 1, f"the file is {name}-encoded (it starts with a {name} byte-order mark); "
                             "save it as UTF-8 without a byte-order mark")
            return None
    if data.startswith(_BOM_UTF8):
        table.problems.append(Problem(
            table.path, 1, 1, "the file starts with a UTF-8 byte-order mark (BOM, bytes EF BB BF), which "
            "becomes part of the first column's name; save it as UTF-8 without BOM (spreadsheets: "
            "'CSV (comma delimited)' rather than 'CSV UTF-8'; or run: sed -i '1s/^\\xEF\\xBB\\xBF//' FILE)"))
        data = data[len(_BOM_UTF8):]
    if not data.strip():
        table.fail(1, 0, "the file is empty; expected a header line naming the columns (see "
                         "leaderboard/SCHEMA.md) followed by one line per result")
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        table.fail(line, column, f"byte 0x{data[e.start]:02X} is not valid UTF-8; save the file as UTF-8 "
                                 "(a spreadsheet's 'CSV (comma delimited)' export may use another encoding)")
        return None


def _parse(text: str, table: Table) -> Table:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    end_of_previous = 0
    try:
        for cells in reader:
            start = end_of_previous + 1
            end_of_previous = reader.line_num
            if not cells or all(not c.strip() for c in cells):
                continue
            if not table.header:
                if _wrong_delimiter(cells, start, table):
                    return table
                table.header = [c.strip() for c in cells]
                table.header_line = start
                continue
            table.rows.append(RawRow(start, cells))
    except csv.Error as e:
        return table.fail(reader.line_num, 0, f"malformed CSV ({e}); a field that contains a comma, a quote "
                                              "or a line break must be enclosed in double quotes, with "
                                              "inner quotes doubled (\"\")")
    return table


def _wrong_delimiter(cells: list[str], line: int, table: Table) -> bool:
    if len(cells) > 1:
        return False
    for delimiter, name in _OTHER_DELIMITERS.items():
        position = cells[0].find(delimiter)
        if position >= 0:
            table.fail(line, position + 1, f"the header is separated by {name} ({delimiter!r}), not commas; "
                                           "write a comma-separated file (spreadsheets: save as 'CSV (comma "
                                           "delimited)'; pandas: to_csv(..., sep=','))")
            return True
    return False


def write_csv_atomic(path, columns, rows) -> str:
    """Write dict rows (``columns`` order, missing keys empty) to ``path`` via a temporary file + rename.

    A crash at any point leaves either the old file or the new one, never half of one.

    Returns:
        The path written.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n", extrasaction="raise")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: "" if row.get(c) is None else row.get(c) for c in columns})
    write_text_atomic(path, buffer.getvalue())
    return path


