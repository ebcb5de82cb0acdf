"""The COCO-format adapter (``coco:FILE.json``) and ``wsolbench datasets export --format coco``:
labels, the box convention, polygon / RLE masks through pycocotools, crowd regions as ignore, category
subsets, splits by file, problems per annotation id, and the round trip synthetic -> COCO JSON ->
``coco:`` giving exactly the numbers ``synthetic:`` gives."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from evalfixtures import blob_map, write_maps
from fixtures_datasets import write_jpeg
from wsolbench.cli.main import cli
from wsolbench.datasets import load_annotations
from wsolbench.errors import AnnotationError, DatasetError, MissingDependencyError
from wsolbench.metrics.gt import IGNORE, gt_mask

mask_utils = pytest.importorskip("pycocotools.mask", reason="the coco: adapter's masks need pycocotools "
                                                            "(pip install 'wsolbench[coco]')")

CATEGORIES = [{"id": 11, "name": "bird"}, {"id": 3, "name": "cat"}, {"id": 7, "name": "dog"}]   # ids out of order


def runs(mask: np.ndarray) -> list[int]:
    """Uncompressed COCO RLE counts of a binary mask: column-major runs, starting with zeros."""
    flat = np.asarray(mask, np.uint8).flatten(order="F")
    edges = np.flatnonzero(np.diff(flat)) + 1
    counts = np.diff(np.r_[0, edges, flat.size]).tolist()
    return ([0] + counts) if flat[0] else counts


def rect(h, w, x0, y0, x1, y1) -> np.ndarray:
    """A mask with pixels x0..x1, y0..y1 (inclusive) set."""
    m = np.zeros((h, w), np.uint8)
    m[y0:y1 + 1, x0:x1 + 1] = 1
    return m


def compressed(mask) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": list(rle["size"]), "counts": rle["counts"].decode("ascii")}


def make_coco(tmp: Path, *, images_dir="images") -> dict:
    """A COCO dataset: a.jpg (one cat, polygon), b.jpg (dog as uncompressed RLE, bird as compressed RLE,
    a crowd of dogs), c.jpg (only a crowd), d.jpg (no annotation), e/f.jpg in a sub-folder (one cat)."""
    dog, bird, crowd = rect(40, 50, 2, 3, 20, 30), rect(40, 50, 30, 5, 45, 15), rect(40, 50, 22, 20, 40, 38)
    data = {
        "info": {"description": "fixture"},
        "categories": CATEGORIES,
        "images": [{"id": 1, "file_name": "a.jpg", "width": 40, "height": 30},
                   {"id": 2, "file_name": "b.jpg", "width": 50, "height": 40},
                   {"id": 3, "file_name": "c.jpg", "width": 20, "height": 20},
                   {"id": 4, "file_name": "d.jpg", "width": 20, "height": 20},
                   {"id": 5, "file_name": "e/f.jpg", "width": 30, "height": 30}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 3, "bbox": [5, 4, 20, 10], "iscrowd": 0,
             "segmentation": [[5, 4, 25, 4, 25, 14, 5, 14]], "area": 200},
            {"id": 20, "image_id": 2, "category_id": 7, "bbox": [2, 3, 19, 28], "iscrowd": 0,
             "segmentation": {"size": [40, 50], "counts": runs(dog)}},
            {"id": 21, "image_id": 2, "category_id": 11, "bbox": [30, 5, 16, 11], "iscrowd": 0,
             "segmentation": compressed(bird)},
            {"id": 22, "image_id": 2, "category_id": 7, "bbox": [22, 20, 19, 19], "iscrowd": 1,
             "segmentation": {"size": [40, 50], "counts": runs(crowd)}},
            {"id": 30, "image_id": 3, "category_id": 3, "bbox": [0, 0, 5, 5], "iscrowd": 1,
             "segmentation": {"size": [20, 20], "counts": runs(rect(20, 20, 0, 0, 4, 4))}},
            {"id": 50, "image_id": 5, "category_id": 3, "bbox": [0.5, 1.25, 0.5, 28.75], "iscrowd": 0,
             "segmentation": [[0.5, 1.25, 1, 1.25, 1, 30, 0.5, 30]]},
        ],
    }
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "annotations.json").write_text(json.dumps(data))
    for im in data["images"]:
        write_jpeg(tmp / images_dir / im["file_name"], (im["width"], im["height"]), seed=im["id"])
    return {"data": data, "dog": dog, "bird": bird, "crowd": crowd}


@pytest.fixture
def coco(tmp_path):
    fx = make_coco(tmp_path)
    fx["spec"] = f"coco:{tmp_path / 'annotations.json'}"
    fx["root"] = tmp_path
    return fx


def write(tmp: Path, data: dict, name="annotations.json") -> str:
    (tmp / name).write_text(json.dumps(data))
    return f"coco:{tmp / name}"


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


# ------------------------------------------------------------------------------ what the adapter reads

def test_labels_boxes_sizes_and_images(coco):
    data = load_annotations(coco["spec"])
    assert (data.name, data.split, data.num_classes) == ("coco", "annotations", 3)
    assert list(data.class_names) == ["cat", "dog", "bird"]                 # sorted by category id: 3, 7, 11
    assert data.image_ids == ["a.jpg", "b.jpg", "e/f.jpg"]                   # c: only a crowd; d: nothing
    assert data.root == str(coco["root"] / "images") and data.multilabel
    a, b, f = data.records
    assert a.labels == (0,) and a.image_size == (40, 30) and b.labels == (1, 2)
    # [x, y, w, h] -> inclusive x0, y0, x + w - 1, y + h - 1; the crowd gives no box
    np.testing.assert_array_equal(a.boxes, [[5, 4, 24, 13]])
    np.testing.assert_array_equal(b.boxes, [[2, 3, 20, 30], [30, 5, 45, 15]])
    np.testing.assert_array_equal(f.boxes, [[0.5, 1.25, 0.5, 29.0]])       # narrower than a pixel: one column


def test_the_box_is_the_inclusive_extent_of_the_decoded_mask(coco):
    # The polygon of annotation 10 and its bbox [5, 4, 20, 10] describe the same object: pycocotools
    # fills pixel columns 5..24 and rows 4..13, exactly the record's box.
    a = load_annotations(coco["spec"]).records[0]
    inst = a.masks.load().instances[0]
    rows, cols = np.flatnonzero(inst.any(1)), np.flatnonzero(inst.any(0))
    assert [cols[0], rows[0], cols[-1], rows[-1]] == a.boxes[0].tolist()
    np.testing.assert_array_equal(inst, rect(30, 40, 5, 4, 24, 13))


def test_rle_masks_and_the_crowd_region(coco):
    b = load_annotations(coco["spec"])["b.jpg"]
    masks = b.masks.load()
    assert masks.instance_labels == [1, 2]
    np.testing.assert_array_equal(masks.instances[0], coco["dog"])         # uncompressed RLE
    np.testing.assert_array_equal(masks.instances[1], coco["bird"])        # compressed RLE
    np.testing.assert_array_equal(masks.ignore, coco["crowd"])             # iscrowd 1 -> ignore
    for k, inst in enumerate(masks.instances):
        assert inst.dtype == np.uint8 and inst.shape == (40, 50)
    # per-class ground truth (mPxAP): the dog's pixels, the bird as background, the crowd ignored
    dog = gt_mask(masks, (50, 40), class_index=1)
    expected = coco["dog"].copy()
    expected[(coco["crowd"] == 1) & (coco["dog"] == 0)] = IGNORE
    np.testing.assert_array_equal(dog, expected)


def test_category_subset_by_name_or_id(coco):
    dogs = load_annotations(coco["spec"] + "?categories=dog")
    assert dogs.image_ids == ["b.jpg"] and list(dogs.class_names) == ["dog"] and dogs.records[0].labels == (0,)
    masks = dogs.records[0].masks.load()
    assert len(masks.instances) == 1 and masks.ignore is not None          # the bird is not kept
    np.testing.assert_array_equal(dogs.records[0].boxes, [[2, 3, 20, 30]])
    by_id = load_annotations(coco["spec"], categories="11,3")
    assert list(by_id.class_names) == ["cat", "bird"] and by_id.image_ids == ["a.jpg", "b.jpg", "e/f.jpg"]
    assert by_id["b.jpg"].labels == (1,)
    with pytest.raises(DatasetError, match=r"'horse' is neither a category name nor an id.*3=cat, 7=dog, 11=bird"):
        load_annotations(coco["spec"], categories="dog,horse")


def test_masks_false_reads_boxes_only(coco):
    data = load_annotations(coco["spec"] + "?masks=false")
    assert not data.has_masks and data.has_boxes and data.image_ids == ["a.jpg", "b.jpg", "e/f.jpg"]


def test_a_boxes_only_file_needs_no_segmentation_even_for_crowds(coco, tmp_path):
    def strip(d):
        for a in d["annotations"]:
            a.pop("segmentation")
    data = load_annotations(write(coco["root"], _broken(coco, strip), "boxes.json") + f"?images={coco['root'] / 'images'}")
    assert not data.has_masks and data.image_ids == ["a.jpg", "b.jpg", "e/f.jpg"]
    np.testing.assert_array_equal(data["b.jpg"].boxes, [[2, 3, 20, 30], [30, 5, 45, 15]])


def test_without_pycocotools_masks_say_what_to_install(coco, monkeypatch):
    monkeypatch.setitem(sys.modules, "pycocotools", None)                 # as if it were not installed
    monkeypatch.setitem(sys.modules, "pycocotools.mask", None)
    with pytest.raises(MissingDependencyError, match=r"needs pycocotools.*wsolbench\[coco\].*masks=false"):
        load_annotations(coco["spec"])
    assert load_annotations(coco["spec"], masks=False).has_boxes           # boxes need no pycocotools


def test_images_option_and_default_folders(tmp_path):
    make_coco(tmp_path, images_dir="elsewhere")
    spec = f"coco:{tmp_path / 'annotations.json'}"
    with pytest.raises(AnnotationError, match=r"image 'a.jpg' \(image id 1 in .*\) not found.*images=DIR"):
        load_annotations(spec)
    assert load_annotations(f"{spec}?images={tmp_path / 'elsewhere'}").root == str(tmp_path / "elsewhere")
    assert load_annotations(spec, images=str(tmp_path / "elsewhere")).image_ids[0] == "a.jpg"
    assert load_annotations(spec, check_images=False).root == str(tmp_path)


def test_splits_are_files(tmp_path):
    """COCO's own layout: annotations/instances_<split>.json beside the <split>/ image folders."""
    base = make_coco(tmp_path / "src")["data"]
    ann = tmp_path / "coco" / "annotations"
    ann.mkdir(parents=True)
    for split, ids in (("train2017", [1]), ("val2017", [1, 2])):
        part = dict(base, images=[im for im in base["images"] if im["id"] in ids],
                    annotations=[a for a in base["annotations"] if a["image_id"] in ids])
        (ann / f"instances_{split}.json").write_text(json.dumps(part))
        for im in part["images"]:
            write_jpeg(tmp_path / "coco" / split / im["file_name"], (im["width"], im["height"]))
    (ann / "captions_val2017.json").write_text("{}")                       # not a split: not instances_*
    val = load_annotations(f"coco:{tmp_path / 'coco'}", split="val2017")
    assert (val.split, val.image_ids, val.root) == ("val2017", ["a.jpg", "b.jpg"], str(tmp_path / "coco" / "val2017"))
    train = load_annotations(f"coco:{ann / 'instances_val2017.json'}", split="train2017")     # the sibling file
    assert (train.split, train.image_ids, train.source) == ("train2017", ["a.jpg"], str(ann / "instances_train2017.json"))
    assert load_annotations(f"coco:{ann / 'instances_train2017.json'}").split == "train2017"
    with pytest.raises(DatasetError, match=r"several COCO files \(train2017, val2017\); choose one with --split"):
        load_annotations(f"coco:{tmp_path / 'coco'}")
    with pytest.raises(DatasetError, match=r"no COCO file for split 'test'.*splits here: train2017, val2017"):
        load_annotations(f"coco:{tmp_path / 'coco'}", split="test")


