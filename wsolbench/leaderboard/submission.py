"""Leaderboard rows from evaluation results, and submission files.

``wsolbench evaluate MAPS --gt SPEC --submission ROW.csv --method NAME --backbone NAME`` calls
:func:`row_from_result` and :func:`write_submission`; the row is ``verified``: it carries the
protocol hash and the SHA-256 of the score-map file, so anyone can recompute it with
``wsolbench leaderboard verify``.

Example:
    >>> from wsolbench.leaderboard.submission import row_from_result, write_submission
    >>> row = row_from_result(result.to_dict(), method="CAM", backbone="resnet50")   # doctest: +SKIP
    >>> write_submission("cam-resnet50-cub.csv", [row])                             # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt

from wsolbench.errors import SubmissionError
from wsolbench.leaderboard import schema
from wsolbench.leaderboard.csvio import write_csv_atomic
from wsolbench.leaderboard.validate import Row, check_row, find_duplicates

#: Decimals written for verified metrics (``verify`` compares to this precision).
METRIC_DECIMALS = 4


def row_from_result(result: dict, *, method: str, backbone: str, reference: str = "", notes: str = "",
                    dataset: str | None = None, date: str | None = None) -> dict:
    """A verified leaderboard row from a result dict (``docs/result-json.md``).

    Args:
        result: ``EvaluationResult.to_dict()`` (or the JSON written by ``evaluate --out``).
        method: method name as it should appear on the board (e.g. ``CAM``).
        backbone: backbone name, lower case (e.g. ``resnet50``).
        reference: paper or URL of the method (optional for verified rows).
        notes: free text.
        dataset: override the dataset name (default: the result's, normalised, e.g. ``CUB`` -> ``cub``).
        date: override the date (default: the day the result was computed).

    Returns:
        A dict with every column of :data:`schema.COLUMNS` (strings).

    Raises:
        SubmissionError: the result cannot make a valid row (the message lists why).
    """
    protocol_name = result.get("protocol_name")
    if protocol_name not in schema.PROTOCOLS or not schema.PROTOCOLS[protocol_name].preset:
        raise SubmissionError(f"the result's protocol {protocol_name!r} is not a wsolbench preset; "
                              "evaluate with --protocol wsoleval or cam2016")
    row = {c: "" for c in schema.COLUMNS}
    row.update(method=method.strip(), backbone=backbone.strip(), reference=reference.strip(), notes=notes.strip(),
               dataset=dataset or schema.normalize_dataset(result.get("dataset", {}).get("name", "")),
               split=(result.get("dataset", {}).get("split") or "").strip(),
               protocol=protocol_name, protocol_hash=result.get("protocol_hash", ""),
               protocol_options=schema.format_options(protocol_options(result)),
               maps_sha256=result.get("maps", {}).get("sha256", ""),
               wsolbench_version=result.get("wsolbench_version", ""), source="verified",
               date=date or (result.get("created") or _dt.date.today().isoformat())[:10],
               schema_version=str(schema.SCHEMA_VERSION))
    metrics = result.get("metrics", {})
    for column in schema.METRIC_COLUMNS:
        row[column] = format_metric(metrics.get(column))
    problems = check_row(Row(row))
    if problems:
        raise SubmissionError("the result does not make a valid leaderboard row: " +
                              "; ".join(p.message for p in problems))
    return row


def format_metric(value) -> str:
    """A metric as written in a verified row: fixed :data:`METRIC_DECIMALS` decimals, empty for ``None``."""
    return "" if value is None else f"{float(value):.{METRIC_DECIMALS}f}"


def protocol_options(result: dict) -> dict:
    """The options that rebuild the result's protocol from its preset (``cam_step``, ``threshold``, ``resolution``).

    Raises:
        SubmissionError: the protocol differs from its preset in a way the options cannot express.
    """
    name, actual = result["protocol_name"], dict(result.get("protocol") or {})
    default = schema.build_protocol(name, {}).to_dict()
    options = {}
    if actual.get("cam_step", default["cam_step"]) != default["cam_step"]:
        options["cam_step"] = actual["cam_step"]
    if actual.get("fixed_threshold", default["fixed_threshold"]) != default["fixed_threshold"]:
        options["threshold"] = actual["fixed_threshold"]
    if list(actual.get("resolution", default["resolution"])) != list(default["resolution"]):
        options["resolution"] = tuple(actual["resolution"])
    rebuilt = schema.build_protocol(name, options)
    if rebuilt.hash() != result.get("protocol_hash"):
        changed = sorted(k for k, v in rebuilt.to_dict().items() if actual.get(k, v) != v)
        raise SubmissionError(f"the result's protocol (hash {result.get('protocol_hash')!r}) is not the preset "
                              f"{name!r} with cam_step/threshold/resolution options (differs in: "
                              f"{', '.join(changed) or 'the hash only; was it computed by another wsolbench version?'}); "
                              "the leaderboard accepts presets only")
    return options


def write_submission(path, rows) -> str:
    """Write submission rows (dicts keyed by :data:`schema.COLUMNS`) atomically.

    Args:
        path: the CSV file to write (replaced if it exists).
        rows: the rows; each is checked first.

    Returns:
        The path written.

    Raises:
        SubmissionError: a row is invalid or two rows are duplicates (nothing is written).
    """
    rows = list(rows)
    if not rows:
        raise SubmissionError(f"{path}: no rows to write")
    checked = [Row({c: str(r.get(c) or "").strip() for c in schema.COLUMNS}, str(path), i + 2)
               for i, r in enumerate(rows)]
    problems = [p for row in checked for p in check_row(row)] + find_duplicates(checked)
    if problems:
        raise SubmissionError("; ".join(str(p) for p in problems))
    return write_csv_atomic(path, schema.COLUMNS, [r.values for r in checked])


#: Columns of a verified row known before the evaluation runs (checked by :func:`check_row_identity`).
IDENTITY_COLUMNS = ("method", "backbone", "dataset", "split", "protocol", "protocol_options", "reference", "notes")


def check_row_identity(*, method: str, backbone: str, dataset: str, split: str, protocol, reference: str = "",
                       notes: str = "") -> None:
    """Refuse, before any evaluation, a ``--submission`` row that could never be valid: an unknown
    dataset, a badly written method/backbone/split, a protocol that is not a verifiable preset.

    Args:
        method, backbone, dataset, split, reference, notes: the row's values (``dataset`` as the board
            spells it, e.g. ``cub``).
        protocol: the :class:`~wsolbench.protocol.Protocol` the evaluation will use.

    Raises:
        SubmissionError: listing the problems; nothing has been evaluated or written.
    """
    if protocol.name not in schema.PROTOCOLS or not schema.PROTOCOLS[protocol.name].preset:
        raise SubmissionError(f"--submission: protocol {protocol.name!r} is not a wsolbench preset; evaluate with "
                              "--protocol wsoleval or cam2016")
    draft = {c: "" for c in schema.COLUMNS}
    draft.update(method=method.strip(), backbone=backbone.strip(), dataset=dataset, split=(split or "").strip(),
                 protocol=protocol.name, reference=reference.strip(), notes=notes.strip())
    row = Row(draft)
    columns = {row.positions[c] for c in IDENTITY_COLUMNS}
    problems = [p for p in check_row(row) if p.column in columns]
    if problems:
        raise SubmissionError("--submission: the leaderboard row would be refused, so nothing was evaluated: "
                              + "; ".join(p.message for p in problems)
                              + " (set the row's names with --method, --backbone, --dataset)")
