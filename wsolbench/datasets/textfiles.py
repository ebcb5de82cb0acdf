"""Line-oriented readers for comma-separated metadata files, with file:line error messages."""

from __future__ import annotations

import os
from typing import Iterator

from wsolbench.errors import AnnotationError, where


def read_rows(path, *, fields: tuple[int, ...], what: str, required: bool = True,
              sep: str | None = ",") -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line_number, fields)`` for every non-empty line of ``path``.

    Args:
        path: the file.
        fields: accepted numbers of fields per line.
        what: a description of the expected line format for error messages.
        required: raise if the file does not exist (else yield nothing).
        sep: field separator (``None`` = any whitespace).
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
        if len(parts) not in fields:
            raise AnnotationError(f"{where(path, lineno)}expected {what}, found {len(parts)} field(s): {raw!r}")
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
