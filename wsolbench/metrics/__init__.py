"""Metric engine: box metrics (MaxBoxAcc, MaxBoxAccV2, top-1 loc), mask metrics, accumulators."""

from wsolbench.metrics.boxes import BestIoU, best_boxes, best_ious, box_iou, extract_boxes, quantize  # noqa: F401
from wsolbench.metrics.box_accuracy import BoxAccuracy, BoxAccuracyResult, BoxModeResult, box_accuracy  # noqa: F401
from wsolbench.metrics.resize import normalize_minmax, postprocess_map, resize_bicubic, resize_bilinear, resize_nearest  # noqa: F401,E501
from wsolbench.metrics.gt import gt_mask, resize_boxes  # noqa: F401
from wsolbench.metrics.masks import MaskResult, PerClassMaskResult, PerClassPixelAP, PixelAP, bin_edges, bin_index, per_class_pixel_ap, pixel_ap  # noqa: F401,E501
from wsolbench.metrics.result import METRIC_KEYS, EvaluationResult  # noqa: F401
