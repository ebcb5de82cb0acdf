"""From files to a result: match a score-map file to a dataset's annotations, feed its maps in
chunks to :class:`wsolbench.Evaluator` (optionally on several processes, whose states merge
exactly) and attach the file's provenance. The evaluator brings maps and ground truth into the
protocol's frame; this module only reads.

Example:
    >>> from wsolbench.datasets import load_annotations      # doctest: +SKIP
    >>> from wsolbench.protocol import get_protocol            # doctest: +SKIP
    >>> gt = load_annotations("wsoleval:metadata/CUB/test")     # doctest: +SKIP
    >>> result = evaluate_maps("maps.h5", gt, get_protocol())   # doctest: +SKIP
    >>> result.metrics["maxboxacc_v2"]                          # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

from wsolbench.bounds import check_workers
from wsolbench.datasets.idmatch import no_match_message
from wsolbench.datasets.records import AnnotationSet
from wsolbench.errors import FormatError
from wsolbench.evaluator import Evaluator
from wsolbench.interrupts import process_pool
from wsolbench.metrics.evaluator import EvalState, ImageInput, listing
from wsolbench.metrics.result import EvaluationResult
from wsolbench.protocol import Protocol
from wsolbench.scoremaps import ScoreMapFile, content_sha256, sha256_file
from wsolbench.scoremaps.content import batch_digests, combine_digests
from wsolbench.scoremaps.format import check_class_range

CHUNK_ROWS = 64


@dataclass(frozen=True)
class RowPlan:
    """Which file rows are evaluated, against which record, for which class."""

    rows: np.ndarray          # int64 (n,): file rows, in evaluation order
    records: np.ndarray       # int64 (n,): index into annotations.records
    map_labels: np.ndarray    # int64 (n,): class of the map (-1 = the GT class)


def plan_rows(path, image_ids: list[str], map_labels: np.ndarray | None, annotations: AnnotationSet, *,
              ignore=()) -> RowPlan:
    """Match the file's rows to the annotation records; every GT image needs its map(s). Rows of the
    ids in ``ignore`` (images left out of the evaluation) are allowed and not evaluated.

    Raises:
        FormatError: ids missing from the file or unknown to the dataset, or a multi-label image without
            the map of one of its classes.
    """
    known = set(image_ids)
    missing = [i for i in annotations.image_ids if i not in known]
    ignore = set(ignore or ())
    extra = [i for i in dict.fromkeys(image_ids) if i not in annotations and i not in ignore]
    src = annotations.source or annotations.name
    if image_ids and len(extra) == len(set(image_ids)) and annotations.image_ids:
        raise FormatError(f"{path}: {no_match_message(list(dict.fromkeys(image_ids)), annotations.image_ids)} "
                          f"({src}); write the dataset's own ids into the maps file, or evaluate against the "
                          "dataset the maps were made for")
    if missing:
        raise FormatError(f"{path}: {len(missing)} image id(s) of the ground truth ({src}) have no map: "
                          f"{listing(missing)}; write a map for every image of the split, or evaluate against "
                          "the split the maps were made for")
    if extra:
        raise FormatError(f"{path}: {len(extra)} image id(s) are not in the ground truth ({src}): "
                          f"{listing(extra)}; check that --gt names the split the maps were made for")
    rows, recs, labels = [], [], []
    by_id: dict[str, list[int]] = {}
    for row, image_id in enumerate(image_ids):
        by_id.setdefault(image_id, []).append(row)
    for index, record in enumerate(annotations.records):
        candidates = by_id[record.image_id]
        if map_labels is None:
            chosen = [(candidates[0], -1)]
        else:
            wanted = record.labels if annotations.multilabel else record.labels[:1]
            have = {int(map_labels[r]): r for r in candidates}
            absent = [c for c in wanted if c not in have]
            if absent:
                raise FormatError(f"{path}: image '{record.image_id}' has no map for class(es) {absent}; "
                                  "write one row per (image id, class) with map_labels")
            chosen = [(have[c], c) for c in wanted]
        for row, c in chosen:
            rows.append(row)
            recs.append(index)
            labels.append(c)
    return RowPlan(np.asarray(rows, np.int64), np.asarray(recs, np.int64), np.asarray(labels, np.int64))


def _evaluate_chunk(f: ScoreMapFile, plan: RowPlan, chunk: slice, evaluator: Evaluator) -> tuple[EvalState, dict]:
    """Evaluate the planned rows ``chunk`` of the open file ``f`` with a fresh evaluator; returns its
    state and the content-hash digest of each file row read (``{row: digest}``,
    :mod:`wsolbench.scoremaps.content`). The file is opened once per process (opening validates every
    image id of the file)."""
    part = evaluator._fresh()
    rows = plan.rows[chunk]
    order = np.argsort(rows, kind="stable")            # read the file in row order
    labels = plan.map_labels[chunk][order]
    name = "predicted_labels" + (f" (or the argmax of {f.scores_name})" if f.scores_name else "")
    digests = {}
    for batch in f.iter_batches(batch_size=len(rows), rows=rows[order]):
        if batch.predicted_labels is not None:
            check_class_range(batch.predicted_labels, num_classes=evaluator.annotations.num_classes, name=name,
                              path=f.path, rows=batch.rows, image_ids=batch.image_ids)
        digests.update(zip((int(r) for r in batch.rows), batch_digests(batch)))
        part.update(batch.image_ids, list(batch.maps), batch.predicted_labels,
                    map_labels=None if (labels < 0).all() else labels[:len(batch)])
        labels = labels[len(batch):]
    return part.state, digests


# Worker processes inherit the (unpicklable, lazily loading) annotations through fork.
_WORKER_ARGS: tuple | None = None


def _init_worker(args):
    """Runs in each worker after the fork: the worker opens the file itself (an HDF5 handle must
    not cross a fork) and keeps it for all its chunks."""
    global _WORKER_ARGS
    path, plan, evaluator = args
    _WORKER_ARGS = (ScoreMapFile(path), plan, evaluator)


def _worker_chunk(chunk: slice) -> tuple[EvalState, dict]:
    f, plan, evaluator = _WORKER_ARGS
    return _evaluate_chunk(f, plan, chunk, evaluator)


def _chunks(n: int, size: int) -> list[slice]:
    return [slice(s, min(s + size, n)) for s in range(0, n, size)]


def _warm_up(evaluator: Evaluator) -> None:
    """Compile the kernels once in the parent so that forked workers inherit them."""
    frame = evaluator._frame
    h, w = evaluator.protocol.height, evaluator.protocol.width
    probe = ImageInput("warm-up", (0,), np.zeros((h, w)), np.zeros((1, 4), np.int64),
                       np.zeros((h, w), np.uint8) + 1 if frame.with_masks else None)
    frame.evaluate_image(probe)


def run_evaluation(path, plan: RowPlan, evaluator: Evaluator, *, workers: int = 1,
                   progress: Callable[[int, int], None] | None = None) -> dict:
    """Evaluate the planned rows into ``evaluator``, on ``workers`` processes (their states merge exactly).

    Returns:
        The content-hash digests of the file rows read (``{row: digest}``), so that the maps' content
        hash (:func:`wsolbench.scoremaps.content_sha256`) needs no second pass over them.
    """
    check_workers(workers)
    chunks = _chunks(len(plan.rows), CHUNK_ROWS)
    total, digests = len(plan.rows), {}
    if progress:
        progress(0, total)

    def collect(parts) -> None:
        done = 0
        for chunk, (part, seen) in zip(chunks, parts):
            evaluator.merge(part)
            digests.update(seen)
            done += chunk.stop - chunk.start
            if progress:
                progress(done, total)

    if workers <= 1 or len(chunks) <= 1:
        with ScoreMapFile(path) as f:
            collect(_evaluate_chunk(f, plan, chunk, evaluator) for chunk in chunks)
        return digests
    _warm_up(evaluator)
    with process_pool(min(workers, len(chunks)), initializer=_init_worker, initargs=((path, plan, evaluator),)) as pool:
        collect(pool.map(_worker_chunk, chunks))
    return digests


def evaluate_maps(maps_path, annotations: AnnotationSet, protocol: Protocol, *, workers: int = 1,
                  progress: Callable[[int, int], None] | None = None, spec: str | None = None,
                  skip_images_without_gt: bool = False, box_sizes: bool = False, bootstrap: int | None = None,
                  seed: int = 0, confidence: float = 0.95, mask_cache: bool = True) -> EvaluationResult:
    """Evaluate a score-map file against a dataset split under a protocol.

    Args:
        maps_path: an HDF5 score-map file (``docs/scoremaps.md``).
        annotations: the ground truth (``wsolbench.datasets.load_annotations``).
        protocol: the protocol (``wsolbench.protocol.get_protocol``).
        workers: processes to use (the state is merged exactly).
        progress: called as ``progress(done, total)`` while images are evaluated.
        spec: the dataset spec string, recorded in the result.
        skip_images_without_gt: leave out images that have neither a box nor a mask (recorded in the
            result as ``dataset.skipped_without_gt``) instead of refusing them.
        box_sizes: record box areas for the size diagnostics (see :class:`wsolbench.Evaluator`).
        mask_cache: use the disk cache of GT masks in the evaluation frame (see :class:`wsolbench.Evaluator`).
        bootstrap, seed, confidence: bootstrap intervals (see :meth:`wsolbench.Evaluator.compute`).

    Raises:
        AnnotationError: images without ground truth (unless skipped).
        FormatError: the maps do not match the ground truth, or a predicted class is out of range.
    """
    path = os.fspath(maps_path)
    with ScoreMapFile(path) as f:
        image_ids, map_labels, attrs, n_maps = f.image_ids, f.map_labels, dict(f.attrs), len(f.image_ids)
        normalized, map_ndim = f.normalized, f.map_ndim
    evaluator = Evaluator(annotations, protocol, normalized=normalized, spec=spec,
                          skip_images_without_gt=skip_images_without_gt, box_sizes=box_sizes, mask_cache=mask_cache)
    plan = plan_rows(path, image_ids, map_labels, evaluator.annotations, ignore=evaluator.skipped_without_gt)
    digests = run_evaluation(path, plan, evaluator, workers=workers, progress=progress)
    result = evaluator.compute(bootstrap=bootstrap, seed=seed, confidence=confidence)
    content = combine_digests(digests.values(), normalized=normalized, map_ndim=map_ndim) \
        if len(digests) == n_maps else content_sha256(path, digests=digests)    # unevaluated rows: read them
    result.maps = {"path": os.path.abspath(path), "sha256": sha256_file(path), "content_sha256": content,
                   "n_maps": n_maps,
                   "attrs": {k: v for k, v in attrs.items() if isinstance(v, (str, int, float, bool))}}
    return result
