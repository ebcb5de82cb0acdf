"""EvaluationResult: the summary of one evaluation, carrying its protocol (COCOeval's "summarize").

Its dictionary form is documented in ``docs/result-json.md``; ``save`` writes it atomically.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone

from wsolbench import __version__
from wsolbench.atomic import write_text_atomic
from wsolbench.errors import FormatError
from wsolbench.metric_names import METRIC_KEYS

RESULT_VERSION = 1

def _clean(obj):
    """JSON-safe copy: numpy scalars/arrays to Python, NaN/inf to None."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    if isinstance(obj, np.generic):
        return _clean(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


@dataclass
class EvaluationResult:
    """Metrics, curves, protocol and provenance of one evaluation.

    Attributes:
        metrics: the 11 headline numbers (percent, ``None`` where not applicable), keys ``METRIC_KEYS``.
        protocol: ``Protocol.to_dict()``.
        protocol_name, protocol_hash: the preset and the hash that makes results comparable.
        box, mask: the curve sections (``None`` where not applicable).
        per_class, per_image: breakdowns.
        counts: image counts (``n_images``, ``n_constant_maps``, ``n_with_predicted_labels``).
        maps, dataset: provenance.
    """

    metrics: dict
    protocol: dict
    protocol_name: str
    protocol_hash: str
    box: dict | None = None
    mask: dict | None = None
    per_class: dict = field(default_factory=dict)
    per_image: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)
    maps: dict = field(default_factory=dict)
    dataset: dict = field(default_factory=dict)
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    wsolbench_version: str = __version__

    def to_dict(self) -> dict:
        return _clean({
            "result_version": RESULT_VERSION, "wsolbench_version": self.wsolbench_version,
            "created": self.created, "maps": self.maps, "dataset": self.dataset,
            "protocol": self.protocol, "protocol_name": self.protocol_name,
            "protocol_hash": self.protocol_hash, "metrics": {k: self.metrics.get(k) for k in METRIC_KEYS},
            "counts": self.counts, "box": self.box, "mask": self.mask,
            "per_class": self.per_class, "per_image": self.per_image,
        })

    def to_json(self, *, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def save(self, path) -> str:
        """Write the JSON atomically (temporary file + rename); returns the path."""
        write_text_atomic(path, self.to_json(indent=1))
        return os.fspath(path)

    @classmethod
    def from_dict(cls, d: dict) -> "EvaluationResult":
        if d.get("result_version") != RESULT_VERSION:
            raise FormatError(f"result version {d.get('result_version')!r} is not supported "
                              f"(this wsolbench reads version {RESULT_VERSION}); re-run `wsolbench evaluate`")
        keys = ("metrics", "protocol", "protocol_name", "protocol_hash", "box", "mask", "per_class",
                "per_image", "counts", "maps", "dataset", "created", "wsolbench_version")
        return cls(**{k: d[k] for k in keys if k in d})

    def to_frame(self):
        """One-row pandas DataFrame: dataset, maps, protocol and the headline metrics (``[pandas]`` extra;
        ``pd.concat`` several for a comparison). See :mod:`wsolbench.metrics.frames`."""
        from wsolbench.metrics.frames import summary_frame

        return summary_frame(self)

    def per_class_frame(self):
        """Per-class numbers as a pandas DataFrame indexed by class (``[pandas]`` extra)."""
        from wsolbench.metrics.frames import per_class_frame

        return per_class_frame(self)

    def per_image_frame(self):
        """Per-image numbers (label, prediction, IoU, constant map) as a pandas DataFrame (``[pandas]`` extra)."""
        from wsolbench.metrics.frames import per_image_frame

        return per_image_frame(self)

    def curve_frame(self, kind: str = "box"):
        """The box (per CAM threshold) or mask (per score threshold) curves as a pandas DataFrame."""
        from wsolbench.metrics.frames import curve_frame

        return curve_frame(self, kind)

    @classmethod
    def load(cls, path) -> "EvaluationResult":
        try:
            with open(path) as f:
                d = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise FormatError(f"{path}: cannot read a result JSON ({e}); produce one with "
                              "`wsolbench evaluate MAPS --gt SPEC --out result.json`") from e
        return cls.from_dict(d)
