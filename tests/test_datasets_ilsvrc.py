"""The ILSVRC 2012 validation adapter (``ilsvrc:DIR``): native XML layouts and wsolevaluation metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fixtures_datasets import ilsvrc_xml, make_ilsvrc
from wsolbench.datasets import load_annotations
from wsolbench.datasets.ilsvrc import detect_layout
from wsolbench.errors import AnnotationError, DatasetError


@pytest.mark.parametrize("layout", ["official", "kaggle"])
def test_native_layouts(tmp_path, layout):
    fx = make_ilsvrc(tmp_path, layout=layout)
    data = load_annotations(f"ilsvrc:{fx.root}")
    assert (data.name, data.split, data.num_classes) == ("ilsvrc", "val", len(fx.wnids))
    assert data.image_ids == fx.ids
    for rec, label, size, boxes in zip(data, fx.labels, fx.sizes, fx.boxes):
        assert rec.labels == (label,) and rec.image_size == size
        np.testing.assert_array_equal(rec.boxes, boxes)
        assert (Path(data.root) / rec.image_id).is_file()
    assert max(len(b) for b in fx.boxes) > 1 and data.class_names[0] == "thing 0"
    assert detect_layout(str(fx.root)) == "native"


def test_xml_values_are_kept_as_wsolevaluation_metadata_has_them(tmp_path):
    # ILSVRC2012_val_00000001.xml says 111,108,441,193; wsolevaluation's metadata/ILSVRC/test has
    # "val/ILSVRC2012_val_00000001.JPEG,111,108,441,193" (and 500,375 in image_sizes.txt).
    rec = load_annotations(f"ilsvrc:{make_ilsvrc(tmp_path).root}").records[0]
    assert rec.image_id == "val/ILSVRC2012_val_00000001.JPEG" and rec.image_size == (500, 375)
    np.testing.assert_array_equal(rec.boxes, [[111, 108, 441, 193]])


def test_test_is_the_wsolevaluation_name_of_the_same_split(tmp_path):
    fx = make_ilsvrc(tmp_path)
    assert load_annotations(f"ilsvrc:{fx.root}", split="test").image_ids == fx.ids
    with pytest.raises(DatasetError, match="validation split only"):
        load_annotations(f"ilsvrc:{fx.root}", split="train")


def test_class_list_needed_unless_all_1000_wnids_appear(tmp_path):
    fx = make_ilsvrc(tmp_path)
    (fx.root / "synset_words.txt").unlink()
    with pytest.raises(AnnotationError, match="no class list"):
        load_annotations(f"ilsvrc:{fx.root}")
    classes = tmp_path / "my_classes.txt"
    classes.write_text("".join(f"{w}\n" for w in fx.wnids))
    assert [r.label for r in load_annotations(f"ilsvrc:{fx.root}", classes=str(classes))] == fx.labels


def test_bad_xml_files(tmp_path):
    fx = make_ilsvrc(tmp_path)
    xml = fx.xml_dir / "ILSVRC2012_val_00000002.xml"
    xml.write_text(xml.read_text().replace("</size>", "</sise>"))
    with pytest.raises(AnnotationError, match=r"ILSVRC2012_val_00000002.xml:\d+: malformed XML"):
        load_annotations(f"ilsvrc:{fx.root}")
    xml.write_text(ilsvrc_xml("ILSVRC2012_val_00000002", (50, 40), "n09999999", [[1, 1, 10, 10]]))
    with pytest.raises(AnnotationError, match="unknown class id 'n09999999'"):
        load_annotations(f"ilsvrc:{fx.root}")
    xml.write_text(ilsvrc_xml("ILSVRC2012_val_00000002", (50, 40), fx.wnids[0], [[1, 1, 60, 10]]))
    with pytest.raises(AnnotationError, match=r"ILSVRC2012_val_00000002.xml \(object 1\).*outside the 50x40 image"):
        load_annotations(f"ilsvrc:{fx.root}")


def test_missing_image(tmp_path):
    fx = make_ilsvrc(tmp_path, layout="kaggle")
    (fx.image_dir / "ILSVRC2012_val_00000003.JPEG").unlink()
    with pytest.raises(AnnotationError, match="image 'val/ILSVRC2012_val_00000003.JPEG' has an annotation XML"):
        load_annotations(f"ilsvrc:{fx.root}")
    assert len(load_annotations(f"ilsvrc:{fx.root}", check_images=False)) == len(fx.ids)


def test_wsolevaluation_metadata_variant(shared_dir, tmp_path):
    meta = shared_dir / "wsoleval-metadata" / "ILSVRC"
    ours = load_annotations(f"ilsvrc:{meta}", split="val")
    ref = load_annotations(f"wsoleval:{meta}", split="val")
    assert detect_layout(str(meta), split="val") == "wsoleval"
    assert (ours.name, ours.split, ours.num_classes, ours.root) == ("ilsvrc", "val", 1000, None)
    assert ours.image_ids == ref.image_ids and max(len(r.boxes) for r in ours) > 1
    for a, b in zip(ours, ref):
        np.testing.assert_array_equal(a.boxes, b.boxes)
    # images under DIR, metadata given: the ids resolve against DIR
    for image_id in ours.image_ids:
        (tmp_path / image_id).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / image_id).write_bytes(b"")
    with_images = load_annotations(f"ilsvrc:{tmp_path}", split="val", metadata=str(meta))
    assert with_images.root == str(tmp_path) and len(with_images) == len(ref)


def test_folders_can_be_given_explicitly(tmp_path):
    fx = make_ilsvrc(tmp_path, layout="kaggle")
    xmls, images = tmp_path / "boxes", tmp_path / "pics"
    fx.xml_dir.rename(xmls)
    (images / "val").parent.mkdir(parents=True)
    fx.image_dir.rename(images / "val")
    with pytest.raises(DatasetError, match="annotations=FOLDER"):
        load_annotations(f"ilsvrc:{fx.root}")
    data = load_annotations(f"ilsvrc:{fx.root}", annotations=str(xmls), images=str(images))
    assert data.image_ids == fx.ids and data.root == str(images)


def _devkit_meta(root: Path, wnids: list[str]) -> None:
    """An ILSVRC2012_devkit_t12/data/meta.mat with the 1-D struct array ``synsets`` the devkit has:
    the leaves (num_children 0) in a scrambled order plus one inner node that must be skipped."""
    scipy_io = pytest.importorskip("scipy.io")
    dtype = [("ILSVRC2012_ID", "O"), ("WNID", "O"), ("words", "O"), ("num_children", "O")]
    rows = [(k + 1, w, f"thing {w}, more words", 0) for k, w in enumerate(reversed(wnids))]
    rows.append((len(wnids) + 1, "n00001740", "entity", 3))
    synsets = np.array(rows, dtype=dtype)
    path = root / "ILSVRC2012_devkit_t12" / "data" / "meta.mat"
    path.parent.mkdir(parents=True)
    scipy_io.savemat(path, {"synsets": synsets.reshape(-1, 1)})


def test_class_list_from_the_devkit_meta_mat(tmp_path):
    fx = make_ilsvrc(tmp_path)
    (fx.root / "synset_words.txt").unlink()
    _devkit_meta(fx.root, fx.wnids)
    data = load_annotations(f"ilsvrc:{fx.root}")
    assert data.num_classes == len(fx.wnids) and [r.label for r in data] == fx.labels
    assert list(data.class_names) == [f"thing {w}" for w in fx.wnids]     # sorted leaves, first name


def test_devkit_without_scipy_says_what_to_install(tmp_path, monkeypatch):
    fx = make_ilsvrc(tmp_path)
    (fx.root / "synset_words.txt").unlink()
    _devkit_meta(fx.root, fx.wnids)
    monkeypatch.setitem(__import__("sys").modules, "scipy.io", None)      # as if scipy were not installed
    from wsolbench.errors import MissingDependencyError

    with pytest.raises(MissingDependencyError, match=r"meta.mat needs scipy.*wsolbench\[ilsvrc\].*classes=FILE"):
        load_annotations(f"ilsvrc:{fx.root}")
