"""Protocol: every setting that changes a number, named presets and a stable short hash.

Two results are comparable iff their protocol hashes are equal. Presets:

* ``wsoleval`` (default): the CVPR 2020 protocol of clovaai/wsolevaluation. Maps are resized to
  224x224 (bicubic, as OpenCV ``INTER_CUBIC``), min-max normalised, thresholded on the grid
  ``np.arange(0, 1, cam_step)``; MaxBoxAcc (largest region, IoU 50), MaxBoxAccV2 (all regions,
  holes included, mean over IoU 30/50/70) and PxAP. The default step is 0.001, the reference's
  ``--cam_curve_interval`` default (``config.py``, ``inference.py``), which produced every published
  MaxBoxAccV2 and PxAP; ``cam_step=0.01`` stays available and has a hash of its own.
* ``cam2016``: the protocol of the original CAM and Hide-and-Seek papers: one fixed threshold
  (0.2 by default), the largest region, IoU 50.

Example:
    >>> from wsolbench.protocol import get_protocol
    >>> p = get_protocol("cam2016", threshold=0.3)
    >>> p.fixed_threshold, p.iou_thresholds
    (0.3, (50,))
    >>> len(p.hash())
    12
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

import numpy as np

from wsolbench.bounds import check_cam_step
from wsolbench.errors import ProtocolError

PRESETS = ("wsoleval", "cam2016")

#: The ``wsoleval`` CAM-threshold step: wsolevaluation's ``cam_curve_interval`` default.
DEFAULT_CAM_STEP = 0.001
#: The (unused) grid step recorded by ``cam2016``, whose one fixed threshold needs no grid; kept at
#: 0.01 so that the preset's hash, and the rows stamped with it, do not change.
CAM2016_CAM_STEP = 0.01


@dataclass(frozen=True)
class Protocol:
    """Every knob that changes a WSOL number.

    Attributes:
        name: preset name this protocol derives from (``wsoleval`` or ``cam2016``).
        resolution: evaluation frame ``(width, height)``; maps and GT are brought to it.
        interpolation: how raw maps are resized to ``resolution`` (``bicubic`` = OpenCV
            ``INTER_CUBIC``).
        normalization: ``minmax`` (the reference's ``normalize_scoremap``: NaN or constant map
            -> zeros) applied to raw maps after the resize.
        cam_step: spacing of the CAM-threshold grid ``np.arange(0, 1, cam_step)``.
        fixed_threshold: ``None`` (best threshold chosen over the grid) or a threshold in
            [0, 1) at which accuracy is reported (``cam2016``).
        iou_thresholds: IoU thresholds in percent.
        maxboxacc_iou: the IoU threshold (percent) of MaxBoxAcc / GT-known / top-1 loc.
        box_regions: ``largest`` (only the largest region per threshold), or ``both``
            (largest for MaxBoxAcc and all regions, holes included, for MaxBoxAccV2).
        map_class: which class's map is scored: ``gt`` (GT-known) or ``predicted``.
    """

    name: str = "wsoleval"
    resolution: tuple[int, int] = (224, 224)
    interpolation: str = "bicubic"
    normalization: str = "minmax"
    cam_step: float = DEFAULT_CAM_STEP
    fixed_threshold: float | None = None
    iou_thresholds: tuple[int, ...] = (30, 50, 70)
    maxboxacc_iou: int = 50
    box_regions: str = "both"
    map_class: str = "gt"

    def __post_init__(self) -> None:
        if self.name not in PRESETS:
            raise ProtocolError(f"unknown protocol preset {self.name!r}; choose one of {', '.join(PRESETS)}")
        w, h = self.resolution
        if int(w) != w or int(h) != h or w < 1 or h < 1:
            raise ProtocolError(f"resolution must be two positive integers (width, height), got {self.resolution}")
        if not (0 < self.cam_step < 1):
            raise ProtocolError(f"cam_step must lie in (0, 1), got {self.cam_step}; the field uses 0.01 or 0.001")
        check_cam_step(self.cam_step)
        if self.fixed_threshold is not None and not (0 <= self.fixed_threshold < 1):
            raise ProtocolError(f"fixed threshold must lie in [0, 1), got {self.fixed_threshold}")
        if not self.iou_thresholds or any(not (0 < d <= 100) for d in self.iou_thresholds):
            raise ProtocolError(f"IoU thresholds must be percentages in (0, 100], got {self.iou_thresholds}")
        if self.maxboxacc_iou not in self.iou_thresholds:
            raise ProtocolError(f"maxboxacc_iou {self.maxboxacc_iou} must be one of the IoU thresholds {self.iou_thresholds}")
        if self.interpolation not in ("bicubic", "bilinear", "nearest"):
            raise ProtocolError(f"unknown interpolation {self.interpolation!r}; use bicubic, bilinear or nearest")
        if self.normalization not in ("minmax", "none"):
            raise ProtocolError(f"unknown normalization {self.normalization!r}; use minmax or none")
        if self.box_regions not in ("largest", "both"):
            raise ProtocolError(f"box_regions must be 'largest' or 'both', got {self.box_regions!r}")
        if self.map_class not in ("gt", "predicted"):
            raise ProtocolError(f"map_class must be 'gt' or 'predicted', got {self.map_class!r}")

    @property
    def width(self) -> int:
        return int(self.resolution[0])

    @property
    def height(self) -> int:
        return int(self.resolution[1])

    def cam_thresholds(self) -> np.ndarray:
        """The CAM-threshold grid, exactly the reference's float64 ``np.arange(0, 1, step)``.

        Under a fixed-threshold protocol the grid is the single fixed threshold.
        """
        if self.fixed_threshold is not None:
            return np.array([self.fixed_threshold], dtype=np.float64)
        return np.arange(0, 1, self.cam_step)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["resolution"] = list(self.resolution)
        d["iou_thresholds"] = list(self.iou_thresholds)
        return d

    def hash(self) -> str:
        """A short, stable hash of every field (12 hex digits of SHA-256 of canonical JSON)."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def with_(self, **changes) -> "Protocol":
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, d: dict) -> "Protocol":
        d = dict(d)
        d["resolution"] = tuple(d["resolution"])
        d["iou_thresholds"] = tuple(d["iou_thresholds"])
        return cls(**d)


def get_protocol(name: str = "wsoleval", *, cam_step: float | None = None,
                 threshold: float | None = None, resolution: tuple[int, int] | None = None) -> Protocol:
    """Build a named preset, optionally overriding its CAM step, fixed threshold or resolution.

    Args:
        name: ``wsoleval`` or ``cam2016``.
        cam_step: grid spacing (``wsoleval`` only; default :data:`DEFAULT_CAM_STEP`, 0.001).
        threshold: the fixed threshold of ``cam2016`` (default 0.2).
        resolution: evaluation frame ``(width, height)`` (default 224x224).
    """
    extra = {} if resolution is None else {"resolution": tuple(resolution)}
    if name == "wsoleval":
        if threshold is not None:
            raise ProtocolError("the wsoleval protocol picks the best threshold; use --protocol cam2016 for a fixed threshold")
        return Protocol(name="wsoleval", cam_step=DEFAULT_CAM_STEP if cam_step is None else cam_step, **extra)
    if name == "cam2016":
        return Protocol(name="cam2016", fixed_threshold=0.2 if threshold is None else threshold,
                        iou_thresholds=(50,), maxboxacc_iou=50, box_regions="largest",
                        cam_step=CAM2016_CAM_STEP if cam_step is None else cam_step, **extra)
    raise ProtocolError(f"unknown protocol {name!r}; choose one of {', '.join(PRESETS)}")
