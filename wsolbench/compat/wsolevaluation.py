"""clovaai/wsolevaluation's ``evaluation`` module, over wsolbench's public API: switch with one line.

.. code-block:: python

    from evaluation import BoxEvaluator, MaskEvaluator                         # the reference
    from wsolbench.compat.wsolevaluation import BoxEvaluator, MaskEvaluator    # the same numbers

The names, signatures, attributes and return values are the reference's (commit 96f4b88):
``BoxEvaluator`` / ``MaskEvaluator`` (``accumulate(scoremap, image_id)``, ``compute()`` -> the list of
MaxBoxAcc per IoU threshold / the PxAP), ``compute_bboxes_from_scoremaps``, ``calculate_multiple_iou``,
``resize_bbox``, ``get_mask``, ``load_mask_image``, ``evaluate_wsol`` and the metadata readers the
reference's ``evaluation`` namespace carries (``configure_metadata``, ``get_image_ids``, ...). The
numbers are computed by :func:`wsolbench.best_ious`, :class:`wsolbench.BoxAccuracy`,
:class:`wsolbench.PixelAP`, :func:`wsolbench.resize_boxes` and :func:`wsolbench.gt_mask`, which
equal the reference's on its golden vectors; neither OpenCV nor torch is needed.

Exceptions are the reference's classes without any mapping: bad score maps raise ``ValueError``
(wsolbench's ``FormatError`` is one), boxes that break ``x0, y0, x1, y1`` and PxAP without a positive
pixel raise ``RuntimeError`` (``BoxConventionError``, ``NoForegroundError``).

Deliberate differences: score maps of any real dtype are accepted (the reference insists on
float64 and raises ``TypeError``; they are evaluated in float64 either way); with
``multi_contour_eval=True`` :func:`compute_bboxes_from_scoremaps` lists the same boxes as OpenCV but in
another order (components in raster order, then holes), which changes no IoU; ``compute()`` prints
nothing; an image id given twice or unknown to the metadata raises instead of being counted twice or
failing with a ``KeyError`` deep inside; ``compute()`` before any ``accumulate`` raises instead of
returning NaN.

Example:
    >>> import numpy as np
    >>> from wsolbench.compat.wsolevaluation import compute_bboxes_from_scoremaps
    >>> m = np.zeros((4, 5)); m[1:3, 1:4] = 1.0
    >>> boxes, counts = compute_bboxes_from_scoremaps(m, [0.5])
    >>> boxes[0].tolist(), counts
    ([[1, 1, 4, 3]], [1])
"""

from __future__ import annotations

import os

import numpy as np

from wsolbench.datasets import load_annotations
from wsolbench.datasets.pngmask import read_gray_at
from wsolbench.datasets.records import GTMasks
from wsolbench.errors import FormatError, ProtocolError
from wsolbench.metrics.box_accuracy import BoxAccuracy
from wsolbench.metrics.boxes import best_ious, box_iou, extract_boxes
from wsolbench.metrics.gt import gt_mask, resize_boxes
from wsolbench.metrics.masks import PixelAP, bin_edges

_RESIZE_LENGTH = 224

__all__ = [
    "calculate_multiple_iou", "resize_bbox", "compute_bboxes_from_scoremaps", "LocalizationEvaluator",
    "BoxEvaluator", "MaskEvaluator", "load_mask_image", "get_mask", "evaluate_wsol", "configure_metadata",
    "get_image_ids", "get_class_labels", "get_bounding_boxes", "get_image_sizes", "get_mask_paths",
]


# --- metadata (the reference's data_loaders readers, which its evaluation module imports) ----------

