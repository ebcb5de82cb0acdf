"""Recomputing a verified row from its score maps (``wsolbench leaderboard verify``).

The protocol is rebuilt from the row's preset and options (and the dataset's own evaluation
frame, as ``wsolbench evaluate`` does) and must hash to the row's ``protocol_hash``; the ground
truth given must be the row's (dataset, split, image count and fingerprint); then the maps are
evaluated with :func:`wsolbench.pipeline.evaluate_maps` and every metric must equal the row's to
the row's printed precision, and the maps' content hash (computed from the maps as they are
evaluated, see :mod:`wsolbench.scoremaps.content`) must equal ``maps_content_sha256``. The file's
own bytes do not matter: regenerated identical maps verify.

Example:
    >>> from wsolbench.leaderboard.validate import validate_file
    >>> from wsolbench.leaderboard.verify import verify_row
    >>> rows, _ = validate_file("cam.csv")                                          # doctest: +SKIP
    >>> report = verify_row(rows[0], "cam.h5", "wsoleval:metadata/CUB/test")        # doctest: +SKIP
    >>> report.ok, report.problems                                                  # doctest: +SKIP
    (True, [])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from wsolbench.errors import ProtocolError, SubmissionError
from wsolbench.leaderboard import schema
from wsolbench.leaderboard.validate import Row, decimals


@dataclass
class VerifyReport:
    """The outcome of recomputing one row.

    Attributes:
        row: the row verified.
        problems: every difference found (empty when the row is confirmed).
        recomputed: the metrics as recomputed (empty if evaluation did not run).
        maps_content_sha256: the content hash of the maps file given.
        gt_fingerprint: the fingerprint of the ground truth given.
        protocol_hash: the hash of the rebuilt protocol.
    """

    row: Row
    problems: list[str] = field(default_factory=list)
    recomputed: dict = field(default_factory=dict)
    maps_content_sha256: str = ""
    gt_fingerprint: str = ""
    protocol_hash: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


def select_row(rows: list[Row], *, line: int | None = None, content_sha256: str | None = None) -> Row:
    """Pick the row to verify: the one at ``line``, the only verified row, or the one with this content hash.

    Raises:
        SubmissionError: no such row, or several candidates.
    """
    if line is not None:
        for row in rows:
            if row.line == line:
                return row
        raise SubmissionError(f"no row starts on line {line}; rows start on lines "
                              f"{', '.join(str(r.line) for r in rows) or '(none)'}")
    verified = [r for r in rows if r["source"] == "verified"]
    if len(verified) > 1 and content_sha256:
        verified = [r for r in verified if r["maps_content_sha256"] == content_sha256] or verified
    if len(verified) == 1:
        return verified[0]
    if not verified:
        raise SubmissionError("the file has no verified row; only rows computed by wsolbench from a score-map "
                              "file (source 'verified') can be recomputed")
    raise SubmissionError(f"the file has {len(verified)} verified rows (lines "
                          f"{', '.join(str(r.line) for r in verified)}); choose one with --line")


def verify_row(row: Row, maps, gt: str, *, split: str | None = None, mask_root: str | None = None,
               workers: int = 1, progress: Callable[[int, int], None] | None = None,
               evaluate: Callable | None = None, load: Callable | None = None) -> VerifyReport:
    """Recompute ``row`` from the score-map file ``maps`` against the ground truth ``gt``.

    Args:
        row: a verified row.
        maps: the score-map file the row was computed from.
        gt: the dataset spec (``NAME:PATH``) of the row's dataset and split.
        split, mask_root: passed to the dataset adapter.
        workers: evaluation processes.
        progress: ``progress(done, total)`` during evaluation.
        evaluate, load: replacements of :func:`wsolbench.pipeline.evaluate_maps` and
            :func:`wsolbench.datasets.load_annotations` (tests).

    Returns:
        A :class:`VerifyReport`; ``report.ok`` is True when the ground truth, the content hash and every
        number agree.
    """
    report = VerifyReport(row)
    if row["source"] != "verified":
        report.problems.append(f"{row.where}: a reported row cannot be recomputed (it has no score maps)")
        return report
    protocol, annotations = _protocol_and_gt(row, gt, split=split, mask_root=mask_root, load=load)
    report.protocol_hash = protocol.hash()
    if report.protocol_hash != row["protocol_hash"]:
        report.problems.append(
            f"protocol: the preset {row['protocol']!r} with options {row['protocol_options'] or '(none)'} on this "
            f"dataset hashes to {report.protocol_hash!r}, the row says {row['protocol_hash']!r}; the row was "
            "computed under another protocol (or another wsolbench version's protocol definition)")
        return report
    report.gt_fingerprint = annotations.fingerprint()
    report.problems += _dataset_problems(row, annotations, report.gt_fingerprint)
    if evaluate is None:
        from wsolbench.pipeline import evaluate_maps as evaluate
    result = evaluate(maps, annotations, protocol, workers=workers, progress=progress, spec=gt)
    report.maps_content_sha256 = (getattr(result, "maps", None) or {}).get("content_sha256") or maps_content_sha256(maps)
    if report.maps_content_sha256 != row["maps_content_sha256"]:
        report.problems.append(f"maps_content_sha256: the row says {row['maps_content_sha256']}, the maps in {maps} "
                               f"have {report.maps_content_sha256}; these are not the maps the row was computed from")
    report.recomputed = dict(result.metrics)
    report.problems += compare_metrics(row, report.recomputed)
    return report


def _protocol_and_gt(row: Row, gt: str, *, split, mask_root, load):
    try:
        options = schema.parse_options(row["protocol_options"])
        protocol = schema.build_protocol(row["protocol"], options)
    except (KeyError, ValueError, ProtocolError) as e:
        raise SubmissionError(f"{row.where}: cannot rebuild the row's protocol ({e}); run "
                              "'wsolbench leaderboard validate' on the file") from e
    if load is None:
        from wsolbench.datasets import load_annotations as load
    annotations = load(gt, split=split, **({"mask_root": mask_root} if mask_root else {}))
    resolution = getattr(annotations, "resolution", None)
    if resolution is not None:
        protocol = protocol.with_(resolution=tuple(resolution))
    return protocol, annotations


def maps_content_sha256(path) -> str:
    """The content hash of a score-map file (:func:`wsolbench.scoremaps.content_sha256`)."""
    from wsolbench.scoremaps import content_sha256

    return content_sha256(path)


def _dataset_problems(row: Row, annotations, fingerprint: str) -> list[str]:
    problems = []
    name = schema.normalize_dataset(getattr(annotations, "name", ""))
    if name != row["dataset"]:
        problems.append(f"dataset: the row says {row['dataset']!r}, the ground truth given is {name!r}")
    if len(annotations) != int(row["n_images"] or 0):
        problems.append(f"n_images: the row says {row['n_images']}, the ground truth given has {len(annotations)} "
                        "images")
    if fingerprint != row["gt_fingerprint"]:
        problems.append(f"gt_fingerprint: the row says {row['gt_fingerprint'][:12]}..., the ground truth given has "
                        f"{fingerprint[:12]}...; verify against the ground truth the row was computed on")
    return problems


def compare_metrics(row: Row, recomputed: dict) -> list[str]:
    """Differences between the row's metrics and recomputed ones, to the row's printed precision."""
    problems = []
    for column in schema.METRIC_COLUMNS:
        text, value = row[column], recomputed.get(column)
        if not text and value is None:
            continue
        if not text or value is None:
            shown = "empty" if value is None else f"{value:.4f}"
            problems.append(f"{column}: the row says {text or 'empty'}, recomputed {shown}")
            continue
        if abs(float(text) - float(value)) > 0.5 * 10.0 ** -decimals(text) + 1e-9:
            problems.append(f"{column}: the row says {text}, recomputed {float(value):.4f}")
    return problems
