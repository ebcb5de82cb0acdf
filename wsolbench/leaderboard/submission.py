"""Leaderboard rows from evaluation results, and submission files.

``wsolbench evaluate MAPS --gt SPEC --submission ROW.csv --method NAME --backbone NAME [--maps-url URL]``
calls :func:`row_from_result` and :func:`write_submission`; the row is ``verified``: it carries the
protocol hash, the number of images and the fingerprint of the ground truth, and the content hash
of the score maps (and where they can be downloaded), so anyone can recompute it with
``wsolbench leaderboard verify``.

Example:
    >>> from wsolbench.leaderboard.submission import row_from_result, write_submission
    >>> row = row_from_result(result.to_dict(), method="CAM", backbone="resnet50",
    ...                       maps_url="https://example.org/cam-resnet50-cub.h5")              # doctest: +SKIP
    >>> write_submission("cam-resnet50-cub.csv", [row])                                      # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt

from wsolbench.errors import SubmissionError
from wsolbench.leaderboard import schema
from wsolbench.leaderboard.csvio import write_csv_atomic
from wsolbench.leaderboard.validate import (Row, check_official_ground_truth, check_row, find_duplicates,
                                           fully_supervised_method, row_limit, sanity_method)

#: Decimals written for verified metrics (``verify`` compares to this precision).
METRIC_DECIMALS = 4


def row_from_result(result: dict, *, method: str, backbone: str, reference: str = "", notes: str = "",
                    dataset: str | None = None, date: str | None = None, category: str | None = None,
                    maps_url: str = "") -> dict:
    """A verified leaderboard row from a result dict (``docs/result-json.md``).

    Args:
        result: ``EvaluationResult.to_dict()`` (or the JSON written by ``evaluate --out``).
        method: method name as it should appear on the board (e.g. ``CAM``).
        backbone: backbone name, lower case (e.g. ``resnet50``).
        reference: paper or URL of the method (optional for verified rows).
        notes: free text.
        dataset: override the dataset name (default: the result's, normalised, e.g. ``CUB`` -> ``cub``).
        date: override the date (default: the day the result was computed).
        category: ``method``, ``sanity`` or ``fully-supervised`` (default: ``sanity`` for the sanity
            baselines' names, ``fully-supervised`` for FSL names, else ``method``).
        maps_url: where the score-map file can be downloaded (required except for the embedded
            benchmarks, whose maps a documented command regenerates).

    Returns:
        A dict with every column of :data:`schema.COLUMNS` (strings). The split is the board's name of
        the official split whose fingerprint the ground truth has (ILSVRC's native ``val`` is the
        board's ``test``), else the result's.

    Raises:
        SubmissionError: the result cannot make a valid row (the message lists why).
    """
    protocol_name = result.get("protocol_name")
    if protocol_name not in schema.PROTOCOLS or not schema.PROTOCOLS[protocol_name].preset:
        raise SubmissionError(f"the result's protocol {protocol_name!r} is not a wsolbench preset; "
                              "evaluate with --protocol wsoleval or cam2016")
    info = result.get("dataset", {})
    name = dataset or schema.normalize_dataset(info.get("name", ""))
    row = {c: "" for c in schema.COLUMNS}
    row.update(method=method.strip(), backbone=backbone.strip(), reference=reference.strip(), notes=notes.strip(),
               category=category or default_category(method), dataset=name,
               split=board_split(name, (info.get("split") or "").strip(), info.get("fingerprint")),
               protocol=protocol_name, protocol_hash=result.get("protocol_hash", ""),
               protocol_options=schema.format_options(protocol_options(result)),
               n_images=str(info.get("n_images", "")), gt_fingerprint=info.get("fingerprint") or "",
               maps_content_sha256=result.get("maps", {}).get("content_sha256") or "", maps_url=maps_url.strip(),
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


def default_category(method: str) -> str:
    """``sanity`` for the sanity baselines' names, ``fully-supervised`` for FSL-like names, else ``method``."""
    if sanity_method(method):
        return "sanity"
    return "fully-supervised" if fully_supervised_method(method) else "method"


def board_split(dataset: str, split: str, fingerprint: str | None) -> str:
    """The board's name of the official split with this ground-truth fingerprint (``split`` if none has it)."""
    from wsolbench.datasets.cards import official_split

    card, _ = official_split(dataset, split)
    if card is None or not fingerprint:
        return split
    names = [name for name, counts in card.board_splits().items() if counts.fingerprint == fingerprint]
    return names[0] if names else split


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
    if len(rows) > row_limit(path):
        raise SubmissionError(f"{path}: {len(rows)} rows; a file holds at most {row_limit(path)}: write several files")
    checked = [Row({c: str(r.get(c) or "").strip() for c in schema.COLUMNS}, str(path), i + 2)
               for i, r in enumerate(rows)]
    problems = [p for row in checked for p in check_row(row)] + find_duplicates(checked)
    if problems:
        raise SubmissionError("; ".join(str(p) for p in problems))
    return write_csv_atomic(path, schema.COLUMNS, [r.values for r in checked])


#: Columns of a verified row known before the evaluation runs (checked by :func:`check_row_identity`).
IDENTITY_COLUMNS = ("method", "backbone", "dataset", "split", "protocol", "protocol_options", "reference", "notes")


def check_row_identity(*, method: str, backbone: str, dataset: str, split: str, protocol, reference: str = "",
                       notes: str = "", ground_truth=None) -> None:
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
    if ground_truth is not None and not problems:
        fingerprint = ground_truth.fingerprint()
        draft.update(split=board_split(dataset, draft["split"], fingerprint), n_images=str(len(ground_truth)),
                     gt_fingerprint=fingerprint)
        row = Row(draft)
        problems = [row.problem(column, message) for column, message in check_official_ground_truth(row)]
    if problems:
        raise SubmissionError("--submission: the leaderboard row would be refused, so nothing was evaluated: "
                              + "; ".join(p.message for p in problems)
                              + " (set the row's names with --method, --backbone, --dataset)")
