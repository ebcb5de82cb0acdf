"""The native Tiny ImageNet adapter (``tinyimagenet:DIR``) on a generated tiny-imagenet-200 folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fixtures_datasets import make_tinyimagenet
from wsolbench.datasets import load_annotations
from wsolbench.errors import AnnotationError, DatasetError


@pytest.fixture
def tiny(tmp_path):
    return make_tinyimagenet(tmp_path)


@pytest.mark.parametrize("split", ["train", "val"])
def test_split_matches_the_files(tiny, split):
    data = load_annotations(f"tinyimagenet:{tiny.root}", split=split)
    truth = tiny.train if split == "train" else tiny.val
    order = sorted(tiny.wnids)
    assert sorted(data.image_ids) == sorted(truth) and data.num_classes == 3
    for rec in data:
        wnid, box = truth[rec.image_id]
        assert rec.labels == (order.index(wnid),)
        assert rec.image_size == (64, 64)
        np.testing.assert_array_equal(rec.boxes, [box])
        assert (Path(data.root) / rec.image_id).is_file()


def test_class_order_sorted_by_default_or_as_in_wnids_txt(tiny):
    assert tiny.wnids != sorted(tiny.wnids)  # the fixture's wnids.txt is unsorted, like the release's
    default = load_annotations(f"tinyimagenet:{tiny.root}")
    as_file = load_annotations(f"tinyimagenet:{tiny.root}", class_order="file")
    for a, b in zip(default, as_file):
        wnid = tiny.val[a.image_id][0]
        assert a.labels == (sorted(tiny.wnids).index(wnid),) and b.labels == (tiny.wnids.index(wnid),)
    k = tiny.wnids.index(sorted(tiny.wnids)[0])
    assert default.class_names[0] == f"thing {k}"        # first name of words.txt's entry


def test_default_split_and_parent_folder(tiny):
    data = load_annotations(f"tinyimagenet:{tiny.root.parent}")
    assert data.split == "val" and len(data) == len(tiny.val)


def test_test_split_has_no_labels(tiny):
    with pytest.raises(DatasetError, match="no labels"):
        load_annotations(f"tinyimagenet:{tiny.root}", split="test")


def _edit(path: Path, line: int, text: str) -> None:
    lines = path.read_text().splitlines()
    lines[line - 1] = text
    path.write_text("\n".join(lines) + "\n")


def test_unknown_wnid_in_val_annotations(tiny):
    _edit(tiny.root / "val" / "val_annotations.txt", 2, "val_1.JPEG\tn99999999\t0\t0\t10\t10")
    with pytest.raises(AnnotationError, match=r"val_annotations.txt:2: image 'val/images/val_1.JPEG': unknown class"):
        load_annotations(f"tinyimagenet:{tiny.root}")


def test_box_outside_the_64x64_image(tiny):
    wnid = tiny.wnids[1]
    _edit(tiny.root / "train" / wnid / f"{wnid}_boxes.txt", 3, f"{wnid}_2.JPEG\t0\t0\t70\t20")
    with pytest.raises(AnnotationError, match=rf"{wnid}_boxes.txt:3: .*outside the 64x64 image"):
        load_annotations(f"tinyimagenet:{tiny.root}", split="train")


def test_malformed_line_and_missing_image(tiny):
    _edit(tiny.root / "val" / "val_annotations.txt", 4, "val_3.JPEG n0 1 2 3")
    with pytest.raises(AnnotationError, match=r"val_annotations.txt:4: expected .*found 5 field"):
        load_annotations(f"tinyimagenet:{tiny.root}")
    _edit(tiny.root / "val" / "val_annotations.txt", 4, f"val_3.JPEG\t{tiny.wnids[0]}\t1\t2\t30\t40")
    (tiny.root / "val" / "images" / "val_5.JPEG").unlink()
    with pytest.raises(AnnotationError, match=r"image 'val/images/val_5.JPEG' is annotated but its file is missing"):
        load_annotations(f"tinyimagenet:{tiny.root}")
    assert len(load_annotations(f"tinyimagenet:{tiny.root}", check_images=False)) == len(tiny.val)