# ------------------------------------------------------------------------------ bad input

def _broken(fx: dict, change) -> dict:
    data = json.loads(json.dumps(fx["data"]))
    change(data)
    return data


def _ann(data, ident):
    return next(a for a in data["annotations"] if a["id"] == ident)


BAD = [
    ("unknown category", lambda d: _ann(d, 10).update(category_id=99),
     r"annotation id 10 \(image 'a.jpg'\): unknown category id 99; 'categories' defines 3, 7, 11"),
    ("unknown image", lambda d: _ann(d, 10).update(image_id=77), r"annotation id 10: image_id 77 is not in 'images'"),
    ("bbox of three", lambda d: _ann(d, 10).update(bbox=[1, 2, 3]), r"annotation id 10 .*'bbox' is \[1, 2, 3\]"),
    ("empty bbox", lambda d: _ann(d, 10).update(bbox=[1, 2, 0, 3]), r"annotation id 10 .*both must be positive"),
    ("bbox outside", lambda d: _ann(d, 10).update(bbox=[30, 2, 20, 3]), r"annotation id 10 .*lies outside the 40x30"),
    ("odd polygon", lambda d: _ann(d, 10).update(segmentation=[[5, 4, 25, 4, 25]]),
     r"annotation id 10 .*broken segmentation: polygon 0 has 5 values"),
    ("polygon of text", lambda d: _ann(d, 10).update(segmentation=[["5", 4, 25, 4, 25, 14]]),
     r"annotation id 10 .*polygon 0 is not a list of numbers"),
    ("RLE size", lambda d: _ann(d, 20)["segmentation"].update(size=[50, 40]),
     r"annotation id 20 \(image 'b.jpg'\): broken segmentation: RLE 'size' \[50, 40\] differs"),
    ("RLE runs", lambda d: _ann(d, 20)["segmentation"]["counts"].append(3),
     r"annotation id 20 .*runs cover 2,003 pixels, but the image has 40x50 = 2,000"),
    ("segmentation missing", lambda d: _ann(d, 20).pop("segmentation"),
     r"annotation id 20 .*no 'segmentation', while other annotations have one.*masks=false"),
    ("crowd without region", lambda d: _ann(d, 22).pop("segmentation"),
     r"annotation id 22 .*a crowd annotation \(iscrowd 1\) needs its 'segmentation', the region PxAP ignores"),
    ("image without size", lambda d: d["images"][0].pop("width"),
     r"images\[0\] \(id 1\): 'width' and 'height' must be positive whole numbers"),
    ("absolute file name", lambda d: d["images"][0].update(file_name="/etc/a.jpg"), r"image id 1.*is an absolute path"),
]


