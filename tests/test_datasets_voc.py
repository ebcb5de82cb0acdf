"""The PASCAL VOC 2012 segmentation adapter (``voc:DIR``): palette indices, per-class masks, void."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fixtures_datasets import VOC_CLASSES as FIXTURE_CLASSES
from fixtures_datasets import make_voc, voc_palette
from wsolbench.datasets import load_annotations
from wsolbench.datasets.voc import VOC_CLASSES
from wsolbench.errors import AnnotationError, DatasetError


@pytest.fixture
def voc(tmp_path):
    return make_voc(tmp_path)


@pytest.mark.parametrize("split", ["train", "val"])
def test_labels_masks_and_boxes(voc, split):
    data = load_annotations(f"voc:{voc.root}", split=split)
    assert (data.name, data.split, data.num_classes) == ("voc", split, 20)
    assert data.image_ids == [f"JPEGImages/{n}.jpg" for n in voc.splits[split]]
    for rec, name in zip(data, voc.splits[split]):
        mask = voc.masks[name]
        assert rec.labels == voc.labels[name] and rec.image_size == voc.sizes[name]
        np.testing.assert_array_equal(rec.boxes, np.asarray(voc.boxes[name], float) - 1)   # 1-based -> 0-based
        gt = rec.masks.load()
        assert gt.instance_labels == list(voc.labels[name])
        for inst, c in zip(gt.instances, gt.instance_labels):
            np.testing.assert_array_equal(inst, (mask == c + 1).astype(np.uint8))
        np.testing.assert_array_equal(gt.ignore, (mask == 255).astype(np.uint8))
    assert data.multilabel


def test_every_path_form_and_trainval(voc):
    for path in (voc.root, voc.root.parent, voc.root.parent.parent):
        assert len(load_annotations(f"voc:{path}")) == len(voc.splits["val"])
    assert len(load_annotations(f"voc:{voc.root}", split="trainval")) == len(voc.splits["train"]) + len(voc.splits["val"])
    with pytest.raises(DatasetError, match="voc has splits train, trainval, val"):
        load_annotations(f"voc:{voc.root}", split="test")


def test_class_list_is_the_voc_order():
    assert VOC_CLASSES == FIXTURE_CLASSES and len(VOC_CLASSES) == 20


def test_per_class_gt_mask_for_mpxap(voc):
    from wsolbench.metrics.gt import gt_mask

    name = next(n for n in voc.splits["train"] + voc.splits["val"] if len(voc.labels[n]) > 1)
    split = "train" if name in voc.splits["train"] else "val"
    rec = load_annotations(f"voc:{voc.root}", split=split)[f"JPEGImages/{name}.jpg"]
    w, h = rec.image_size
    c = voc.labels[name][1]
    frame = gt_mask(rec.masks.load(), (w, h), class_index=c)
    mask = voc.masks[name]
    np.testing.assert_array_equal(frame == 1, mask == c + 1)
    np.testing.assert_array_equal(frame == 255, mask == 255)


def _save_rgb(voc, name):
    idx = voc.masks[name]
    pal = np.array(voc_palette(), np.uint8).reshape(-1, 3)
    Image.fromarray(pal[idx]).save(voc.root / "SegmentationClass" / f"{name}.png")


def test_rgb_mask_is_refused(voc):
    name = voc.splits["val"][0]
    _save_rgb(voc, name)
    with pytest.raises(AnnotationError, match="mode RGB.*palette"):
        load_annotations(f"voc:{voc.root}", cache=False)


def test_unknown_palette_index_and_class_name(voc):
    name = voc.splits["val"][1]
    idx = voc.masks[name].copy()
    idx[0, 0] = 37
    png = Image.fromarray(idx, mode="P")
    png.putpalette(voc_palette())
    png.save(voc.root / "SegmentationClass" / f"{name}.png")
    with pytest.raises(AnnotationError, match=f"{name}.png: image 'JPEGImages/{name}.jpg': palette index 37"):
        load_annotations(f"voc:{voc.root}")
    png = Image.fromarray(voc.masks[name], mode="P")
    png.putpalette(voc_palette())
    png.save(voc.root / "SegmentationClass" / f"{name}.png")
    name = voc.splits["val"][2]
    xml = voc.root / "Annotations" / f"{name}.xml"
    xml.write_text(xml.read_text().replace("<name>", "<name>x", 1))
    with pytest.raises(AnnotationError, match=f"{name}.xml: .*unknown class id 'x"):
        load_annotations(f"voc:{voc.root}", split="val")


def test_mask_classes_are_cached(voc, monkeypatch, tmp_path):
    from wsolbench.datasets import voc as voc_module

    monkeypatch.setenv("WSOLBENCH_CACHE", str(tmp_path / "cache"))
    first = load_annotations(f"voc:{voc.root}")
    calls = []
    real = voc_module.read_indices
    monkeypatch.setattr(voc_module, "read_indices", lambda *a, **k: calls.append(a) or real(*a, **k))
    second = load_annotations(f"voc:{voc.root}")
    assert calls == [] and [r.labels for r in second] == [r.labels for r in first]
