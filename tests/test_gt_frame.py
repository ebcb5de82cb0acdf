"""Ground truth into the evaluation frame: GT boxes (resize_bbox) and GT masks (get_mask)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from wsolbench.datasets.records import GTMasks
from wsolbench.errors import AnnotationError
from wsolbench.metrics.gt import gt_mask, resize_boxes

GOLDEN = Path(__file__).parent / "data" / "golden" / "golden.npz"


@pytest.fixture(scope="module")
def golden():
    with np.load(GOLDEN) as z:
        return {k: z[k] for k in z.files if k.startswith(("box_gt", "box_image", "mask_"))
                and k != "mask_scoremaps"}


def test_golden_boxes_resized_exactly(golden):
    boxes = golden["box_gt_boxes_orig"]
    sizes = golden["box_image_sizes_wh"][golden["box_gt_image_index"]]
    ours = np.concatenate([resize_boxes(b[None], s, (224, 224)) for b, s in zip(boxes, sizes)])
    assert ours.dtype == np.int64
    assert np.array_equal(ours, golden["box_gt_boxes_224"])
    assert (sizes != 224).any()  # the set exercises non-224 originals


def test_resize_boxes_is_python_float_arithmetic():
    rng = np.random.default_rng(0)
    for _ in range(200):
        w, h = (int(v) for v in rng.integers(1, 2000, 2))
        x0, x1 = sorted(rng.uniform(0, w, 2))
        y0, y1 = sorted(rng.uniform(0, h, 2))
        new_w, new_h = (int(v) for v in rng.integers(1, 500, 2))
        expected = [int(x0 * new_w / w), int(y0 * new_h / h), int(x1 * new_w / w), int(y1 * new_h / h)]
        assert resize_boxes([[x0, y0, x1, y1]], (w, h), (new_w, new_h)).tolist() == [expected]


def test_resize_boxes_empty_and_errors():
    assert resize_boxes(np.zeros((0, 4)), (500, 375), (224, 224)).shape == (0, 4)
    with pytest.raises(AnnotationError, match="image 'im.jpg'.*x1 >= x0"):
        resize_boxes([[10, 0, 5, 3]], (100, 100), (224, 224), image_id="im.jpg")
    with pytest.raises(AnnotationError, match="non-negative"):
        resize_boxes([[-1, 0, 5, 3]], (100, 100), (224, 224))
    with pytest.raises(AnnotationError, match="positive"):
        resize_boxes([[1, 0, 5, 3]], (0, 100), (224, 224))
    with pytest.raises(AnnotationError, match=r"\(K, 4\)"):
        resize_boxes([[1, 2, 3]], (10, 10), (224, 224))


def _golden_masks(golden, i):
    n = int(golden["mask_num_instances"][i])
    inst = [golden[f"mask_inst_{i:04d}_{k}"] for k in range(n)]
    return GTMasks(instances=inst, instance_labels=[None] * n, ignore=golden[f"mask_ignore_{i:04d}"])


def test_golden_masks_rebuilt_exactly(golden):
    n_images = len(golden["mask_gt"])
    resized = 0
    for i in range(n_images):
        masks = _golden_masks(golden, i)
        ours = gt_mask(masks, (224, 224))
        assert ours.dtype == np.uint8
        assert np.array_equal(ours, golden["mask_gt"][i]), golden["mask_image_ids"][i]
        resized += masks.instances[0].shape != (224, 224)
    assert resized > 0  # non-224 originals are covered


def test_golden_masks_from_0_255_pngs_are_the_same(golden):
    for i in range(len(golden["mask_gt"])):
        m = _golden_masks(golden, i)
        as_png = GTMasks([x * 255 for x in m.instances], m.instance_labels, m.ignore * 255)
        assert np.array_equal(gt_mask(as_png, (224, 224)), golden["mask_gt"][i])


def test_gt_mask_matches_cv2_get_mask_on_odd_sizes():
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(5)
    for h, w in [(333, 500), (1063, 1600), (97, 61)]:
        inst = [(rng.random((h, w)) > 0.7).astype(np.uint8) * 255 for _ in range(3)]
        ignore = np.zeros((h, w), np.uint8)
        ignore[h // 4: h // 2, : w // 3] = 255
        fg = np.stack([cv2.resize(m.astype(np.float32), (224, 224), interpolation=cv2.INTER_NEAREST) > 0.5
                       for m in inst]).any(0)
        ig = (cv2.resize(ignore, (224, 224), interpolation=cv2.INTER_NEAREST) > 0.5) & ~fg
        expected = fg.astype(np.uint8) + 255 * ig.astype(np.uint8)
        assert np.array_equal(gt_mask(GTMasks(inst, [None] * 3, ignore), (224, 224)), expected)


def test_gt_mask_ignore_never_covers_foreground_and_threshold_is_strict():
    inst = np.array([[0.0, 0.5, 0.6], [1.0, 0.0, 0.0]], np.float64)
    ignore = np.ones((2, 3), np.uint8)
    out = gt_mask(GTMasks([inst], [None], ignore), (3, 2))
    assert out.tolist() == [[255, 255, 1], [1, 255, 255]]  # 0.5 is not > 0.5
    assert gt_mask(GTMasks([inst], [None], None), (3, 2)).tolist() == [[0, 0, 1], [1, 0, 0]]


def test_gt_mask_without_instances_is_background_and_ignore():
    ignore = np.zeros((4, 4), np.uint8)
    ignore[0] = 1
    out = gt_mask(GTMasks([], [], ignore), (4, 4))
    assert out.tolist() == [[255] * 4] + [[0] * 4] * 3


def test_gt_mask_per_class_multilabel():
    a = np.zeros((4, 4), np.uint8)
    a[:2, :2] = 1
    b = np.zeros((4, 4), np.uint8)
    b[2:, 2:] = 1
    void = np.zeros((4, 4), np.uint8)
    void[0, 3] = 1
    masks = GTMasks([a, b], [3, 7], void)
    both = gt_mask(masks, (4, 4))
    only3 = gt_mask(masks, (4, 4), class_index=3)
    only7 = gt_mask(masks, (4, 4), class_index=7)
    assert (both == 1).sum() == 8 and (only3 == 1).sum() == 4 and (only7 == 1).sum() == 4
    assert np.array_equal(only3 == 1, a == 1) and np.array_equal(only7 == 1, b == 1)
    assert only3[3, 3] == 0 and only7[0, 0] == 0  # the other class is background
    assert only3[0, 3] == 255 and only7[0, 3] == 255  # void stays ignore
    assert (gt_mask(masks, (4, 4), class_index=5) == 1).sum() == 0
    # unlabelled instances (single-class data) belong to whatever class is asked for
    assert np.array_equal(gt_mask(GTMasks([a], [None]), (4, 4), class_index=9), a)


def test_gt_mask_rejects_bad_masks():
    with pytest.raises(AnnotationError, match="image 'x.png'.*instance mask 0.*2-D"):
        gt_mask(GTMasks([np.zeros((4, 4, 3))], [None]), (224, 224), image_id="x.png")
    with pytest.raises(AnnotationError, match="ignore"):
        gt_mask(GTMasks([np.zeros((4, 4))], [None], np.zeros(5)), (224, 224))