@pytest.mark.parametrize("what,change,message", BAD, ids=[b[0] for b in BAD])
def test_bad_input_names_the_annotation(coco, tmp_path, what, change, message):
    spec = write(coco["root"], _broken(coco, change), "broken.json")
    with pytest.raises(AnnotationError, match=message):
        load_annotations(spec + f"?images={coco['root'] / 'images'}")


def test_a_truncated_compressed_rle_is_refused_when_decoded(coco):
    def cut(d):
        seg = _ann(d, 21)["segmentation"]
        seg["counts"] = seg["counts"][:-3]
    data = load_annotations(write(coco["root"], _broken(coco, cut), "cut.json") + f"?images={coco['root'] / 'images'}")
    with pytest.raises(AnnotationError, match=r"annotation id 21 \(image 'b.jpg'\): broken segmentation: .*(runs "
                                              r"cover|ends inside a run)"):
        data["b.jpg"].masks.load()


def test_not_a_coco_file(tmp_path):
    (tmp_path / "a.json").write_text('{"images": [], "annotations": [],\n "categories": [}')
    with pytest.raises(AnnotationError, match=r"a.json:2: not valid JSON"):
        load_annotations(f"coco:{tmp_path / 'a.json'}")
    (tmp_path / "b.json").write_text('{"images": []}')
    with pytest.raises(AnnotationError, match=r"'annotations' is missing; a COCO file has the lists"):
        load_annotations(f"coco:{tmp_path / 'b.json'}")
    with pytest.raises(DatasetError, match=r"unknown option 'image'.*images, categories, masks, check_images"):
        load_annotations(f"coco:{tmp_path / 'b.json'}?image=x")
    with pytest.raises(DatasetError, match=r"no such file or folder"):
        load_annotations(f"coco:{tmp_path / 'none.json'}")


