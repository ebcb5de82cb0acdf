"""``check_dataset`` and ``wsolbench datasets check``: planted defects are all found, clean copies pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fixtures_datasets import cub_as_wsoleval, make_cub, make_ilsvrc, make_openimages, make_tinyimagenet, make_voc
from wsolbench.cli.main import cli
from wsolbench.datasets.check import check_dataset
from wsolbench.errors import DatasetError


def _edit(path: Path, line: int, text: str) -> None:
    lines = path.read_text().splitlines()
    lines[line - 1] = text
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def cub(tmp_path):
    return make_cub(tmp_path)


def plant_cub_defects(cub):
    """A missing image, a malformed line and a box outside its image, in three test images."""
    a, b, c = cub.split_ids("test")[:3]
    cub.path(a).unlink()
    lb, lc = cub.line_of(b), cub.line_of(c)
    _edit(cub.root / "bounding_boxes.txt", lb, f"{lb} 1.0 2.0 3.0")
    w, h = cub.sizes[lc - 1]
    _edit(cub.root / "bounding_boxes.txt", lc, f"{lc} 2.0 2.0 {w + 5}.0 5.0")
    return a, lb, c, lc


def test_clean_fixture_passes_without_counts(cub):
    report = check_dataset(f"cub:{cub.root}", "test", counts=False)
    assert report.ok and report.problems == []
    assert report.n_images == report.n_images_checked == len(cub.split_ids("test"))
    assert (report.card, report.counts_checked, report.n_classes_present) == ("datasets/cub.md", False, 3)


def test_counts_are_compared_with_the_card(cub):
    report = check_dataset(f"cub:{cub.root}", "test")
    assert not report.ok and {p.kind for p in report.problems} == {"count"}
    assert report.expected.images == 5794
    assert any("6 images, the card says 5,794" in p.message and "--no-counts" in p.message for p in report.problems)


def test_every_planted_defect_is_found(cub):
    missing, bad_line, bad_box_image, bad_box_line = plant_cub_defects(cub)
    report = check_dataset(f"cub:{cub.root}", "test", counts=False)
    kinds = report.count_by_kind()
    assert kinds == {"missing-image": 1, "annotation": 2}, report.problems
    by_kind = {p.kind: p for p in report.problems}
    assert by_kind["missing-image"].image_id == missing and "images.txt:" in by_kind["missing-image"].message
    messages = [p.message for p in report.problems if p.kind == "annotation"]
    assert any(f"bounding_boxes.txt:{bad_line}: expected" in m for m in messages)
    assert any(f"bounding_boxes.txt:{bad_box_line}: image '{bad_box_image}'" in m and "outside" in m
               for m in messages)


def test_unreadable_and_truncated_images(cub):
    a, b = cub.split_ids("test")[:2]
    cub.path(a).write_bytes(b"not a jpeg")
    data = cub.path(b).read_bytes()
    cub.path(b).write_bytes(data[:-30])            # header intact, pixel data cut
    report = check_dataset(f"cub:{cub.root}", "test", counts=False)
    assert [(p.kind, p.image_id) for p in report.problems] == [("unreadable-image", a)]
    report = check_dataset(f"cub:{cub.root}", "test", counts=False, decode=True)
    assert [(p.kind, p.image_id) for p in report.problems] == [("unreadable-image", a), ("unreadable-image", b)]


def test_size_mismatch_between_xml_and_image(tmp_path):
    fx = make_ilsvrc(tmp_path)
    xml = fx.xml_dir / "ILSVRC2012_val_00000001.xml"
    xml.write_text(xml.read_text().replace("<height>375</height>", "<height>400</height>"))
    report = check_dataset(f"ilsvrc:{fx.root}", counts=False)
    assert [(p.kind, p.image_id) for p in report.problems] == [("size-mismatch", "val/ILSVRC2012_val_00000001.JPEG")]
    assert "500x400 but the image is 500x375" in report.problems[0].message


def test_every_fixture_layout_is_clean(tmp_path):
    tiny = make_tinyimagenet(tmp_path)
    oi = make_openimages(tmp_path)
    il = make_ilsvrc(tmp_path)
    voc = make_voc(tmp_path)
    for spec, split in [(f"tinyimagenet:{tiny.root}", "train"), (f"tinyimagenet:{tiny.root}", "val"),
                        (f"openimages:{oi.root}", None), (f"ilsvrc:{il.root}", None), (f"voc:{voc.root}", "val")]:
        report = check_dataset(spec, split, counts=False)
        assert report.ok, (spec, report.problems)
        assert report.n_images_checked == report.n_images > 0
    assert check_dataset(f"voc:{voc.root}", "val", counts=False).n_masks_checked == len(voc.splits["val"])


def test_mask_problems_are_found(tmp_path):
    oi = make_openimages(tmp_path)
    victim = next(p for p in (oi.root / oi.ids[1]).parent.iterdir() if "_m" in p.name and oi.ids[1][-20:-4] in p.name)
    victim.unlink()
    report = check_dataset(f"openimages:{oi.root}", counts=False)
    assert [(p.kind, p.image_id) for p in report.problems] == [("mask", oi.ids[1])]
    assert "mask file not found" in report.problems[0].message


def test_tinyimagenet_defects(tmp_path):
    tiny = make_tinyimagenet(tmp_path)
    _edit(tiny.root / "val" / "val_annotations.txt", 1, f"val_0.JPEG\t{tiny.wnids[0]}\t0\t0\t80\t10")
    _edit(tiny.root / "val" / "val_annotations.txt", 2, "val_1.JPEG\tn99999999\t0\t0\t10\t10")
    (tiny.root / "val" / "images" / "val_3.JPEG").unlink()
    report = check_dataset(f"tinyimagenet:{tiny.root}", "val", counts=False)
    assert report.count_by_kind() == {"annotation": 2, "missing-image": 1}
    assert "val_annotations.txt:1:" in report.problems[0].message
    assert "val_annotations.txt:2:" in report.problems[1].message and "unknown class" in report.problems[1].message


def test_wsoleval_spec_is_checked_against_its_card(shared_dir):
    report = check_dataset(f"wsoleval:{shared_dir / 'wsoleval-metadata' / 'CUB' / 'test'}")
    assert (report.card, report.layout, report.split, report.n_images) == ("datasets/cub.md", "wsoleval", "test", 88)
    assert report.n_images_checked == 0 and report.image_folder is None     # no image folder
    assert [p.kind for p in report.problems] == ["count"] * 3
    report = check_dataset(f"ilsvrc:{shared_dir / 'wsoleval-metadata' / 'ILSVRC'}", "val")
    assert report.layout == "wsoleval" and report.expected.images == 10000


def test_load_failure_is_a_problem_and_unknown_option_an_error(cub, tmp_path):
    report = check_dataset(f"cub:{tmp_path / 'nothing'}")
    assert [p.kind for p in report.problems] == ["load"] and "images.txt" in report.problems[0].message
    with pytest.raises(DatasetError, match="no option 'colour'"):
        check_dataset(f"cub:{cub.root}", options={"colour": "red"})


# ----------------------------------------------------------------------------------------- CLI


def test_cli_exit_codes_and_listing(cub):
    runner = CliRunner()
    ok = runner.invoke(cli, ["datasets", "check", f"cub:{cub.root}", "--no-counts"])
    assert ok.exit_code == 0, ok.output
    assert "OK" in ok.stdout
    plant_cub_defects(cub)
    bad = runner.invoke(cli, ["datasets", "check", f"cub:{cub.root}", "--no-counts", "--max-problems", "2"])
    assert bad.exit_code == 2
    assert "missing-image" in bad.stdout and "... and 1 more" in bad.stdout


def test_cli_json_and_options(cub, tmp_path, shared_dir):
    runner = CliRunner()
    res = runner.invoke(cli, ["datasets", "check", f"cub:{cub.root}", "--split", "val", "--no-counts", "--json",
                              "-o", f"val_metadata={shared_dir / 'wsoleval-metadata' / 'CUB'}"])
    data = json.loads(res.stdout)
    assert res.exit_code == 2 and data["split"] == "val" and data["n_images"] == 16
    assert {p["kind"] for p in data["problems"]} == {"missing-image"}   # CUBV2 images are not in the fixture
    res = runner.invoke(cli, ["datasets", "check", "nosuch:/x"])
    assert res.exit_code == 2 and "unknown dataset adapter" in res.stderr
    res = runner.invoke(cli, ["datasets", "check", f"cub:{cub.root}", "-o", "novalue"])
    assert res.exit_code == 2 and "KEY=VALUE" in res.stderr


def test_wsoleval_metadata_defects_are_all_collected(cub, tmp_path):
    meta = cub_as_wsoleval(cub, tmp_path / "meta" / "CUB" / "test", "test")
    ids = cub.split_ids("test")
    _edit(meta / "localization.txt", 1, f"{ids[0]},1,2,3")                        # malformed line
    _edit(meta / "localization.txt", 2, f"{ids[1]},1,2,9999,3")                   # box outside the image
    _edit(meta / "class_labels.txt", 3, f"{ids[2]},x")                            # not a class index
    report = check_dataset(f"wsoleval:{meta}", counts=False)
    messages = [p.message for p in report.problems]
    assert report.count_by_kind() == {"annotation": 4}, messages
    assert "localization.txt:1: expected" in messages[2] and "localization.txt:2:" in messages[3]
    assert "class_labels.txt:3:" in messages[0] and "no class label for 1 image" in messages[1]
    assert report.n_images == len(ids) - 1


def test_ilsvrc_and_voc_defects(tmp_path):
    il = make_ilsvrc(tmp_path)
    (il.image_dir / "ILSVRC2012_val_00000002.JPEG").unlink()
    (il.xml_dir / "ILSVRC2012_val_00000003.xml").write_text("<annotation><size><width>5</width>")
    xml = il.xml_dir / "ILSVRC2012_val_00000004.xml"
    xml.write_text(xml.read_text().replace(f"<xmax>{il.boxes[3][0][2]}</xmax>", "<xmax>9999</xmax>"))
    report = check_dataset(f"ilsvrc:{il.root}", counts=False)
    assert report.count_by_kind() == {"annotation": 2, "missing-image": 1}, report.problems
    assert "ILSVRC2012_val_00000003.xml:1: malformed XML" in report.problems[0].message
    assert "ILSVRC2012_val_00000004.xml (object 1)" in report.problems[1].message
    voc = make_voc(tmp_path)
    names = voc.splits["val"]
    (voc.root / "JPEGImages" / f"{names[0]}.jpg").unlink()
    _edit(voc.root / "ImageSets" / "Segmentation" / "val.txt", 2, f"{names[1]} extra")
    xml = voc.root / "Annotations" / f"{names[2]}.xml"
    xml.write_text(xml.read_text().replace(f"<xmax>{voc.boxes[names[2]][0][2]}</xmax>", "<xmax>999</xmax>", 1))
    report = check_dataset(f"voc:{voc.root}", "val", counts=False)
    assert report.count_by_kind() == {"annotation": 2, "missing-image": 1}, report.problems
    assert "val.txt:2: expected one image name" in report.problems[0].message
    assert f"{names[2]}.xml (object 1)" in report.problems[1].message and "outside" in report.problems[1].message


def test_wsoleval_images_option_lets_check_read_the_images(cub, tmp_path):
    meta = cub_as_wsoleval(cub, tmp_path / "meta" / "test", "test")
    cub.path(cub.split_ids("test")[1]).unlink()
    report = check_dataset(f"wsoleval:{meta}", counts=False, options={"images": str(cub.root / "images")})
    assert report.n_images_checked == len(cub.split_ids("test"))
    assert [(p.kind, p.image_id) for p in report.problems] == [("missing-image", cub.split_ids("test")[1])]
