"""The per-image state of a result as a few columnar arrays: what resampling needs, and nothing else.

Every headline number is a function of per-image rows that add (``docs/protocol.md``), so the
rows of one evaluation are enough to recompute the numbers on any multiset of its images (a
bootstrap resample) without touching a map again. :class:`ImageState` holds them compactly:

* ``correct``: uint8 (n, modes, IoU thresholds, ceil(T / 8)): per map, per region mode
  (``largest``, then ``all``) and IoU threshold, the bit-packed (``np.packbits``) booleans
  "best IoU >= IoU threshold" over the T CAM thresholds. The set of thresholds at which a box is
  correct need not be an interval, so the bits are kept, not a first/last index.
* ``fg_hist``, ``bg_hist``: (n, T + 2) per-map PxAP score histograms, in the smallest unsigned dtype
  that holds the frame's pixel count (uint16 for 224x224).
* ``labels``, ``predicted`` (-1 = none), ``pointing_hit``, ``energy``: one value per map.

Sizes: at step 0.01 a box row is 75 bytes (2 modes x 3 IoUs x 13 bytes), a mask row 408 bytes; at
step 0.001, 750 and 4,008 bytes. It is written beside a result JSON as ``<result>.state.npz``
(``docs/result-json.md``), so that ``compare`` can run a paired test between two saved results.

Example:
    >>> import numpy as np
    >>> s = ImageState(image_ids=["a", "b"], labels=np.array([0, 1]), predicted=np.array([0, -1]),
    ...                thresholds=np.array([0.0, 0.5]), iou_thresholds=(50,), maxboxacc_iou=50,
    ...                modes=("largest",), correct=np.packbits(np.array([[[[1, 0]]], [[[1, 1]]]], bool), axis=-1))
    >>> s.correct_bits().shape, s.n_maps
    ((2, 1, 1, 2), 2)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

from wsolbench.errors import FormatError

STATE_FORMAT = "wsolbench.imagestate"
STATE_VERSION = 1
SUFFIX = ".state.npz"


@dataclass(eq=False)
class ImageState:
    """Columnar per-map state of one evaluation (see the module docstring for the arrays).

    Attributes:
        image_ids: the maps' image ids, in ground-truth order (an image repeats on multi-label data).
        labels: int64 (n,) the class each map is scored for.
        predicted: int64 (n,) top-1 predicted class, -1 where none was given.
        thresholds: float64 (T,) the CAM-threshold grid.
        iou_thresholds: IoU thresholds in percent; maxboxacc_iou: the one of MaxBoxAcc / top-1 loc.
        modes: the box region modes held in ``correct`` (``("largest",)`` or ``("largest", "all")``).
        fixed_threshold: whether the protocol reports at one fixed threshold (``cam2016``).
        correct: uint8 (n, modes, IoUs, ceil(T / 8)) packed bits, or ``None`` without boxes.
        cam_step: the threshold step of the PxAP histograms.
        fg_hist, bg_hist: (n, T + 2) histograms, or ``None`` without masks.
        multilabel: the dataset is multi-label (mPxAP is the mean of per-class PxAP).
        pointing_hit: bool (n,) or ``None``; energy: float64 (n,) energy share or ``None``.
        protocol_hash: the protocol of the evaluation.
    """

    image_ids: list
    labels: np.ndarray
    predicted: np.ndarray
    thresholds: np.ndarray
    iou_thresholds: tuple = (30, 50, 70)
    maxboxacc_iou: int = 50
    modes: tuple = ("largest", "all")
    fixed_threshold: bool = False
    correct: np.ndarray | None = None
    cam_step: float = 0.01
    fg_hist: np.ndarray | None = None
    bg_hist: np.ndarray | None = None
    multilabel: bool = False
    pointing_hit: np.ndarray | None = None
    energy: np.ndarray | None = None
    protocol_hash: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def n_maps(self) -> int:
        return len(self.image_ids)

    @property
    def n_thresholds(self) -> int:
        return len(self.thresholds)

    @property
    def has_predictions(self) -> bool:
        """Every map has a predicted label (top-1 loc and top-1 cls are defined)."""
        return self.n_maps > 0 and bool((self.predicted >= 0).all())

    def keys(self) -> list[tuple[str, int]]:
        """``(image id, class)`` of every map: what pairs the maps of two evaluations."""
        return list(zip(self.image_ids, (int(c) for c in self.labels)))

    def correct_bits(self, rows: slice | np.ndarray = slice(None)) -> np.ndarray:
        """uint8 0/1 (n, modes, IoUs, T) of the selected rows."""
        return np.unpackbits(self.correct[rows], axis=-1, count=self.n_thresholds)

    def take(self, order) -> "ImageState":
        """A state with the rows in ``order`` (indices into this state)."""
        order = np.asarray(order, dtype=np.int64)
        pick = (lambda a: None if a is None else a[order])
        return ImageState(
            image_ids=[self.image_ids[i] for i in order], labels=self.labels[order], predicted=self.predicted[order],
            thresholds=self.thresholds, iou_thresholds=self.iou_thresholds, maxboxacc_iou=self.maxboxacc_iou,
            modes=self.modes, fixed_threshold=self.fixed_threshold, correct=pick(self.correct),
            cam_step=self.cam_step, fg_hist=pick(self.fg_hist), bg_hist=pick(self.bg_hist),
            multilabel=self.multilabel, pointing_hit=pick(self.pointing_hit), energy=pick(self.energy),
            protocol_hash=self.protocol_hash, meta=dict(self.meta))

    def aligned_to(self, other: "ImageState") -> "ImageState":
        """This state's rows in ``other``'s order (both must hold the same maps).

        Raises:
            FormatError: the two states hold different maps (naming some on each side).
        """
        mine = {k: i for i, k in enumerate(self.keys())}
        theirs = other.keys()
        their_set = set(theirs)
        only_other = [k for k in theirs if k not in mine]
        only_mine = [k for k in mine if k not in their_set]
        if only_other or only_mine or len(mine) != len(theirs):
            def show(keys):
                return ", ".join(f"'{i}'" for i, _ in keys[:2]) or "none"
            raise FormatError(f"the two results do not hold the same images: {len(only_other)} only in the first "
                              f"(e.g. {show(only_other)}), {len(only_mine)} only in the second (e.g. "
                              f"{show(only_mine)}); a paired test needs both evaluated on the same split")
        return self.take([mine[k] for k in theirs])

    # --- files -------------------------------------------------------------------------------

    def _meta(self) -> dict:
        return {"format": STATE_FORMAT, "version": STATE_VERSION, "iou_thresholds": list(self.iou_thresholds),
                "maxboxacc_iou": self.maxboxacc_iou, "modes": list(self.modes),
                "fixed_threshold": self.fixed_threshold, "cam_step": self.cam_step, "multilabel": self.multilabel,
                "protocol_hash": self.protocol_hash, **self.meta}

    def save(self, path) -> None:
        """Write the state as a compressed ``.npz`` (numpy only; loads without pickle)."""
        arrays = {"meta": np.array(json.dumps(self._meta())), "image_ids": np.array(self.image_ids, dtype=str),
                  "labels": self.labels.astype(np.int64), "predicted": self.predicted.astype(np.int64),
                  "thresholds": self.thresholds}
        for name in ("correct", "fg_hist", "bg_hist", "pointing_hit", "energy"):
            if getattr(self, name) is not None:
                arrays[name] = getattr(self, name)
        with open(path, "wb") as f:
            np.savez_compressed(f, **arrays)

    @classmethod
    def load(cls, path) -> "ImageState":
        """Read a state written by :meth:`save`.

        Raises:
            FormatError: the file is missing, unreadable, or not a wsolbench image state.
        """
        try:
            with np.load(os.fspath(path), allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
            meta = json.loads(str(data.pop("meta")))
        except (OSError, ValueError, KeyError) as e:
            raise FormatError(f"{path}: cannot read a per-image state ({e}); it is written beside a result JSON "
                              "by `wsolbench evaluate --out`") from e
        if meta.get("format") != STATE_FORMAT or meta.get("version") != STATE_VERSION:
            raise FormatError(f"{path}: not a version-{STATE_VERSION} wsolbench per-image state "
                              f"(format {meta.get('format')!r}, version {meta.get('version')!r}); re-run the evaluation")
        known = ("format", "version", "iou_thresholds", "maxboxacc_iou", "modes", "fixed_threshold", "cam_step",
                 "multilabel", "protocol_hash")
        return cls(image_ids=[str(i) for i in data.pop("image_ids")], labels=data.pop("labels"),
                   predicted=data.pop("predicted"), thresholds=data.pop("thresholds"),
                   iou_thresholds=tuple(meta["iou_thresholds"]), maxboxacc_iou=int(meta["maxboxacc_iou"]),
                   modes=tuple(meta["modes"]), fixed_threshold=bool(meta["fixed_threshold"]),
                   cam_step=float(meta["cam_step"]), multilabel=bool(meta["multilabel"]),
                   protocol_hash=str(meta["protocol_hash"]), meta={k: v for k, v in meta.items() if k not in known},
                   **{k: data.get(k) for k in ("correct", "fg_hist", "bg_hist", "pointing_hit", "energy")})


def state_path(result_path) -> str:
    """The state file that goes with a result JSON: ``run/result.json`` -> ``run/result.state.npz``."""
    path = os.fspath(result_path)
    stem = path[:-5] if path.endswith(".json") else path
    return stem + SUFFIX


def load_checked(path, record: dict | None) -> ImageState:
    """Read the state file a result JSON names, checking that it is the one saved with it.

    Raises:
        FormatError: the file is missing, or its sha256 is not the one the JSON records.
    """
    from wsolbench.scoremaps.reader import sha256_file

    if not os.path.isfile(path):
        raise FormatError(f"{path}: the per-image state file of the result is missing; keep it beside the result "
                          "JSON (copy both), or re-run `wsolbench evaluate --out` to write both")
    expected = (record or {}).get("sha256")
    if expected and sha256_file(path) != expected:
        raise FormatError(f"{path}: this per-image state file is not the one saved with the result JSON (sha256 "
                          f"differs from {expected[:12]}...); re-run `wsolbench evaluate --out` to write both again")
    return ImageState.load(path)