def test_datasets_check_lists_every_problem(coco):
    def damage(d):
        _ann(d, 10).update(category_id=99)                                  # a.jpg: at listing
        _ann(d, 50).update(bbox=[0, 0, -1, 2])                              # e/f.jpg: at listing
        _ann(d, 21)["segmentation"]["counts"] = _ann(d, 21)["segmentation"]["counts"][:-3]   # b.jpg: decoding
        d["images"].append({"id": 6, "file_name": "gone.jpg", "width": 9, "height": 9})
        d["annotations"].append({"id": 60, "image_id": 6, "category_id": 3, "bbox": [0, 0, 2, 2],
                                 "segmentation": [[0, 0, 2, 0, 2, 2]]})
    spec = write(coco["root"], _broken(coco, damage), "damaged.json") + f"?images={coco['root'] / 'images'}"
    result = run("datasets", "check", spec, "--json")
    assert result.exit_code == 2                        # a dataset with problems is bad input (docs/failures.md)
    report = json.loads(result.stdout)
    found = [(p["kind"], p["message"]) for p in report["problems"]]
    assert [k for k, _ in found] == ["annotation", "annotation", "mask", "missing-image"]
    assert "annotation id 10 (image 'a.jpg'): unknown category id 99" in found[0][1]
    assert "annotation id 50 (image 'e/f.jpg')" in found[1][1]
    assert "annotation id 21 (image 'b.jpg'): broken segmentation" in found[2][1]
    assert "gone.jpg" in found[3][1]
    assert report["n_images"] == 2 and report["n_masks_checked"] == 2


