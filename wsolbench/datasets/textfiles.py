"""Line-oriented readers for comma-separated metadata files, with file:line error messages."""

from __future__ import annotations

import os
from typing import Iterator

from wsolbench.errors import AnnotationError, WsolbenchError, where


def report(error: WsolbenchError, problems: list | None) -> None:
    """Raise ``error``, or append it to ``problems`` when the caller collects problems.

    Adapters load strictly by default (the first problem raises); ``wsolbench datasets check``
    passes a list instead, and the adapter skips the offending line or file and goes on, so
    that one run lists every problem.
    """
    if problems is None:
        raise error
    problems.append(error)


def read_rows(path, *, fields: tuple[int, ...] | None, what: str, required: bool = True,
              sep: str | None = ",", problems: list | None = None) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line_number, fields)`` for every non-empty line of ``path``.

    Args:
        path: the file.
        fields: accepted numbers of fields per line (``None``: any; the caller checks).
        what: a description of the expected line format for error messages.
        required: raise if the file does not exist (else yield nothing).
        sep: field separator (``None`` = any whitespace).
        problems: collect malformed lines here (and skip them) instead of raising; see
            :func:`report`. A missing or undecodable file still raises.
    """
    if not os.path.isfile(path):
        if required:
            raise AnnotationError(f"{path}: file not found; expected {what}")
        return
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            lines = f.read().splitlines()
    except UnicodeDecodeError as e:
        raise AnnotationError(f"{path}: not UTF-8 text ({e}); expected {what}") from e
    for lineno, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        parts = raw.split(sep) if sep is not None else raw.split()
        if fields is not None and len(parts) not in fields:
            report(AnnotationError(f"{where(path, lineno)}expected {what}, found {len(parts)} field(s): {raw!r}"),
                   problems)
            continue
        yield lineno, parts


def parse_int(text: str, *, path, line: int, name: str, image_id: str | None = None) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise AnnotationError(f"{where(path, line, image_id)}{name} {text!r} is not an integer") from None


def parse_float(text: str, *, path, line: int, name: str, image_id: str | None = None) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise AnnotationError(f"{where(path, line, image_id)}{name} {text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise AnnotationError(f"{where(path, line, image_id)}{name} is {text!r}; it must be a finite number")
    return value
