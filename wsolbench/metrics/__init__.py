"""Metric engine: box metrics (MaxBoxAcc, MaxBoxAccV2, top-1 loc), mask metrics, accumulators."""

from wsolbench.metrics.boxes import BestIoU, best_boxes, best_ious, box_iou, extract_boxes, quantize  # noqa: F401
from wsolbench.metrics.box_accuracy import BoxAccuracy, BoxAccuracyResult, BoxModeResult, box_accuracy  # noqa: F401
