"""The public in-memory evaluator: feed maps batch by batch from an inference loop, get the
:class:`~wsolbench.metrics.result.EvaluationResult` that ``wsolbench evaluate`` writes.

In the torchmetrics manner: ``update`` per batch, ``compute`` at the end, ``reset``, ``merge`` of
shards and ``sync`` over ``torch.distributed``. ``wsolbench.pipeline.evaluate_maps`` (score-map
files) and the CLI are layers over it, so the numbers are the same whichever way maps arrive.

Example:
    >>> import numpy as np
    >>> from wsolbench import Evaluator, example_path
    >>> evaluator = Evaluator("wsoleval:" + example_path("metadata"), cam_step=0.01)
    >>> yy, xx = np.mgrid[-1:1:28j, -1:1:28j]
    >>> centre = np.exp(-4 * (xx ** 2 + yy ** 2))          # a 28x28 "CAM" on the image centre
    >>> ids = evaluator.annotations.image_ids
    >>> evaluator.update(ids, np.stack([centre] * len(ids)))
    >>> result = evaluator.compute()
    >>> result.counts["n_images"], round(result.metrics["maxboxacc"], 2)
    (24, 33.33)

torch is never imported here: tensors (any device, any float dtype) are recognised by their
``detach``/``cpu`` methods, and ``sync`` looks for ``torch.distributed`` only where the caller has
imported torch.
"""

from __future__ import annotations

import hashlib
import sys

import numpy as np

from wsolbench.datasets.coverage import require_ground_truth
from wsolbench.datasets.idmatch import no_match_message
from wsolbench.datasets.maskcache import frame_mask
from wsolbench.datasets.records import AnnotationSet, ImageRecord
from wsolbench.errors import AnnotationError, DatasetError, FormatError, ProtocolError
from wsolbench.metrics.evaluator import EvalState, FrameEvaluator, ImageInput, listing
from wsolbench.metrics.boxes import postprocess_best_ious
from wsolbench.metrics.gt import resize_boxes
from wsolbench.metrics.resize import postprocess_map
from wsolbench.metrics.result import EvaluationResult
from wsolbench.protocol import Protocol, get_protocol


def _to_numpy(x):
    """A numpy view of an array-like; torch tensors (CPU or CUDA, bfloat16 included) are duck-typed."""
    if hasattr(x, "detach") and hasattr(x, "cpu") and hasattr(x, "numpy"):
        t = x.detach()
        if str(getattr(t, "dtype", "")) == "torch.bfloat16":       # numpy has no bfloat16
            t = t.float()
        return t.cpu().numpy()
    return np.asarray(x)


def _as_ids(image_ids) -> list[str]:
    if isinstance(image_ids, str):
        return [image_ids]
    ids = list(image_ids.tolist() if isinstance(image_ids, np.ndarray) else image_ids)
    bad = [i for i in ids if not isinstance(i, str)]
    if bad:
        raise FormatError(f"image ids must be strings (the dataset's ids), got {type(bad[0]).__name__} "
                          f"{bad[0]!r}; pass the ids your data loader yields with each batch")
    return ids


def _as_maps(maps, n: int, single: bool) -> list[np.ndarray]:
    """``n`` 2-D maps from a batched array/tensor [B, h, w], a list of 2-D maps, or one 2-D map."""
    if isinstance(maps, (list, tuple)):
        out = [_to_numpy(m) for m in maps]
    else:
        arr = _to_numpy(maps)
        if single and arr.ndim == 2:
            arr = arr[None]
        if arr.ndim == 4 and arr.shape[1] == 1:
            raise FormatError(f"maps have shape {arr.shape}: expected [B, h, w]; drop the channel axis "
                              "(maps.squeeze(1) or maps[:, 0])")
        if arr.ndim != 3:
            raise FormatError(f"maps have shape {arr.shape} for {n} image id(s): expected a batch [B, h, w] "
                              "(np.stack / torch.stack the maps, or pass a list of 2-D maps)")
        out = list(arr)
    if len(out) != n:
        raise FormatError(f"got {len(out)} map(s) for {n} image id(s); pass one map per image id")
    return out


