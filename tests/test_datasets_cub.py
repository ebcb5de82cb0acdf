"""The native CUB-200-2011 adapter (``cub:DIR``) on generated fixtures in the release's exact layout,
and on the real rows of wsolevaluation's CUB metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fixtures_datasets import cub_as_wsoleval, make_cub, write_jpeg
from wsolbench.datasets import load_annotations
from wsolbench.errors import AnnotationError, DatasetError

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture
def cub(tmp_path):
    return make_cub(tmp_path)


@pytest.mark.parametrize("split", ["train", "test"])
def test_split_matches_the_files(cub, split):
    data = load_annotations(f"cub:{cub.root}", split=split)
    assert data.image_ids == cub.split_ids(split)
    assert (data.name, data.split, data.num_classes) == ("cub", split, 3)
    assert list(data.class_names) == cub.class_names
    assert data.root == str(cub.root / "images")
    for rec in data:
        k = cub.ids.index(rec.image_id)
        x, y, w, h = cub.xywh[k]
        assert rec.labels == (cub.labels[k],)
        assert rec.image_size == cub.sizes[k]
        np.testing.assert_array_equal(rec.boxes, [[x, y, x + w, y + h]])
        assert (Path(data.root) / rec.image_id).is_file()


def test_default_split_is_test_and_parent_folder_works(cub):
    data = load_annotations(f"cub:{cub.root.parent}")
    assert data.split == "test" and data.image_ids == cub.split_ids("test")


def test_same_records_as_wsoleval_metadata_of_the_same_split(cub, tmp_path):
    native = load_annotations(f"cub:{cub.root}", split="test")
    meta = load_annotations(f"wsoleval:{cub_as_wsoleval(cub, tmp_path / 'meta' / 'test', 'test')}")
    assert native.image_ids == meta.image_ids
    for a, b in zip(native, meta):
        assert (a.labels, a.image_size) == (b.labels, b.image_size)
        np.testing.assert_array_equal(a.boxes, b.boxes)


def test_real_cub_rows_follow_x1_equals_x_plus_w(tmp_path, shared_dir):
    """CUB images 1 and 3 of the release (their real bounding_boxes.txt rows) against the real
    wsolevaluation metadata rows: x0 = x, y0 = y, x1 = x + w, y1 = y + h."""
    meta = shared_dir / "wsoleval-metadata" / "CUB" / "test"
    sizes = {ln.split(",")[0]: tuple(int(v) for v in ln.strip().split(",")[1:])
             for ln in (meta / "image_sizes.txt").read_text().splitlines() if ln.strip()}
    loc = {ln.split(",")[0]: [float(v) for v in ln.strip().split(",")[1:]]
           for ln in (meta / "localization.txt").read_text().splitlines() if ln.strip()}
    root = tmp_path / "CUB_200_2011"
    rows = [  # (id, image, is_train, CUB x y w h) as in the release
        (1, "001.Black_footed_Albatross/Black_Footed_Albatross_0046_18.jpg", 0, "60.0 27.0 325.0 304.0"),
        (2, "001.Black_footed_Albatross/Black_Footed_Albatross_0009_34.jpg", 1, "139.0 30.0 153.0 264.0"),
        (3, "001.Black_footed_Albatross/Black_Footed_Albatross_0002_55.jpg", 0, "14.0 112.0 388.0 186.0"),
    ]
    for _, name, _, _ in rows:
        write_jpeg(root / "images" / name, sizes.get(name, (500, 400)))
    (root / "classes.txt").write_text("1 001.Black_footed_Albatross\n")
    (root / "images.txt").write_text("".join(f"{i} {n}\n" for i, n, _, _ in rows))
    (root / "image_class_labels.txt").write_text("".join(f"{i} 1\n" for i, *_ in rows))
    (root / "train_test_split.txt").write_text("".join(f"{i} {t}\n" for i, _, t, _ in rows))
    (root / "bounding_boxes.txt").write_text("".join(f"{i} {b}\n" for i, _, _, b in rows))
    data = load_annotations(f"cub:{root}", split="test")
    assert len(data) == 2
    for rec in data:
        assert rec.image_size == sizes[rec.image_id]
        np.testing.assert_array_equal(rec.boxes, [loc[rec.image_id]])


def test_val_from_real_wsoleval_metadata(cub, shared_dir):
    folder = shared_dir / "wsoleval-metadata" / "CUB"
    val = load_annotations(f"cub:{cub.root}", split="val", val_metadata=str(folder), check_images=False)
    ref = load_annotations(f"wsoleval:{folder}", split="val")
    assert val.split == "val" and val.image_ids == ref.image_ids and len(val) == 16
    assert val.root == str(cub.root / "images")
    assert [r.labels for r in val] == [r.labels for r in ref]


def test_val_images_held_out_of_train(cub, tmp_path):
    held = cub.split_ids("train")[:2]
    k = [cub.ids.index(i) for i in held]
    meta = tmp_path / "meta" / "val"
    from fixtures_datasets import write_wsoleval_metadata

    write_wsoleval_metadata(meta, held, [cub.labels[i] for i in k], [cub.sizes[i] for i in k],
                            [[(1, 1, 5, 5)] for _ in k])
    train = load_annotations(f"cub:{cub.root}", split="train", val_metadata=str(meta.parent))
    val = load_annotations(f"cub:{cub.root}", split="val", val_metadata=str(meta))
    assert val.image_ids == held
    assert train.image_ids == [i for i in cub.split_ids("train") if i not in held]


def test_val_without_metadata_says_how(cub):
    with pytest.raises(DatasetError, match="val_metadata"):
        load_annotations(f"cub:{cub.root}", split="val")


def test_unknown_split_and_missing_folder(cub, tmp_path):
    with pytest.raises(DatasetError, match="splits train, test, val"):
        load_annotations(f"cub:{cub.root}", split="dev")
    with pytest.raises(DatasetError, match="images.txt"):
        load_annotations(f"cub:{tmp_path / 'nowhere'}")


def _edit_line(path: Path, line: int, text: str) -> None:
    lines = path.read_text().splitlines()
    lines[line - 1] = text
    path.write_text("\n".join(lines) + "\n")


def test_malformed_box_line_names_file_and_line(cub):
    image = cub.split_ids("test")[0]
    line = cub.line_of(image)
    _edit_line(cub.root / "bounding_boxes.txt", line, f"{line} 10.0 12.0 30.0")
    with pytest.raises(AnnotationError, match=rf"bounding_boxes.txt:{line}: expected .*found 4 field"):
        load_annotations(f"cub:{cub.root}")


def test_box_outside_its_image(cub):
    image = cub.split_ids("test")[1]
    line = cub.line_of(image)
    w, h = cub.sizes[line - 1]
    _edit_line(cub.root / "bounding_boxes.txt", line, f"{line} 5.0 5.0 {w}.0 10.0")
    with pytest.raises(AnnotationError, match=rf"bounding_boxes.txt:{line}: image '{image}'.*outside"):
        load_annotations(f"cub:{cub.root}")


def test_missing_image_names_the_index_line(cub):
    image = cub.split_ids("test")[2]
    cub.path(image).unlink()
    with pytest.raises(AnnotationError, match=rf"images.txt:{cub.line_of(image)}: image '{image}'.*not found"):
        load_annotations(f"cub:{cub.root}")


def test_unknown_class_id(cub):
    image = cub.split_ids("test")[0]
    line = cub.line_of(image)
    _edit_line(cub.root / "image_class_labels.txt", line, f"{line} 17")
    with pytest.raises(AnnotationError, match=rf"image_class_labels.txt:{line}: .*unknown class id 17"):
        load_annotations(f"cub:{cub.root}")


def test_listing_never_decodes_pixels_and_caches_sizes(cub, monkeypatch, tmp_path):
    from PIL import Image, ImageFile

    monkeypatch.setenv("WSOLBENCH_CACHE", str(tmp_path / "cache"))

    def no_decode(self, *a, **k):
        raise AssertionError("pixels decoded while listing")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decode)
    opened = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda *a, **k: opened.append(a[0]) or real_open(*a, **k))
    first = load_annotations(f"cub:{cub.root}", split="test")
    assert len(opened) == len(first)
    opened.clear()
    second = load_annotations(f"cub:{cub.root}", split="test")
    assert opened == [] and [r.image_size for r in second] == [r.image_size for r in first]
    assert list((tmp_path / "cache").glob("filefacts-image-sizes-*.json"))
