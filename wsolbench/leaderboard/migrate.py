"""Upgrading submission files from schema version 1 to version 2 (``wsolbench leaderboard migrate``).

What version 2 changed, and what the migration does with each row:

* ``category`` (new): from the method name, as :func:`~wsolbench.leaderboard.submission.default_category`
  decides (``sanity`` for center-gaussian/random/full-image, ``fully-supervised`` for FSL-like
  names, else ``method``).
* the ``wsoleval`` preset's default CAM-threshold step went from 0.01 to 0.001 (the reference's
  own default). A version 1 row with default options was measured at step 0.01, so it gets
  ``protocol_options = cam_step=0.01``; its ``protocol_hash`` stays the same (the hash covers the
  step, not the word "default"). A version 1 row with ``cam_step=0.001`` now has the default
  options. Rows whose numbers are known to come from step 0.001 (the wsolevaluation paper's) must
  be re-stamped by hand, with the evidence: the migration keeps what each row said.
* reported rows: ``n_images``, ``gt_fingerprint``, ``maps_content_sha256`` and ``maps_url`` stay
  empty.
* verified rows cannot be migrated: version 1 recorded the file's byte checksum (``maps_sha256``),
  not the content hash and the ground truth's count and fingerprint that version 2 requires. They
  are reported, and the file is left unchanged: re-evaluate their maps with
  ``wsolbench evaluate MAPS --gt SPEC --submission ROW.csv``.

Nothing is written unless every row migrates and validates; files are rewritten atomically.

Example:
    >>> report = migrate_file("old.csv")           # doctest: +SKIP
    >>> report.n_rows, report.problems             # doctest: +SKIP
    (12, [])
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wsolbench.leaderboard import schema
from wsolbench.leaderboard.csvio import read_table, write_csv_atomic
from wsolbench.leaderboard.problems import Problem

#: The columns of a version 1 file, in the order version 1 wrote them.
V1_COLUMNS = ("method", "backbone", "dataset", "split", "protocol", "protocol_hash", "protocol_options",
              *schema.METRIC_COLUMNS, "maps_sha256", "wsolbench_version", "source", "reference", "date", "notes",
              "schema_version")
#: The ``wsoleval`` step that version 1 rows without options were measured at.
V1_WSOLEVAL_STEP = 0.01


@dataclass
class MigrationReport:
    """What :func:`migrate_file` did: rows migrated, problems (then nothing was written), changes made."""

    path: str
    n_rows: int = 0
    written: bool = False
    problems: list[Problem] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)


def migrate_file(path, *, dry_run: bool = False) -> MigrationReport:
    """Rewrite a version 1 submission file as version 2 (atomically; nothing on any problem)."""
    from wsolbench.leaderboard.validate import Row, check_row, find_duplicates

    report = MigrationReport(str(path))
    table = read_table(path)
    report.problems += table.problems
    if table.fatal:
        return report
    if sorted(table.header) != sorted(V1_COLUMNS):
        version = "2" if sorted(table.header) == sorted(schema.COLUMNS) else "an unknown version"
        report.problems.append(Problem(str(path), table.header_line, 0,
                                       f"the header is not schema version 1's (it is {version}); only version 1 "
                                       "files are migrated"))
        return report
    rows = []
    for raw in table.rows:
        if len(raw.cells) != len(table.header):
            report.problems.append(Problem(str(path), raw.line, 0, "the row has another number of fields than the "
                                                                   "header; fix it first"))
            continue
        values = {name: cell.strip() for name, cell in zip(table.header, raw.cells)}
        migrated, problem = _migrate_row(values)
        if problem:
            report.problems.append(Problem(str(path), raw.line, 0, problem))
            continue
        row = Row(migrated, str(path), raw.line)
        report.problems += check_row(row)
        rows.append(row)
        report.changes += [f"{path}:{raw.line}: {change}" for change in _describe(values, migrated)]
    report.problems += find_duplicates(rows)
    report.n_rows = len(rows)
    if report.problems or dry_run:
        return report
    write_csv_atomic(path, schema.COLUMNS, [r.values for r in rows])
    report.written = True
    return report


def _migrate_row(values: dict) -> tuple[dict, str | None]:
    from wsolbench.leaderboard.submission import default_category

    if values.get("source") == "verified":
        return values, ("a verified version 1 row records the file's byte checksum (maps_sha256), not the content "
                        "hash, image count and ground-truth fingerprint version 2 requires: re-evaluate its maps "
                        "with 'wsolbench evaluate MAPS --gt SPEC --submission ROW.csv' (and --maps-url)")
    row = {c: values.get(c, "") for c in schema.COLUMNS}
    row.update(category=default_category(values["method"]), schema_version=str(schema.SCHEMA_VERSION))
    if values["protocol"] == "wsoleval":
        try:
            options = schema.parse_options(values["protocol_options"])
        except ValueError as e:
            return values, f"protocol_options {values['protocol_options']!r}: {e}"
        options.setdefault("cam_step", V1_WSOLEVAL_STEP)
        if options["cam_step"] == schema.build_protocol("wsoleval", {}).cam_step:
            del options["cam_step"]
        row["protocol_options"] = schema.format_options(options)
    return row, None


def _describe(old: dict, new: dict) -> list[str]:
    changes = [f"category {new['category']!r}"]
    if old["protocol_options"] != new["protocol_options"]:
        changes.append(f"protocol_options {old['protocol_options'] or '(defaults)'!r} -> "
                       f"{new['protocol_options'] or '(defaults)'!r} (same protocol_hash {new['protocol_hash']})")
    return changes