def _as_labels(labels, n: int, name: str, single: bool) -> list[int] | None:
    if labels is None:
        return None
    arr = _to_numpy(labels)
    if single and arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim == 2 and name == "predicted_labels":
        raise FormatError(f"predicted_labels have shape {arr.shape}: expected one class index per map "
                          "(the argmax of the logits: logits.argmax(1))")
    if arr.ndim != 1 or len(arr) != n:
        raise FormatError(f"{name} have shape {arr.shape}: expected one class index per map ({n},)")
    if arr.dtype.kind not in "iub" and not (arr.dtype.kind == "f" and np.array_equal(arr, np.trunc(arr))):
        raise FormatError(f"{name} must be integer class indices, got {arr.dtype} values such as "
                          f"{arr[:3].tolist()}")
    return [int(v) for v in arr]


def _is_constant(raw: np.ndarray, normalized: bool) -> bool:
    """A raw CAM the reference turns into zeros or into resize noise (NaN, or min == max). Maps given as
    final scores (``normalized``) are evaluated as given, so a constant one is no accident."""
    if normalized:
        return False
    if raw.dtype.kind == "f":                     # the minimum of a float map is NaN iff the map has a NaN
        lo = raw.min()
        return bool(lo != lo or lo == raw.max())
    return bool(np.isnan(raw).any() or raw.min() == raw.max())


def _world_size(group=None) -> int:
    """Processes in the initialised ``torch.distributed`` group; 1 when torch is not even imported."""
    torch = sys.modules.get("torch")
    dist = getattr(torch, "distributed", None) if torch is not None else None
    if dist is None or not dist.is_available() or not dist.is_initialized():
        return 1
    return dist.get_world_size(group)


def _dataset_identity(annotations: AnnotationSet) -> str:
    digest = hashlib.sha256("\n".join(annotations.image_ids).encode()).hexdigest()[:12]
    return f"{annotations.name} {annotations.split} ({len(annotations)} images, ids {digest})"


def _annotations_of(dataset, split: str | None, options: dict) -> AnnotationSet:
    if isinstance(dataset, AnnotationSet):
        if split is not None or options:
            raise DatasetError("split and dataset options apply to a dataset spec, not to an AnnotationSet; "
                               "pass them to load_annotations")
        return dataset
    if not isinstance(dataset, str):
        raise DatasetError(f"dataset must be a spec such as 'wsoleval:metadata/CUB/test' or an AnnotationSet, "
                           f"got {type(dataset).__name__}")
    from wsolbench.datasets import load_annotations

    return load_annotations(dataset, split=split, **options)


def _resolve_protocol(protocol, cam_step, threshold, annotations: AnnotationSet) -> Protocol:
    if isinstance(protocol, str):
        protocol = get_protocol(protocol, cam_step=cam_step, threshold=threshold)
    elif not isinstance(protocol, Protocol):
        raise ProtocolError(f"protocol must be a preset name ('wsoleval', 'cam2016') or a Protocol, got {protocol!r}")
    elif cam_step is not None or threshold is not None:
        raise ProtocolError("cam_step and threshold apply to a preset name; with a Protocol object use "
                            "get_protocol(name, cam_step=..., threshold=...) or protocol.with_(...)")
    needed = annotations.resolution
    if needed is not None and tuple(protocol.resolution) != tuple(needed):
        if tuple(protocol.resolution) != Protocol().resolution:
            raise ProtocolError(f"{annotations.source or annotations.name} is evaluated at resolution {tuple(needed)}, "
                                f"but the protocol sets {tuple(protocol.resolution)}; leave the resolution at its default")
        protocol = protocol.with_(resolution=tuple(needed))
    return protocol


