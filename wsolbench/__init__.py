"""wsolbench: exact, fast, reproducible weakly-supervised object localization evaluation.

``import wsolbench`` never imports torch; only :mod:`wsolbench.nn` does.
"""

__version__ = "0.1.0"

from wsolbench.errors import (  # noqa: E402
    AnnotationError,
    FormatError,
    ProtocolError,
    SubmissionError,
    WsolbenchError,
)
from wsolbench.protocol import Protocol, get_protocol  # noqa: E402

__all__ = [
    "__version__",
    "WsolbenchError",
    "FormatError",
    "AnnotationError",
    "ProtocolError",
    "SubmissionError",
    "Protocol",
    "get_protocol",
]
