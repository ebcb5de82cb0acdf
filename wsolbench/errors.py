"""The exception hierarchy. Every user-facing error says what was expected, what was found,
where (file, line, image id) and how to fix it. The CLI prints ``str(error)`` on one line and
exits with ``error.exit_code`` (2), without a traceback."""

from __future__ import annotations


class WsolbenchError(Exception):
    """Base class of every error wsolbench raises on bad input."""

    exit_code = 2


class FormatError(WsolbenchError):
    """A score-map file (HDF5 or .npy folder) is malformed or does not match the ground truth."""


class AnnotationError(WsolbenchError):
    """A dataset's annotation files are malformed, inconsistent or missing."""


class ProtocolError(WsolbenchError):
    """An evaluation protocol setting is invalid."""


class SubmissionError(WsolbenchError):
    """A leaderboard submission is malformed."""


class DatasetError(WsolbenchError):
    """A dataset spec or a dataset folder cannot be used."""


class MissingDependencyError(WsolbenchError):
    """An optional dependency (matplotlib for curves, torch for training) is not installed; the message
    gives the command that installs it."""


def where(path=None, line: int | None = None, image_id: str | None = None) -> str:
    """Format a location prefix ``file:line: image 'id': `` for error messages."""
    parts = []
    if path is not None:
        parts.append(f"{path}:{line}" if line is not None else str(path))
    if image_id is not None:
        parts.append(f"image '{image_id}'")
    return ": ".join(parts) + (": " if parts else "")
