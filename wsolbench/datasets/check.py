"""Verify a local copy of a dataset: annotations, image files, masks and counts against its card.

:func:`check_dataset` loads the dataset with its adapter in *collecting* mode (every malformed line,
bad box or unknown class becomes a :class:`Problem` instead of stopping at the first), then reads
every image header (and, on request, every pixel), loads every mask, and compares the counts with
the dataset card. It returns a :class:`CheckReport` and prints nothing; ``wsolbench datasets
check`` renders it.

Example:
    >>> report = check_dataset("cub:/data/CUB_200_2011", "test")   # doctest: +SKIP
    >>> report.ok, [p.kind for p in report.problems][:3]            # doctest: +SKIP
    (True, [])
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from wsolbench.datasets.cards import SplitCounts, card_for
from wsolbench.datasets.coverage import images_without_gt, missing_gt_message
from wsolbench.datasets.images import ImageFileError, header_size
from wsolbench.datasets.paths import inside_root
from wsolbench.datasets.records import AnnotationSet, ImageRecord
from wsolbench.datasets.registry import check_options, get_loader, parse_spec
from wsolbench.errors import WsolbenchError, where

PROBLEM_KINDS = ("load", "annotation", "no-ground-truth", "missing-image", "unreadable-image", "size-mismatch", "mask",
                 "count")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a dataset copy.

    Attributes:
        kind: one of :data:`PROBLEM_KINDS`.
        message: what is wrong, where, and how to fix it.
        image_id: the image concerned, when there is one.
    """

    kind: str
    message: str
    image_id: str | None = None