def test_datasets_show_draws_coco_samples(coco, tmp_path):
    out = tmp_path / "grid.png"
    result = run("datasets", "show", coco["spec"], "--out", out, "-n", 3)
    assert result.exit_code == 0, result.output
    from PIL import Image

    with Image.open(out) as im:
        assert im.size[0] > 100


def test_the_adapter_is_listed():
    result = run("datasets", "list", "--json")
    rows = {r["adapter"]: r for r in json.loads(result.output)["adapters"]}
    assert rows["coco"]["spec"] == "coco:FILE.json" and rows["coco"]["card"] == "datasets/coco.md"


# ------------------------------------------------------------------------------ compressed RLE strings

def test_rle_strings_read_back_to_the_runs_pycocotools_encoded():
    from wsolbench.datasets.cocomasks import rle_string_counts

    rng = np.random.default_rng(0)
    for k in range(40):
        h, w = int(rng.integers(1, 60)), int(rng.integers(1, 60))
        mask = rng.random((h, w)) < rng.uniform(0, 1)
        assert rle_string_counts(compressed(mask)["counts"]) == runs(mask)
    with pytest.raises(ValueError, match="ends inside a run"):
        rle_string_counts("0" + chr(48 + 0x20))
    with pytest.raises(ValueError, match="not part of COCO's RLE alphabet"):
        rle_string_counts("01 2")


# ------------------------------------------------------------------------------ export and round trip

TINY = "classes=3&train=1&val=1&test=4&size=64"


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth") / "s"
    load_annotations(f"synthetic:{root}?{TINY}", split="test")
    return root


def _maps(ids, seed=0):
    """CAM-like maps (28x28) of every image: blobs near or away from the centre, some predicted wrong."""
    rng = np.random.default_rng(seed)
    maps = [blob_map((28, 28), tuple(rng.uniform(4, 24, 2)), float(rng.uniform(3, 8)), rng) for _ in ids]
    return np.stack(maps)


def test_synthetic_exported_as_coco_gives_the_same_numbers(synthetic_root, tmp_path):
    out = tmp_path / "test.json"
    result = run("datasets", "export", f"synthetic:{synthetic_root}", "--format", "coco", "--split", "test",
                 "--out", out)
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == str(out)
    coco_json = json.loads(out.read_text())
    assert len(coco_json["images"]) == 12 and [c["id"] for c in coco_json["categories"]] == [1, 2, 3]
    assert sum(a["iscrowd"] for a in coco_json["annotations"]) == 12       # each image's ignore band
    synth = load_annotations(f"synthetic:{synthetic_root}", split="test")
    back = load_annotations(f"coco:{out}?images={synthetic_root / 'images'}")
    assert back.image_ids == synth.image_ids and list(back.class_names) == list(synth.class_names)
    for a, b in zip(synth, back):
        assert a.labels == b.labels and a.image_size == b.image_size
        np.testing.assert_array_equal(a.boxes, b.boxes)
    ids = synth.image_ids
    labels = [r.label for r in synth]
    predicted = [c if k % 3 else (c + 1) % 3 for k, c in enumerate(labels)]
    maps = write_maps(tmp_path / "maps.h5", ids, _maps(ids), predicted=predicted)
    results = []
    for gt in (f"synthetic:{synthetic_root}", f"coco:{out}?images={synthetic_root / 'images'}"):
        r = run("evaluate", maps, "--gt", gt, "--split", "test", "--json")
        assert r.exit_code == 0, r.output
        results.append(json.loads(r.output))
    a, b = results
    assert a["metrics"]["maxboxacc_v2"] is not None and a["metrics"]["pxap"] is not None
    for key in ("metrics", "box", "mask", "per_class", "per_image", "counts", "protocol_hash"):
        assert a[key] == b[key], key


