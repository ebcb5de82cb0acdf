"""The exception hierarchy. Every user-facing error says what was expected, what was found,
where (file, line, image id) and how to fix it. The CLI prints ``str(error)`` on one line and
exits with ``error.exit_code`` (2), without a traceback.

``WsolbenchError`` is the base the CLI catches. Each subclass also derives from the built-in class
a Python user would catch for that kind of problem, so ``except ValueError`` around an evaluation
loop works without knowing wsolbench's classes:

================================  ==========================  =====================================
class                             also a                      raised for
================================  ==========================  =====================================
``FormatError``                   ``ValueError``              malformed score maps / files, ids that
                                                              do not match the ground truth
``AnnotationError``               ``ValueError``              malformed or inconsistent annotations
``BoxConventionError``            ``ValueError``,             a box that is not ``x0, y0, x1, y1``
                                  ``RuntimeError``            with ``x1 >= x0``, ``y1 >= y0``, >= 0
``NoForegroundError``             ``ValueError``,             PxAP over a set without a foreground
                                  ``RuntimeError``            pixel
``ProtocolError``                 ``ValueError``              an invalid protocol setting
``SubmissionError``               ``ValueError``              a malformed leaderboard row
``DatasetError``                  ``ValueError``              an unusable dataset spec or folder
``MissingDependencyError``        ``ImportError``             an optional dependency is missing
================================  ==========================  =====================================

The two ``RuntimeError`` classes are what wsolevaluation raises for the same conditions
(``check_box_convention`` and ``MaskEvaluator.compute``), so code written against the reference
keeps catching them (``wsolbench.compat.wsolevaluation`` maps no exception).
"""

from __future__ import annotations


class WsolbenchError(Exception):
    """Base class of every error wsolbench raises on bad input."""

    exit_code = 2


class FormatError(WsolbenchError, ValueError):
    """A score-map file (HDF5 or .npy folder) or an in-memory map is malformed or does not match the
    ground truth (missing, unknown or duplicate image ids)."""


class AnnotationError(WsolbenchError, ValueError):
    """A dataset's annotation files are malformed, inconsistent or missing."""


class BoxConventionError(AnnotationError, RuntimeError):
    """A box breaks the ``x0, y0, x1, y1`` convention: a negative coordinate, ``x1 < x0`` or ``y1 < y0``,
    or not an (n, 4) array (wsolevaluation's ``check_box_convention`` raises ``RuntimeError`` here)."""


class NoForegroundError(AnnotationError, RuntimeError):
    """PxAP is undefined: the evaluated masks have no foreground pixel (wsolevaluation's
    ``MaskEvaluator.compute`` raises ``RuntimeError`` here)."""


class ProtocolError(WsolbenchError, ValueError):
    """An evaluation protocol setting is invalid."""


class SubmissionError(WsolbenchError, ValueError):
    """A leaderboard submission is malformed."""


class DatasetError(WsolbenchError, ValueError):
    """A dataset spec or a dataset folder cannot be used."""


class MissingDependencyError(WsolbenchError, ImportError):
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