@dataclass
class CheckReport:
    """What :func:`check_dataset` found.

    Attributes:
        spec: the ``NAME:PATH`` spec checked.
        adapter: the adapter name.
        dataset: the dataset name the adapter reported (``None`` if loading failed).
        split: the split checked.
        card: the card compared with (``None``: no card for this dataset).
        layout: ``native`` or ``wsoleval`` (which table of the card applies).
        n_images: images listed by the annotations.
        n_boxes: boxes in total.
        n_classes_present: distinct classes among the labels.
        n_images_checked: image files opened (header, or every pixel with ``decode``).
        n_masks_checked: images whose masks were loaded.
        image_folder: the folder the image ids resolve against (``None``: images cannot be checked).
        expected: the card's counts for this split (``None`` if the card has none).
        counts_checked: whether the counts were compared with the card.
        fingerprint: the ground truth's :meth:`~wsolbench.datasets.records.AnnotationSet.fingerprint`
            (compared with the card's, where it has one, with the counts).
        problems: every problem found, in discovery order.
    """

    spec: str
    adapter: str
    split: str | None
    dataset: str | None = None
    card: str | None = None
    layout: str = "native"
    n_images: int = 0
    n_boxes: int = 0
    n_classes_present: int = 0
    n_images_checked: int = 0
    n_masks_checked: int = 0
    image_folder: str | None = None
    expected: SplitCounts | None = None
    counts_checked: bool = False
    fingerprint: str | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems

    def count_by_kind(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.problems:
            out[p.kind] = out.get(p.kind, 0) + 1
        return out

    def to_dict(self) -> dict:
        out = {k: v for k, v in vars(self).items() if k not in ("expected", "problems")}
        out["ok"] = self.ok
        out["expected"] = vars(self.expected) if self.expected else None
        out["problems"] = [vars(p) for p in self.problems]
        return out


def _classify(error: WsolbenchError) -> Problem:
    if isinstance(error, ImageFileError):
        missing = error.path is not None and not os.path.exists(error.path)
        return Problem("missing-image" if missing else "unreadable-image", str(error), error.image_id)
    return Problem("annotation", str(error))


def _load(name: str, path: str, split: str | None, options: dict, report: CheckReport) -> AnnotationSet | None:
    loader = get_loader(name)
    params = inspect.signature(loader).parameters
    collected: list = []
    kwargs = dict(options)
    if "problems" in params:
        kwargs["problems"] = collected
    if "check_images" in params:
        kwargs["check_images"] = False       # the image scan below reads every file itself
    check_options(name, loader, options)
    try:
        annotations = loader(path, split=split, **kwargs)
    except WsolbenchError as e:
        report.problems.extend(_classify(c) for c in collected)
        report.problems.append(Problem("load", str(e)))
        return None
    report.problems.extend(_classify(c) for c in collected)
    return annotations


def _layout(name: str, path: str, split: str | None, options: dict) -> str:
    if name == "wsoleval":
        return "wsoleval"
    if name == "ilsvrc":
        from wsolbench.datasets.ilsvrc import detect_layout

        return detect_layout(path, split=split, **options)
    return "native"


def _count_problems(report: CheckReport, expected: SplitCounts, label: str) -> list[Problem]:
    hint = f"(card: {report.card}); a partial copy? pass --no-counts to skip the count check"
    found = [("images", report.n_images, expected.images)]
    if expected.boxes is not None:
        found.append(("boxes", report.n_boxes, expected.boxes))
    if expected.classes is not None:
        found.append(("classes present", report.n_classes_present, expected.classes))
    return [Problem("count", f"{label}: {n:,} {what}, the card says {want:,} {hint}")
            for what, n, want in found if n != want]


def _check_counts(report: CheckReport, annotations: AnnotationSet, *, counts: bool, path: str, options: dict) -> None:
    card = card_for(report.adapter, annotations.name)
    if card is None:
        return
    report.card = card.card
    report.layout = _layout(report.adapter, path, report.split, options)
    report.expected = card.counts(annotations.split or report.split or card.default_split, layout=report.layout)
    if counts and report.expected is not None:
        report.counts_checked = True
        label = f"{card.name} {annotations.split or report.split}"
        wrong_counts = _count_problems(report, report.expected, label)
        report.problems.extend(wrong_counts)
        official = report.expected.fingerprint
        if official and report.fingerprint != official and not wrong_counts:    # other counts: another split anyway
            report.problems.append(Problem("fingerprint", f"{label}: ground-truth fingerprint {report.fingerprint[:12]}... "
                                                          f"is not the card's {official[:12]}... ({card.card}): some "
                                                          "image id, label, size, box or mask file differs from the "
                                                          "official annotations"))


def _signal_size(path: str, image_id: str, *, decode: bool) -> tuple[int, int]:
    """``(L, 1)`` of a 1-D signal stored as ``.npy`` (header only unless ``decode``)."""
    try:
        shape = np.load(path, allow_pickle=False, mmap_mode=None if decode else "r").shape
    except (OSError, ValueError) as e:
        raise ImageFileError(f"{where(path, None, image_id)}cannot read the signal ({e}); the file is truncated "
                             "or not a .npy array: generate or download it again", path=path, image_id=image_id) from e
    if len(shape) != 1 and not (len(shape) == 2 and 1 in shape):
        raise ImageFileError(f"{where(path, None, image_id)}a signal must be 1-D, found shape {shape}",
                             path=path, image_id=image_id)
    return (int(max(shape)), 1)


def _read_image(path: str, record: ImageRecord, *, decode: bool, ndim: int = 2) -> Problem | None:
    if ndim == 1:
        try:
            size = _signal_size(path, record.image_id, decode=decode)
        except ImageFileError as e:
            return _classify(e)
        if record.image_size is not None and tuple(record.image_size) != size:
            return Problem("size-mismatch", f"{where(path, None, record.image_id)}the annotations say length "
                                            f"{record.image_size[0]} but the signal has {size[0]} samples",
                           record.image_id)
        return None
    try:
        size = header_size(path, image_id=record.image_id)
        if decode:
            from PIL import Image

            with Image.open(path) as im:
                im.load()
    except ImageFileError as e:
        return _classify(e)
    except (OSError, ValueError, SyntaxError) as e:
        return Problem("unreadable-image", f"{where(path, None, record.image_id)}cannot decode the pixels ({e}); "
                                           "the file is truncated or damaged: download it again", record.image_id)
    if record.image_size is not None and tuple(record.image_size) != tuple(size):
        w, h = record.image_size
        return Problem("size-mismatch", f"{where(path, None, record.image_id)}the annotations say {w}x{h} but the "
                                        f"image is {size[0]}x{size[1]}; boxes would be rescaled wrongly: check that "
                                        "the image and annotation files belong to the same release", record.image_id)
    return None


def _check_masks(record: ImageRecord) -> Problem | None:
    try:
        masks = record.masks.load()
    except WsolbenchError as e:
        return Problem("mask", str(e), record.image_id)
    shapes = {np.asarray(m).shape for m in masks.instances}
    if masks.ignore is not None:
        shapes.add(np.asarray(masks.ignore).shape)
    if len(shapes) > 1:
        return Problem("mask", f"image '{record.image_id}': its masks have different shapes {sorted(shapes)}; "
                               "instance and ignore masks must share the image's size", record.image_id)
    if shapes and record.image_size is not None:
        (h, w), = shapes
        if (w, h) != tuple(record.image_size):
            return Problem("mask", f"image '{record.image_id}': masks are {w}x{h}, the image is "
                                   f"{record.image_size[0]}x{record.image_size[1]}", record.image_id)
    return None


def _scan(report: CheckReport, annotations: AnnotationSet, *, images: bool, masks: bool, decode: bool,
          progress: Callable[[int, int], None] | None) -> None:
    flagged = {p.image_id for p in report.problems if p.image_id}
    scan_images = images and annotations.root is not None
    todo = [r for r in annotations if (scan_images and r.image_id not in flagged) or (masks and r.masks)]
    for done, record in enumerate(todo, 1):
        if scan_images and record.image_id not in flagged:
            report.n_images_checked += 1
            found = _read_image(inside_root(annotations.root, record.image_id, what="image"), record,
                                decode=decode, ndim=annotations.ndim)
            if found:
                report.problems.append(found)
        if masks and record.masks is not None:
            report.n_masks_checked += 1
            found = _check_masks(record)
            if found:
                report.problems.append(found)
        if progress is not None:
            progress(done, len(todo))


def check_dataset(spec: str, split: str | None = None, *, options: dict | None = None, counts: bool = True,
                  read_images: bool = True, load_masks: bool = True, decode: bool = False,
                  progress: Callable[[int, int], None] | None = None) -> CheckReport:
    """Check a local dataset copy named by ``NAME:PATH``.

    Args:
        spec: e.g. ``cub:/data/CUB_200_2011``.
        split: the split (default: the adapter's).
        options: adapter options (e.g. ``{"val_metadata": "metadata/CUB/val"}`` for ``cub``).
        counts: compare images / boxes / classes with the dataset card (turn off for partial copies).
        read_images: open every image file (header only unless ``decode``).
        load_masks: load every mask of mask datasets.
        decode: decode every image's pixels (finds truncated files; slower).
        progress: ``progress(n_done, n_total)`` during the file scan.

    Returns:
        A :class:`CheckReport`; ``report.ok`` is False when anything is wrong.

    Raises:
        DatasetError: the spec names no adapter, or an option the adapter does not take.
    """
    name, path = parse_spec(spec)
    options = dict(options or {})
    report = CheckReport(spec=spec, adapter=name, split=split)
    annotations = _load(name, path, split, options, report)
    if annotations is None:
        return report
    report.dataset, report.split = annotations.name, annotations.split or split
    report.image_folder = annotations.root
    report.n_images = len(annotations)
    report.n_boxes = int(sum(len(r.boxes) for r in annotations))
    report.n_classes_present = len({c for r in annotations for c in r.labels})
    # Images without a box or mask; looked for once the annotations load cleanly, since a malformed box
    # line (already reported) leaves its image without boxes too.
    missing = [] if report.problems else images_without_gt(annotations)
    if missing:
        report.problems.append(Problem("no-ground-truth", missing_gt_message(annotations, missing)))
    report.fingerprint = annotations.fingerprint()
    _check_counts(report, annotations, counts=counts, path=path, options=options)
    _scan(report, annotations, images=read_images, masks=load_masks, decode=decode, progress=progress)
    return report
