"""A problem found in a submission, located by file, line and column."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a submission file.

    Attributes:
        file: the file's path as given.
        line: 1-based physical line (1 = the header; 0 when the file cannot be read at all).
        column: 1-based field number in the row (0 when the problem concerns the whole line or file).
        message: what was expected, what was found and how to fix it.
    """

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"

    def to_dict(self) -> dict:
        return asdict(self)