class Evaluator:
    """Accumulates score maps of a dataset split, batch by batch, and computes the WSOL metrics.

    Args:
        dataset: a dataset spec (``"wsoleval:metadata/CUB/test"``, ``"synthetic:"``, ...) or an
            :class:`~wsolbench.datasets.AnnotationSet` (``load_annotations``).
        protocol: a preset name (``"wsoleval"``, ``"cam2016"``) or a :class:`~wsolbench.Protocol`.
        split: the split, for specs of datasets that hold several.
        cam_step: CAM-threshold grid step of a preset (its default when ``None``).
        threshold: the fixed threshold of ``cam2016``.
        normalized: the maps are final scores in [0, 1], evaluated as given (resized and clipped if not
            at the protocol's resolution). By default maps are raw CAMs, at any resolution: resized
            bicubic and min-max normalised per map, exactly as the reference does (``docs/protocol.md``).
        spec: the dataset spec to record in the result (taken from ``dataset`` when it is a spec).
        skip_images_without_gt: leave out the split's images that have neither a box nor a mask (their
            maps are ignored; the result lists them as ``dataset.skipped_without_gt``). By default such
            an image is an error: counted as a miss it would lower every metric.
        box_sizes: also record each map's largest-region box area at every CAM threshold, for the
            size diagnostics (predicted / GT box area at the best threshold; ``docs/protocol.md``).
            It costs one more largest-region sweep per map (on the synthetic benchmark 2.0 -> 2.7 ms
            of CPU per map, boxes and masks), so it is off by default; mask area ratios (from the PxAP
            histograms) and the pointing games (about 0.1 ms per map) are always computed.
        mask_cache: keep the GT masks in the evaluation frame in wsolbench's disk cache
            (:mod:`wsolbench.datasets.maskcache`), so that later evaluations of the split do not decode
            the mask files again; ``False`` decodes them every time (``WSOLBENCH_CACHE=''`` turns every
            cache off).
        **dataset_options: adapter options of a spec, e.g. ``mask_root="OpenImages/masks"``.

    Raises:
        FormatError: the ground truth has neither boxes nor masks. ProtocolError: a bad protocol.
        DatasetError, AnnotationError: the dataset cannot be loaded, or has images without ground truth.

    Maps are keyed by image id (and by class, with ``map_labels``, for multi-label data): an id that is
    not in the split, or given twice, is an error at :meth:`update`; an image without a map is an
    error at :meth:`compute`. Every error names the ids.
    """

    def __init__(self, dataset: str | AnnotationSet, protocol: Protocol | str = "wsoleval", *,
                 split: str | None = None, cam_step: float | None = None, threshold: float | None = None,
                 normalized: bool = False, spec: str | None = None, skip_images_without_gt: bool = False,
                 box_sizes: bool = False, mask_cache: bool = True, **dataset_options):
        annotations = _annotations_of(dataset, split, dataset_options)
        if isinstance(dataset, str) and spec is None:
            spec = dataset
        annotations, skipped = require_ground_truth(annotations, skip=skip_images_without_gt)
        self.skipped_without_gt = skipped if skip_images_without_gt else None
        self._skipped = set(skipped)
        self.annotations = annotations
        self.protocol = _resolve_protocol(protocol, cam_step, threshold, annotations)
        self.normalized = bool(normalized)
        self.spec = spec
        self.mask_cache = bool(mask_cache)
        self._frame = FrameEvaluator(self.protocol, with_boxes=annotations.has_boxes,
                                     with_masks=annotations.has_masks, num_classes=annotations.num_classes,
                                     multilabel=annotations.multilabel, box_sizes=box_sizes)
        if not (self._frame.with_boxes or self._frame.with_masks):
            raise FormatError(f"{annotations.source or annotations.name}: the ground truth has neither boxes nor "
                              "masks; nothing to localise against (is this a training split?)")
        self._index = {r.image_id: i for i, r in enumerate(annotations.records)}
        self._identity = _dataset_identity(annotations)
        self._state = self._frame.new_state(self._identity)
        self._synced = False

    def __repr__(self) -> str:
        return (f"Evaluator({self.annotations.name} {self.annotations.split}, protocol {self.protocol.name} "
                f"{self.protocol.hash()}, {len(self._state)}/{self.n_expected} maps)")

    # --- state ---------------------------------------------------------------------------------

    @property
    def state(self) -> EvalState:
        """The accumulated state: picklable; ship it between processes or machines and :meth:`merge` it."""
        return self._state

    @property
    def n_expected(self) -> int:
        """Maps the split needs: one per image (one per (image, GT class) on multi-label data)."""
        if self.annotations.multilabel:
            return sum(len(r.labels) for r in self.annotations.records)
        return len(self.annotations)

    def missing(self) -> list[str]:
        """The images (``"id (class c)"`` on multi-label data) that have no map yet, in dataset order."""
        out = []
        multilabel = self._frame.multilabel              # known since __init__ (a scan of every record)
        for i, record in enumerate(self.annotations.records):
            classes = record.labels if multilabel else record.labels[:1]
            for pos, c in enumerate(classes):
                if (i, pos) not in self._state.rows:
                    out.append(f"{record.image_id} (class {c})" if multilabel else record.image_id)
        return out

    def reset(self) -> None:
        """Forget every map (keep the dataset and protocol)."""
        self._state = self._frame.new_state(self._identity)
        self._synced = False

    def _fresh(self) -> "Evaluator":
        """An empty evaluator of the same dataset, protocol and map kind (for workers)."""
        other = object.__new__(Evaluator)
        other.__dict__.update(self.__dict__)
        other._state = self._frame.new_state(self._identity)
        other._synced = False
        return other

    # --- update --------------------------------------------------------------------------------

    def update(self, image_ids, maps, predicted_labels=None, *, map_labels=None) -> None:
        """Add a batch of maps.

        Args:
            image_ids: the batch's dataset ids: a sequence of ``B`` strings (or one string for one map).
            maps: the maps, a numpy array or torch tensor ``[B, h, w]`` (CPU or CUDA, any float dtype)
                or a list of ``B`` 2-D maps (sizes may differ); a single 2-D map with a single id.
                Raw CAMs at feature resolution (e.g. 7x7 or 28x28) or maps at the protocol's resolution;
                with ``normalized=True`` final scores in [0, 1]. A 1-D signal is a ``(1, L)`` map.
            predicted_labels: ``[B]`` top-1 predicted classes (for top-1 loc and top-1 cls), or ``None``.
            map_labels: ``[B]`` the class each map is for; required on multi-label data (one map per
                (image, GT class)); on single-label data it must be the GT class (GT-known evaluation).

        Raises:
            FormatError: ids unknown to the dataset or already given (naming them), lengths or shapes
                that do not match, NaN/inf maps, multi-label maps without ``map_labels``. Nothing of the
                batch is added when any of it is wrong.
        """
        if self._synced:
            raise RuntimeError("this evaluator holds the maps of every process since sync(); call reset() "
                               "before adding maps again")
        single = isinstance(image_ids, str)
        ids = _as_ids(image_ids)
        arrays = _as_maps(maps, len(ids), single)
        preds = _as_labels(predicted_labels, len(ids), "predicted_labels", single)
        classes = _as_labels(map_labels, len(ids), "map_labels", single)
        if preds is not None:
            from wsolbench.scoremaps.format import check_class_range   # here: the package imports h5py

            check_class_range(np.asarray(preds), num_classes=self.annotations.num_classes, name="predicted_labels",
                              path="update()", rows=None, image_ids=ids)
        if self._skipped:
            keep = [j for j, i in enumerate(ids) if i not in self._skipped]
            ids, arrays = [ids[j] for j in keep], [arrays[j] for j in keep]
            preds = None if preds is None else [preds[j] for j in keep]
            classes = None if classes is None else [classes[j] for j in keep]
        keys = self._keys(ids, classes)
        rows = {}
        for j, (image_id, raw, key) in enumerate(zip(ids, arrays, keys)):
            item = self._input(key, raw, None if preds is None else preds[j], None if classes is None else classes[j])
            rows[key] = self._frame.evaluate_image(item)
        self._state.rows.update(rows)

    def _keys(self, ids: list[str], classes: list[int] | None) -> list[tuple[int, int]]:
        """Each map's key ``(record index, class position)``; raises naming unknown, duplicate or misfiled maps."""
        unknown = [i for i in dict.fromkeys(ids) if i not in self._index]
        if unknown:
            src = self.annotations.source or self.annotations.name
            if len(unknown) == len(set(ids)) and not self._state.rows:
                raise FormatError(f"{no_match_message(unknown, self.annotations.image_ids)} ({src}); pass the "
                                  "dataset's own ids, or build the evaluator for the dataset the maps are for")
            raise FormatError(f"{len(unknown)} image id(s) are not in the ground truth ({src}): {listing(unknown)}; "
                              "build the evaluator for the split the maps are for")
        multilabel = self._frame.multilabel              # known since __init__ (a scan of every record)
        if multilabel and classes is None:
            raise FormatError(f"{self.annotations.name} is multi-label: pass map_labels=[the class of each map] "
                              "(one map per (image, GT class))")
        keys, seen, repeated = [], set(), []
        for j, image_id in enumerate(ids):
            index = self._index[image_id]
            key = (index, self._position(self.annotations.records[index], classes, j, multilabel))
            if key in seen or key in self._state.rows:
                repeated.append(image_id)
            seen.add(key)
            keys.append(key)
        if repeated:
            raise FormatError(f"{len(repeated)} map(s) were given twice: {listing(repeated)}; give every image "
                              "once (reset() starts over)")
        return keys

    @staticmethod
    def _position(record: ImageRecord, classes: list[int] | None, j: int, multilabel: bool) -> int:
        if classes is None:
            return 0
        c = classes[j]
        if multilabel:
            if c not in record.labels:
                raise FormatError(f"image '{record.image_id}' has no class {c} (its classes: "
                                  f"{list(record.labels)}); give maps of its GT classes only")
            return record.labels.index(c)
        if c != record.labels[0]:
            raise FormatError(f"image '{record.image_id}': the map is of class {c} but the GT class is "
                              f"{record.labels[0]}; GT-known evaluation scores the map of the GT class")
        return 0

    def _input(self, key: tuple[int, int], raw, pred: int | None, map_label: int | None) -> ImageInput:
        """One map and its ground truth in the protocol's frame."""
        record = self.annotations.records[key[0]]
        image_id, protocol = record.image_id, self.protocol
        raw = np.asarray(raw)
        fused = self._frame.with_boxes and not self.normalized     # the map and its IoUs in one engine call
        if not fused:
            scoremap, _ = postprocess_map(raw, protocol, normalized=self.normalized, image_id=image_id)
        boxes = np.zeros((0, 4), np.int64)
        if len(record.boxes):
            if record.image_size is None:
                raise AnnotationError(f"{self.annotations.source or self.annotations.name}: image '{image_id}' "
                                      "has boxes but no image size; boxes are rescaled by the original size")
            boxes = resize_boxes(record.boxes, record.image_size, protocol.resolution, image_id=image_id)
        best = None
        if fused:
            scoremap, _, best = postprocess_best_ious(raw, protocol, boxes, self._frame.thresholds,
                                                      all_regions=self._frame.all_regions, image_id=image_id)
        mask = None
        if record.masks is not None:
            mask = frame_mask(record.masks, protocol.resolution, class_index=map_label, image_id=image_id,
                              cache=self.mask_cache)
        return ImageInput(image_id=image_id, labels=record.labels, scoremap=scoremap, gt_boxes=boxes, gt_mask=mask,
                          pred_label=pred, map_label=map_label, constant=_is_constant(raw, self.normalized), key=key,
                          best=best)

    # --- merge, sync ---------------------------------------------------------------------------

    def merge(self, other: "Evaluator | EvalState", *, drop_duplicates: bool = False) -> "Evaluator":
        """Add another evaluator's maps (or a shipped :attr:`state`) into this one; returns ``self``.

        Args:
            other: an evaluator (or its state) of the same dataset split and protocol.
            drop_duplicates: keep this evaluator's result where both hold a map of the same image
                (by default that is an error naming the ids).

        Raises:
            ProtocolError: another protocol. FormatError: another dataset, or maps in both.
        """
        state = other.state if isinstance(other, Evaluator) else other
        if not isinstance(state, EvalState):
            raise TypeError(f"merge() takes an Evaluator or its state, got {type(other).__name__}")
        self._state.merge(state, drop_duplicates=drop_duplicates)
        return self

    def sync(self, *, group=None, drop_duplicates: bool = False) -> "Evaluator":
        """Gather the maps of every process of ``torch.distributed`` into every process; returns ``self``.

        A collective call: every process of ``group`` must make it. Without an initialised process
        group (or torch) it does nothing. Afterwards each process holds the union of all shards, so
        :meth:`compute` gives the single-process numbers exactly (the state is integer counts and
        histograms per image, summed in dataset order). The states travel with ``all_gather_object``
        (on NCCL: set ``torch.cuda.set_device(local_rank)`` first, as DDP does).

        Args:
            group: the process group (default: the world).
            drop_duplicates: ``DistributedSampler`` pads the last batch by repeating images, so a padded
                loader gives some images to two processes: keep one (the lowest rank's). By default a
                map in two processes is an error naming the ids.
        """
        world = _world_size(group)
        if world <= 1 or self._synced:
            return self
        import torch.distributed as dist

        gathered: list = [None] * world
        dist.all_gather_object(gathered, self._state, group=group)
        merged = self._frame.new_state(self._identity)
        for state in gathered:
            merged.merge(state, drop_duplicates=drop_duplicates)
        self._state = merged
        self._synced = True
        return self

    # --- compute -------------------------------------------------------------------------------

    def compute(self, *, allow_missing: bool = False, bootstrap: int | None = None, seed: int = 0,
                confidence: float = 0.95) -> EvaluationResult:
        """The metrics of every map given so far, as the :class:`EvaluationResult` ``evaluate`` writes.

        The result carries the per-image state (``result.image_state``; ``result.save`` writes it beside
        the JSON), so intervals and paired tests can also be computed later
        (``result.add_bootstrap``, ``result.paired_test``).

        Args:
            allow_missing: compute on the maps given even if some images of the split have none (the
                result then covers ``counts["n_images"]`` of ``dataset["n_images"]`` images).
            bootstrap: resamples of a percentile bootstrap over images (e.g. 1000): fills the result's
                ``bootstrap`` section with an interval for every number, thresholds re-selected in
                each resample (:mod:`wsolbench.metrics.bootstrap`). ``None``: no intervals.
            seed: seed of the resampling.
            confidence: coverage of the intervals.

        Raises:
            FormatError: images without a map (naming them), or no map at all.
            NoForegroundError: mask data whose evaluated masks hold no foreground pixel.
        """
        if not self._state.rows:
            raise FormatError("no map was given: call update(image_ids, maps) before compute()")
        missing = [] if allow_missing else self.missing()
        if missing:
            src = self.annotations.source or self.annotations.name
            hint = ""
            if _world_size() > 1 and not self._synced:
                hint = " (this process holds only its shard: call evaluator.sync() on every process first)"
            raise FormatError(f"{len(missing)} image(s) of the ground truth ({src}) have no map: "
                              f"{listing(missing)}{hint}; give a map for every image of the split, or "
                              "compute(allow_missing=True)")
        sections = self._frame.summarize(self._state)
        p = self.protocol
        result = EvaluationResult(protocol=p.to_dict(), protocol_name=p.name, protocol_hash=p.hash(),
                                  maps={"source": "memory", "n_maps": len(self._state),
                                        "normalized": self.normalized},
                                  dataset=self.dataset_section(), **sections)
        result._image_state = self._frame.image_state(self._state)
        if bootstrap is not None:
            result.add_bootstrap(bootstrap, seed=seed, confidence=confidence)
        return result

    def dataset_section(self) -> dict:
        """The ``dataset`` part of the result (``docs/result-json.md``)."""
        section = self.annotations.provenance(self.spec)
        if self.skipped_without_gt is not None:
            section["skipped_without_gt"] = list(self.skipped_without_gt)
        return section