def test_export_of_a_coco_dataset_is_the_same_file(coco, tmp_path):
    first, second = tmp_path / "one.json", tmp_path / "two.json"
    assert run("datasets", "export", coco["spec"], "--format", "coco", "--out", first).exit_code == 0
    spec = f"coco:{first}?images={coco['root'] / 'images'}"
    result = run("datasets", "export", spec, "--format", "coco", "--out", second)
    assert result.exit_code == 0, result.output
    one, two = json.loads(first.read_text()), json.loads(second.read_text())
    assert one["images"] == two["images"] and one["annotations"] == two["annotations"]
    assert one["categories"] == two["categories"] == [
        {"id": 1, "name": "cat", "supercategory": ""}, {"id": 2, "name": "dog", "supercategory": ""},
        {"id": 3, "name": "bird", "supercategory": ""}]
    b = [a for a in one["annotations"] if a["image_id"] == 2]
    assert [(a["category_id"], a["iscrowd"], a["bbox"]) for a in b] == [(2, 0, [2, 3, 19, 28]), (3, 0, [30, 5, 16, 11]),
                                                                       (2, 1, [22, 20, 19, 19])]


def test_export_refuses_what_coco_cannot_hold(coco, tmp_path):
    out = tmp_path / "x.json"
    result = run("datasets", "export", coco["spec"] + "?masks=false", "--format", "coco", "--out", out)
    assert result.exit_code == 2
    assert "image 'b.jpg': it has 2 classes and boxes without masks" in result.output and not out.exists()


def test_multilabel_coco_evaluates_per_class_with_the_crowd_ignored(coco, tmp_path):
    """mPxAP end to end: one map per (image, class); class c's pixels are its instances, other classes are
    background, the crowd is ignored; checked against the reference's np.histogram computation."""
    from test_pipeline_multilabel import _reference_pxap
    from wsolbench.metrics.resize import resize_nearest
    from wsolbench.scoremaps import write_scoremaps

    data = _broken(coco, lambda d: d.update(annotations=[a for a in d["annotations"] if a["id"] != 50]))
    spec = write(coco["root"], data, "two.json") + f"?images={coco['root'] / 'images'}"
    truth = {("a.jpg", 0): [rect(30, 40, 5, 4, 24, 13)], ("b.jpg", 1): [coco["dog"]], ("b.jpg", 2): [coco["bird"]]}
    crowd = {"a.jpg": None, "b.jpg": coco["crowd"]}

    def frame(mask):
        return resize_nearest(mask.astype(np.float32), (224, 224)) > 0.5

    rng = np.random.default_rng(0)
    ids, maps, labels, per_class = [], [], [], {}
    for (image_id, c), instances in truth.items():
        fg = frame(sum(instances))
        score = np.clip(0.5 * fg + 0.5 * rng.random((224, 224)), 0, 1).astype(np.float32)
        gt = np.where(fg, 1, 0)
        if crowd[image_id] is not None:
            gt[frame(crowd[image_id]) & ~fg] = 255
        ids.append(image_id), maps.append(score), labels.append(c)
        per_class[c] = (score.astype(np.float64), gt)
    path = write_scoremaps(tmp_path / "maps.h5", ids, np.stack(maps), map_labels=labels, normalized=True)
    result = run("evaluate", path, "--gt", spec, "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    for c, (score, gt) in per_class.items():
        assert out["mask"]["per_class"][str(c)]["pxap"] == pytest.approx(_reference_pxap([score], [gt]), abs=1e-9)
    assert out["metrics"]["mpxap"] == pytest.approx(np.mean([out["mask"]["per_class"][str(c)]["pxap"]
                                                             for c in per_class]), abs=1e-12)


def test_the_fingerprint_covers_segmentations_stored_in_the_file(coco, tmp_path):
    """COCO masks are not files: a digest of each segmentation stands for the mask file in the fingerprint."""
    base = load_annotations(coco["spec"]).fingerprint()
    assert load_annotations(coco["spec"], masks=False).fingerprint() != base
    data = json.loads(json.dumps(coco["data"]))
    data["annotations"][0]["segmentation"] = [[5, 4, 25, 4, 25, 15, 5, 15]]        # the cat's polygon, one row taller
    other = tmp_path / "other"
    other.mkdir()
    (other / "images").symlink_to(coco["root"] / "images")
    assert load_annotations(write(other, data)).fingerprint() != base
    again = tmp_path / "again"
    again.mkdir()
    (again / "images").symlink_to(coco["root"] / "images")
    assert load_annotations(write(again, coco["data"])).fingerprint() == base     # another folder, same annotations