class Metadata(dict):
    """The paths of a metadata folder's files, readable as attributes (the reference's ``munch``)."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def configure_metadata(metadata_root) -> Metadata:
    """The metadata files of a folder ``metadata/<DATASET>/<split>`` (paths; nothing is read)."""
    files = {"image_ids": "image_ids.txt", "image_ids_proxy": "image_ids_proxy.txt",
             "class_labels": "class_labels.txt", "image_sizes": "image_sizes.txt",
             "localization": "localization.txt"}
    return Metadata({key: os.path.join(metadata_root, name) for key, name in files.items()})


def _folder(metadata) -> str:
    """The metadata folder of a :func:`configure_metadata` result (or any mapping of the paths), or a folder."""
    if isinstance(metadata, (str, os.PathLike)):
        return os.fspath(metadata)
    return os.path.dirname(metadata["image_ids"])


def _annotations(metadata, mask_root=None):
    return load_annotations(f"wsoleval:{_folder(metadata)}", mask_root=mask_root)


def get_image_ids(metadata, proxy: bool = False) -> list[str]:
    """The image ids in file order (``image_ids.txt``, or ``image_ids_proxy.txt`` with ``proxy``), one per line."""
    if isinstance(metadata, (str, os.PathLike)):
        metadata = configure_metadata(metadata)
    with open(metadata["image_ids_proxy" if proxy else "image_ids"]) as f:
        return [line.strip("\n") for line in f.readlines()]


def get_class_labels(metadata) -> dict:
    """``{image_id: class index}``."""
    return {r.image_id: r.label for r in _annotations(metadata)}


def _number(v: float):
    return int(v) if float(v).is_integer() else float(v)


def get_bounding_boxes(metadata) -> dict:
    """``{image_id: [(x0, y0, x1, y1), ...]}`` in original pixels, for the images that have boxes."""
    return {r.image_id: [tuple(_number(v) for v in box) for box in r.boxes]
            for r in _annotations(metadata) if len(r.boxes)}


def get_image_sizes(metadata) -> dict:
    """``{image_id: (width, height)}``."""
    return {r.image_id: tuple(r.image_size) for r in _annotations(metadata) if r.image_size is not None}


def get_mask_paths(metadata) -> tuple[dict, dict]:
    """``({image_id: [mask paths]}, {image_id: ignore path})`` from a mask ``localization.txt``."""
    mask_paths, ignore_paths = {}, {}
    if isinstance(metadata, (str, os.PathLike)):
        metadata = configure_metadata(metadata)
    path = metadata["localization"]
    with open(path) as f:
        for number, line in enumerate(f.readlines(), 1):
            parts = line.strip("\n").split(",")
            if len(parts) != 3:
                raise FormatError(f"{path}:{number}: expected 'image_id,mask.png,ignore.png', got {line.strip()!r}")
            image_id, mask_path, ignore_path = parts
            if image_id in mask_paths:
                mask_paths[image_id].append(mask_path)
            else:
                mask_paths[image_id], ignore_paths[image_id] = [mask_path], ignore_path
    return mask_paths, ignore_paths


# --- boxes ---------------------------------------------------------------------------------------

def calculate_multiple_iou(box_a, box_b) -> np.ndarray:
    """IoU of every pair of ``x0, y0, x1, y1`` boxes: float64 (num_a, num_b) (:func:`wsolbench.box_iou`)."""
    return box_iou(np.asarray(box_a), np.asarray(box_b))


def resize_bbox(box, image_size, resize_size) -> tuple[int, int, int, int]:
    """A box from an image of ``image_size`` (w, h) to ``resize_size`` (w, h) (:func:`wsolbench.resize_boxes`)."""
    return tuple(int(v) for v in resize_boxes(np.asarray([box], np.float64), image_size, resize_size)[0])


def compute_bboxes_from_scoremaps(scoremap, scoremap_threshold_list, multi_contour_eval: bool = False):
    """The boxes of a score map at each threshold (:func:`wsolbench.extract_boxes`).

    Returns:
        ``(boxes, counts)``: per threshold an int64 (n, 4) array of ``x0, y0, x1, y1`` boxes (the largest
        region's only, or every region with ``multi_contour_eval``; ``[[0, 0, 0, 0]]`` when nothing is
        above the threshold) and n.
    """
    regions = "all" if multi_contour_eval else "largest"
    boxes = [extract_boxes(scoremap, float(t), regions=regions) for t in scoremap_threshold_list]
    return boxes, [len(b) for b in boxes]


class LocalizationEvaluator:
    """Base of the two evaluators: the reference's constructor arguments, kept as attributes."""

    def __init__(self, metadata, dataset_name, split, cam_threshold_list, iou_threshold_list, mask_root,
                 multi_contour_eval):
        self.metadata = metadata
        self.cam_threshold_list = cam_threshold_list
        self.iou_threshold_list = iou_threshold_list
        self.dataset_name = dataset_name
        self.split = split
        self.mask_root = mask_root
        self.multi_contour_eval = multi_contour_eval

    def accumulate(self, scoremap, image_id):
        raise NotImplementedError

    def compute(self):
        raise NotImplementedError


