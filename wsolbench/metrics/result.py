"""EvaluationResult: the summary of one evaluation, carrying its protocol (COCOeval's "summarize").

Its dictionary form is documented in ``docs/result-json.md``; ``save`` writes it atomically, with
the per-image state (:class:`~wsolbench.metrics.imagestate.ImageState`) beside it as
``<name>.state.npz`` when the result has one, so that bootstrap intervals and paired tests can be
computed later without the maps.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone

from wsolbench import __version__
from wsolbench.atomic import atomic_path, write_text_atomic
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
        diagnostics: pointing games and size diagnostics (not headline metrics; ``docs/protocol.md``).
        bootstrap: percentile intervals of the numbers (``add_bootstrap``), or ``None``.
        state: the per-image state file written beside the JSON (``{"file", "sha256", "bytes",
            "n_maps"}``), or ``None``.
        image_state: the per-image state itself (from ``Evaluator.compute``, or read lazily from the
            state file of a loaded result), or ``None``.
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
    diagnostics: dict = field(default_factory=dict)
    bootstrap: dict | None = None
    state: dict | None = None
    _image_state: object = field(default=None, repr=False, compare=False)
    _state_source: str | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        return _clean({
            "result_version": RESULT_VERSION, "wsolbench_version": self.wsolbench_version,
            "created": self.created, "maps": self.maps, "dataset": self.dataset,
            "protocol": self.protocol, "protocol_name": self.protocol_name,
            "protocol_hash": self.protocol_hash, "metrics": {k: self.metrics.get(k) for k in METRIC_KEYS},
            "counts": self.counts, "box": self.box, "mask": self.mask,
            "per_class": self.per_class, "per_image": self.per_image,
            "diagnostics": self.diagnostics, "bootstrap": self.bootstrap, "state": self.state,
        })

    def to_json(self, *, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    # --- per-image state, intervals, paired tests --------------------------------------------

    @property
    def image_state(self):
        """The per-image :class:`~wsolbench.metrics.imagestate.ImageState`, or ``None`` when the result
        has none (a result JSON saved without its state file, or by an older wsolbench).

        Raises:
            FormatError: the state file recorded in ``state`` is missing or is not the one saved with
                the JSON (its checksum differs).
        """
        if self._image_state is None and self._state_source is not None:
            from wsolbench.metrics.imagestate import load_checked

            self._image_state = load_checked(self._state_source, self.state)
        return self._image_state

    def add_bootstrap(self, n_resamples: int = 1000, *, seed: int = 0, confidence: float = 0.95) -> dict:
        """Compute percentile bootstrap intervals of every number (``bootstrap`` section) from the
        per-image state; returns the section. See :mod:`wsolbench.metrics.bootstrap`.

        Raises:
            FormatError: the result has no per-image state.
        """
        from wsolbench.metrics.bootstrap import bootstrap

        self.bootstrap = bootstrap(self._require_state("bootstrap intervals"), n_resamples=n_resamples,
                                   seed=seed, confidence=confidence)
        return self.bootstrap

    def paired_test(self, other: "EvaluationResult", n_resamples: int = 1000, *, seed: int = 0,
                    confidence: float = 0.95) -> dict:
        """Paired bootstrap test of ``other - self`` on the same images (differences, intervals,
        p-values; :func:`wsolbench.metrics.bootstrap.paired_bootstrap`).

        Raises:
            FormatError: either result has no per-image state, or they hold different images.
        """
        from wsolbench.metrics.bootstrap import paired_bootstrap

        return paired_bootstrap(self._require_state("a paired test"), other._require_state("a paired test"),
                                n_resamples=n_resamples, seed=seed, confidence=confidence)

    def _require_state(self, what: str):
        state = self.image_state
        if state is None:
            raise FormatError(f"{what} needs the per-image state of the evaluation, which this result does not "
                              "have; it is kept by Evaluator.compute() and saved beside the result JSON "
                              "(RESULT.state.npz) by `wsolbench evaluate --out RESULT.json`")
        return state

    def save(self, path, *, with_state: bool = True) -> str:
        """Write the JSON atomically (temporary file + rename); returns the path.

        With ``with_state`` and a per-image state, the state is written first, atomically, as
        ``<path without .json>.state.npz`` and the JSON records its name and checksum (``state``).
        """
        from wsolbench.metrics.imagestate import state_path
        from wsolbench.scoremaps.reader import sha256_file

        state = self.image_state if with_state else None
        if state is not None:
            target = state_path(path)
            with atomic_path(target) as tmp:
                state.save(tmp)
                record = {"file": os.path.basename(target), "sha256": sha256_file(tmp),
                          "bytes": os.path.getsize(tmp), "n_maps": state.n_maps}
            self.state = record
        else:
            self.state = None
        write_text_atomic(path, self.to_json(indent=1))
        return os.fspath(path)

    @classmethod
    def from_dict(cls, d: dict) -> "EvaluationResult":
        if d.get("result_version") != RESULT_VERSION:
            raise FormatError(f"result version {d.get('result_version')!r} is not supported "
                              f"(this wsolbench reads version {RESULT_VERSION}); re-run `wsolbench evaluate`")
        keys = ("metrics", "protocol", "protocol_name", "protocol_hash", "box", "mask", "per_class",
                "per_image", "counts", "maps", "dataset", "created", "wsolbench_version", "diagnostics",
                "bootstrap", "state")
        values = {k: d[k] for k in keys if k in d}
        values["diagnostics"] = values.get("diagnostics") or {}
        return cls(**values)

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
        """Read a result JSON; its per-image state file (if it names one) is read when first needed."""
        try:
            with open(path) as f:
                d = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise FormatError(f"{path}: cannot read a result JSON ({e}); produce one with "
                              "`wsolbench evaluate MAPS --gt SPEC --out result.json`") from e
        result = cls.from_dict(d)
        result._state_source = state_file_of(d, path)
        return result


def state_file_of(result: dict, path) -> str | None:
    """The per-image state file a result JSON at ``path`` names (beside it), or ``None``."""
    record = result.get("state") if isinstance(result, dict) else None
    if not isinstance(record, dict) or not record.get("file"):
        return None
    return os.path.join(os.path.dirname(os.path.abspath(os.fspath(path))), os.path.basename(str(record["file"])))

