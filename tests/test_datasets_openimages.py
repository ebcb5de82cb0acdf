"""The OpenImages30k adapter (``openimages:DIR``): wsolevaluation's layout, generated and real."""

from __future__ import annotations

import numpy as np
import pytest

from fixtures_datasets import make_openimages
from wsolbench.datasets import load_annotations
from wsolbench.errors import AnnotationError, DatasetError


@pytest.fixture
def oi(tmp_path):
    return make_openimages(tmp_path)


def test_records_and_masks_match_the_files(oi):
    data = load_annotations(f"openimages:{oi.root}")
    assert (data.name, data.split, data.num_classes) == ("openimages", "test", 100)
    assert data.image_ids == oi.ids and [r.label for r in data] == oi.labels
    assert data.root == str(oi.root) and data.has_masks and not data.has_boxes
    for rec in data:
        masks = rec.masks.load()
        assert len(masks.instances) == len(oi.masks[rec.image_id])
        for got, want in zip(masks.instances, oi.masks[rec.image_id]):
            np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(masks.ignore, oi.ignore[rec.image_id])


def test_metadata_and_mask_root_can_be_given(oi, tmp_path):
    moved = tmp_path / "elsewhere"
    (oi.metadata / "test").rename(moved)
    with pytest.raises(DatasetError, match="metadata=FOLDER"):
        load_annotations(f"openimages:{oi.root}")
    data = load_annotations(f"openimages:{oi.root}", metadata=str(moved), mask_root=str(oi.root))
    assert data.image_ids == oi.ids


def test_masks_are_the_wsoleval_adapters(oi):
    ours = load_annotations(f"openimages:{oi.root}")
    ref = load_annotations(f"wsoleval:{oi.metadata / 'test'}", mask_root=str(oi.root))
    for a, b in zip(ours, ref):
        ma, mb = a.masks.load(), b.masks.load()
        assert len(ma.instances) == len(mb.instances)
        np.testing.assert_array_equal(ma.ignore, mb.ignore)


def test_real_openimages_masks(shared_dir):
    root = shared_dir / "openimages-masks"
    data = load_annotations(f"openimages:{root}", split="val", check_images=False)
    lines = [ln.split(",") for ln in (root / "metadata" / "localization.txt").read_text().splitlines() if ln]
    assert len(data) == 5 and data.source == str(root / "metadata")
    for rec in data:
        masks = rec.masks.load()
        assert len(masks.instances) == sum(1 for ln in lines if ln[0] == rec.image_id)
        assert masks.ignore is not None and masks.ignore.shape == masks.instances[0].shape
        assert masks.instances[0].dtype == np.uint8


def test_class_index_beyond_100_and_missing_image(oi):
    labels = oi.metadata / "test" / "class_labels.txt"
    labels.write_text(labels.read_text().replace(f"{oi.ids[1]},{oi.labels[1]}", f"{oi.ids[1]},100"))
    with pytest.raises(AnnotationError, match="unknown class index 100"):
        load_annotations(f"openimages:{oi.root}")
    labels.write_text(labels.read_text().replace(f"{oi.ids[1]},100", f"{oi.ids[1]},{oi.labels[1]}"))
    (oi.root / oi.ids[2]).unlink()
    with pytest.raises(AnnotationError, match=f"image '{oi.ids[2]}'.*not found"):
        load_annotations(f"openimages:{oi.root}")


def test_unknown_split(oi):
    with pytest.raises(DatasetError, match="splits train, val, test"):
        load_annotations(f"openimages:{oi.root}", split="dev")