class BoxEvaluator(LocalizationEvaluator):
    """MaxBoxAcc (``multi_contour_eval=False``) or its all-regions form, per IoU threshold.

    Attributes (the reference's): ``image_ids``, ``resize_length``, ``cnt``, ``num_correct``
    (``{iou: float64 (T,)}``), ``original_bboxes``, ``image_sizes``, ``gt_bboxes`` (in the 224 frame).
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        annotations = _annotations(self.metadata)
        self.image_ids = annotations.image_ids
        self.resize_length = _RESIZE_LENGTH
        self.original_bboxes = {r.image_id: [tuple(_number(v) for v in b) for b in r.boxes]
                                for r in annotations if len(r.boxes)}
        self.image_sizes = {r.image_id: tuple(r.image_size) for r in annotations if r.image_size is not None}
        frame = (self.resize_length, self.resize_length)
        self._gt = {r.image_id: resize_boxes(r.boxes, r.image_size, frame, image_id=r.image_id)
                    for r in annotations if len(r.boxes)}
        self.gt_bboxes = {image_id: [tuple(int(v) for v in b) for b in boxes] for image_id, boxes in self._gt.items()}
        self._thresholds = np.asarray(self.cam_threshold_list, dtype=np.float64)
        self._accuracy = BoxAccuracy(self._thresholds, iou_thresholds=self.iou_threshold_list,
                                     all_regions=bool(self.multi_contour_eval))
        self._mode = "all" if self.multi_contour_eval else "largest"
        self._seen: set[str] = set()

    @property
    def cnt(self) -> int:
        return int(self._accuracy.state["count"])

    @property
    def num_correct(self) -> dict:
        counts = self._accuracy.state[f"correct_{self._mode}"]
        return {iou: counts[k].astype(np.float64) for k, iou in enumerate(self.iou_threshold_list)}

    def accumulate(self, scoremap, image_id):
        """Add one image's score map (H, W) in [0, 1] at the 224 frame, for ``image_id``."""
        if image_id not in self._gt:
            raise FormatError(f"image '{image_id}' has no boxes in {_folder(self.metadata)}; accumulate maps of "
                              "the metadata's images only")
        if image_id in self._seen:
            raise FormatError(f"image '{image_id}' was accumulated twice; give every image once")
        best = best_ious(scoremap, self._gt[image_id], self._thresholds, all_regions=bool(self.multi_contour_eval))
        self._accuracy.update(best)
        self._seen.add(image_id)

    def compute(self) -> list:
        """The maximum box accuracy (percent) over the thresholds, for each IoU threshold in order."""
        result = self._accuracy.compute()
        mode = result.all if self.multi_contour_eval else result.largest
        return [np.float64(mode.max[int(iou)]) for iou in self.iou_threshold_list]


# --- masks ---------------------------------------------------------------------------------------

def load_mask_image(file_path, resize_size) -> np.ndarray:
    """A grayscale mask PNG as float32, nearest-resized to ``resize_size`` = (width, height)."""
    return read_gray_at(file_path, resize_size).astype(np.float32)


def get_mask(mask_root, mask_paths, ignore_path) -> np.ndarray:
    """The 224x224 GT mask of an image: 1 foreground, 255 ignore, 0 background (:func:`wsolbench.gt_mask`)."""
    frame = (_RESIZE_LENGTH, _RESIZE_LENGTH)
    instances = [read_gray_at(os.path.join(mask_root, p), frame) for p in mask_paths]
    ignore = read_gray_at(os.path.join(mask_root, ignore_path), frame) if ignore_path else None
    masks = GTMasks(instances=instances, instance_labels=[None] * len(instances), ignore=ignore)
    return gt_mask(masks, frame)


