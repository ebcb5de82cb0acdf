"""wsolbench: exact, fast, reproducible weakly-supervised object localization evaluation.

The public Python API lives here, in one place (``docs/api.md``): the in-memory
:class:`Evaluator`, the result, the protocol, the dataset readers and the box/mask primitives.
Names other than the errors are imported on first use, so ``import wsolbench`` stays light (no
NumPy, no h5py: ``wsolbench --help`` imports neither) and never imports torch; only
:mod:`wsolbench.nn` does.

Example:
    >>> import wsolbench
    >>> wsolbench.box_iou([[0, 0, 9, 9]], [[5, 0, 14, 9]]).tolist()
    [[0.3333333333333333]]
"""

from __future__ import annotations

import importlib
import os

__version__ = "0.1.0"

from wsolbench.errors import (  # noqa: E402
    AnnotationError,
    BoxConventionError,
    DatasetError,
    FormatError,
    MissingDependencyError,
    NoForegroundError,
    ProtocolError,
    SubmissionError,
    WsolbenchError,
)

# name -> module that defines it (imported when the name is first used)
_LAZY = {
    "Protocol": "wsolbench.protocol",
    "get_protocol": "wsolbench.protocol",
    "Evaluator": "wsolbench.evaluator",
    "EvaluationResult": "wsolbench.metrics.result",
    "evaluate_maps": "wsolbench.pipeline",
    "load_annotations": "wsolbench.datasets",
    "AnnotationSet": "wsolbench.datasets",
    "ImageRecord": "wsolbench.datasets",
    "GTMasks": "wsolbench.datasets",
    "ScoreMapFile": "wsolbench.scoremaps",
    "ScoreMapWriter": "wsolbench.scoremaps",
    "write_scoremaps": "wsolbench.scoremaps",
    "read_gray": "wsolbench.datasets.images",
    "box_iou": "wsolbench.metrics.boxes",
    "extract_boxes": "wsolbench.metrics.boxes",
    "best_ious": "wsolbench.metrics.boxes",
    "BestIoU": "wsolbench.metrics.boxes",
    "resize_boxes": "wsolbench.metrics.gt",
    "gt_mask": "wsolbench.metrics.gt",
    "postprocess_map": "wsolbench.metrics.resize",
    "normalize_minmax": "wsolbench.metrics.resize",
    "resize_bicubic": "wsolbench.metrics.resize",
    "BoxAccuracy": "wsolbench.metrics.box_accuracy",
    "PixelAP": "wsolbench.metrics.masks",
    "PerClassPixelAP": "wsolbench.metrics.masks",
}

__all__ = [
    "__version__",
    "WsolbenchError",
    "FormatError",
    "AnnotationError",
    "BoxConventionError",
    "NoForegroundError",
    "ProtocolError",
    "SubmissionError",
    "DatasetError",
    "MissingDependencyError",
    "example_path",
    *_LAZY,
]


def example_path(*parts: str) -> str:
    """Path of the bundled example (24 CUB-style images: ``metadata/`` and ``maps.h5``).

    Example:
        >>> os.path.basename(example_path("maps.h5"))
        'maps.h5'
    """
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "example", *parts)


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'wsolbench' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