def _pxap_step(cam_threshold_list) -> float:
    """The step of a threshold list ``np.arange(0, 1, step)`` (the PxAP bin edges need that grid)."""
    thresholds = np.asarray(cam_threshold_list, dtype=np.float64)
    step = float(thresholds[1]) if len(thresholds) > 1 else 0.0
    if not (0 < step < 1) or not np.array_equal(bin_edges(step)[:-3], thresholds):
        raise ProtocolError("MaskEvaluator needs cam_threshold_list = list(np.arange(0, 1, step)) "
                            f"(got {len(thresholds)} values starting {thresholds[:3].tolist()})")
    return step


class MaskEvaluator(LocalizationEvaluator):
    """PxAP over OpenImages-style masks.

    Attributes (the reference's): ``mask_paths``, ``ignore_paths``, ``num_bins``,
    ``threshold_list_right_edge``, ``gt_true_score_hist``, ``gt_false_score_hist`` (float64 (T + 2,)).
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if self.dataset_name != "OpenImages":
            raise ValueError("Mask evaluation must be performed on OpenImages.")
        self.mask_paths, self.ignore_paths = get_mask_paths(self.metadata)
        self.num_bins = len(self.cam_threshold_list) + 2
        self.threshold_list_right_edge = np.append(self.cam_threshold_list, [1.0, 2.0, 3.0])
        self._pxap = PixelAP(_pxap_step(self.cam_threshold_list))

    @property
    def gt_true_score_hist(self) -> np.ndarray:
        return self._pxap.fg_hist.astype(np.float64)

    @property
    def gt_false_score_hist(self) -> np.ndarray:
        return self._pxap.bg_hist.astype(np.float64)

    def accumulate(self, scoremap, image_id):
        """Add one image's score map (224, 224) in [0, 1] for ``image_id``."""
        if image_id not in self.mask_paths:
            raise FormatError(f"image '{image_id}' has no masks in {_folder(self.metadata)}; accumulate maps of "
                              "the metadata's images only")
        mask = get_mask(self.mask_root, self.mask_paths[image_id], self.ignore_paths[image_id])
        self._pxap.update(scoremap, mask, image_id=image_id)

    def compute(self) -> np.float64:
        """PxAP (percent): the area under the pixel precision-recall curve."""
        return np.float64(self._pxap.compute().pxap)


def evaluate_wsol(scoremap_root, metadata_root, mask_root, dataset_name, split, multi_contour_eval,
                  multi_iou_eval, iou_threshold_list, cam_curve_interval=.001):
    """The reference's file-based evaluation: ``<scoremap_root>/<image_id>.npy`` maps at 224x224 in [0, 1].

    Returns:
        MaxBoxAcc at IoU 50, or its mean over ``iou_threshold_list`` with ``multi_iou_eval``
        (CUB, ILSVRC); PxAP (OpenImages).
    """
    metadata = configure_metadata(os.path.join(metadata_root, dataset_name, split))
    image_ids = get_image_ids(metadata)
    cam_threshold_list = list(np.arange(0, 1, cam_curve_interval))
    kind = {"OpenImages": MaskEvaluator, "CUB": BoxEvaluator, "ILSVRC": BoxEvaluator}.get(dataset_name)
    if kind is None:
        raise ValueError(f"dataset_name must be CUB, ILSVRC or OpenImages, got {dataset_name!r}")
    evaluator = kind(metadata=metadata, dataset_name=dataset_name, split=split,
                     cam_threshold_list=cam_threshold_list, mask_root=os.path.join(mask_root, "OpenImages"),
                     multi_contour_eval=multi_contour_eval, iou_threshold_list=iou_threshold_list)
    for image_id in image_ids:
        evaluator.accumulate(np.load(os.path.join(scoremap_root, image_id + ".npy")), image_id)
    performance = evaluator.compute()
    if multi_iou_eval or dataset_name == "OpenImages":
        return np.average(performance)
    return performance[iou_threshold_list.index(50)]
