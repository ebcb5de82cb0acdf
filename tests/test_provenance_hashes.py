"""What a verified number is tied to: the ground truth's fingerprint (``AnnotationSet.fingerprint``,
recorded with the counts in every result and in the dataset cards) and the maps' content hash
(``content_sha256``, independent of how HDF5 stored them); files that keep data elsewhere are refused."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from fixtures_datasets import cub_as_wsoleval, make_cub, make_openimages, write_wsoleval_metadata
from wsolbench.cli.main import cli
from wsolbench.datasets import load_annotations
from wsolbench.datasets.cards import BENCHMARK_CARD_NAMES, CARD_NAMES, load_card, official_split
from wsolbench.errors import FormatError
from wsolbench.scoremaps import ScoreMapFile, content_sha256, sha256_file, write_scoremaps

IDS = ["a/1.jpg", "a/2.jpg", "b/3.jpg"]
SIZES = [(100, 80), (64, 64), (120, 90)]
BOXES = [[(1, 2, 50, 60)], [(0, 0, 63, 63), (5, 5, 20, 30)], [(10, 10, 100, 80)]]


def _meta(folder, *, ids=IDS, labels=(0, 1, 1), sizes=SIZES, boxes=BOXES):
    return load_annotations(f"wsoleval:{write_wsoleval_metadata(folder, ids, list(labels), sizes, boxes)}")


# ---------------------------------------------------------------------------------------- fingerprint


def test_the_fingerprint_ignores_location_and_line_order_but_not_content(tmp_path):
    base = _meta(tmp_path / "one" / "CUB" / "test").fingerprint()
    assert len(base) == 64 and int(base, 16) >= 0
    order = [2, 0, 1]
    moved = _meta(tmp_path / "two" / "elsewhere", ids=[IDS[k] for k in order], labels=[(0, 1, 1)[k] for k in order],
                  sizes=[SIZES[k] for k in order], boxes=[BOXES[k][::-1] for k in order])
    assert moved.fingerprint() == base
    changed = {
        "label": dict(labels=(0, 1, 2)),
        "box": dict(boxes=[[(1, 2, 50, 61)], BOXES[1], BOXES[2]]),
        "size": dict(sizes=[(101, 80), SIZES[1], SIZES[2]]),
        "id": dict(ids=["a/1.jpg", "a/2.jpg", "b/4.jpg"]),
        "one image fewer": dict(ids=IDS[:2], labels=(0, 1), sizes=SIZES[:2], boxes=BOXES[:2]),
    }
    prints = {what: _meta(tmp_path / what, **kw).fingerprint() for what, kw in changed.items()}
    assert base not in prints.values() and len(set(prints.values())) == len(prints)


def test_native_cub_and_its_wsoleval_metadata_have_one_fingerprint(tmp_path):
    cub = make_cub(tmp_path, n_classes=3, per_class=4)
    native = load_annotations(f"cub:{cub.root}", split="test")
    metadata = load_annotations(f"wsoleval:{cub_as_wsoleval(cub, tmp_path / 'meta' / 'test', 'test')}")
    assert native.fingerprint() == metadata.fingerprint()
    assert native.counts() == metadata.counts() == {"images": 6, "boxes": 6, "instance_masks": 0, "classes": 3}


def test_mask_file_names_enter_the_fingerprint(tmp_path):
    fx = make_openimages(tmp_path, n_images=4)
    spec = f"wsoleval:{fx.metadata / 'test'}"
    first = load_annotations(spec, mask_root=str(fx.root))
    assert first.counts()["instance_masks"] == 6
    again = load_annotations(spec, mask_root=str(tmp_path / "masks-not-needed"))    # masks are not read
    assert again.fingerprint() == first.fingerprint()
    loc = fx.metadata / "test" / "localization.txt"
    loc.write_text(loc.read_text().replace("_m", "_M", 1))
    assert load_annotations(spec, mask_root=str(fx.root)).fingerprint() != first.fingerprint()


def test_results_record_the_fingerprint_counts_and_content_hash(tmp_path):
    ann = _meta(tmp_path / "CUB" / "test")
    maps = write_scoremaps(tmp_path / "m.h5", IDS, np.random.default_rng(0).random((3, 7, 7)).astype(np.float32),
                           predicted_labels=[0, 1, 0])
    out = tmp_path / "r.json"
    res = CliRunner().invoke(cli, ["evaluate", str(maps), "--gt", f"wsoleval:{tmp_path / 'CUB' / 'test'}",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert data["dataset"]["fingerprint"] == ann.fingerprint()
    assert data["dataset"]["n_images"] == 3
    assert data["dataset"]["counts"] == {"images": 3, "boxes": 4, "instance_masks": 0, "classes": 2}
    assert data["maps"]["content_sha256"] == content_sha256(maps)
    assert data["maps"]["sha256"] == sha256_file(maps)


# ---------------------------------------------------------------------------------------- cards


def test_every_official_split_with_a_fingerprint_states_its_count():
    for name in CARD_NAMES + BENCHMARK_CARD_NAMES:
        for split, counts in load_card(name).board_splits().items():
            if counts.fingerprint is not None:
                assert len(counts.fingerprint) == 64 and counts.images > 0, (name, split)
    for dataset, split in (("cub", "train"), ("cub", "val"), ("cub", "test"), ("ilsvrc", "val"), ("ilsvrc", "test"),
                           ("openimages", "val"), ("openimages", "test"), ("synthetic", "train"),
                           ("synthetic", "val"), ("synthetic", "test"), ("synthetic1d", "test")):
        assert official_split(dataset, split)[1].fingerprint, (dataset, split)
    assert official_split("ilsvrc", "test")[1].images == 50000          # the board's ILSVRC 'test' = 50k val images
    assert official_split("cub", "nope") == (load_card("cub"), None)
    assert official_split("mnist", "test") == (None, None)


@pytest.mark.parametrize("dataset,splits", [("CUB", ("train", "val", "test")), ("ILSVRC", ("val", "test")),
                                            ("OpenImages", ("val", "test"))])
def test_card_fingerprints_are_those_of_the_wsolevaluation_metadata(shared_dir, dataset, splits):
    """Recomputes the cards' numbers from the complete wsolevaluation metadata (../shared)."""
    root = shared_dir / "wsoleval-metadata-full" / dataset
    if not root.is_dir():
        pytest.skip(f"{root} is absent")
    for split in splits:
        ann = load_annotations(f"wsoleval:{root / split}", mask_root=str(root))       # masks are not read
        card, counts = official_split(dataset.lower(), split)
        assert (len(ann), ann.fingerprint()) == (counts.images, counts.fingerprint), (dataset, split)
        for key in ("boxes", "instance_masks", "classes"):
            if getattr(counts, key) is not None:
                assert ann.counts()[key] == getattr(counts, key), (dataset, split, key)


@pytest.mark.parametrize("name", BENCHMARK_CARD_NAMES)
def test_card_fingerprints_of_the_embedded_benchmarks(name):
    card = load_card(name)
    for split, counts in card.board_splits().items():
        ann = load_annotations(f"{name}:", split=split)
        assert (len(ann), ann.fingerprint()) == (counts.images, counts.fingerprint), (name, split)


# ---------------------------------------------------------------------------------------- content hash


def _maps(n=5, seed=0):
    rng = np.random.default_rng(seed)
    return [f"img/{k}.jpg" for k in range(n)], rng.random((n, 9, 11)).astype(np.float32), rng.integers(0, 4, n)


def test_the_content_hash_ignores_storage_and_attributes(tmp_path):
    ids, maps, pred = _maps()
    a = write_scoremaps(tmp_path / "a.h5", ids, maps, predicted_labels=pred, attrs={"method": "CAM"})
    order = [3, 1, 4, 0, 2]
    b = write_scoremaps(tmp_path / "b.h5", [ids[k] for k in order], maps[order].astype(np.float64),
                        predicted_labels=pred[order], compression=None, chunk_rows=2, layout="by_row")
    assert sha256_file(a) != sha256_file(b)
    assert content_sha256(a) == content_sha256(b)
    from wsolbench.scoremaps.content import batch_digests

    with ScoreMapFile(a) as f:                       # rows hashed while read elsewhere + the others read here
        part = {int(r): d for batch in f.iter_batches(2, rows=[3, 1]) for r, d in zip(batch.rows, batch_digests(batch))}
    assert content_sha256(a, digests=part) == content_sha256(a)
    c = tmp_path / "c.h5"                                            # same data, hand-written, other attributes
    with h5py.File(c, "w") as f:
        f.attrs.update({"format": "wsolbench.scoremaps", "format_version": 1, "created": "another day"})
        f.create_dataset("image_ids", data=ids, dtype=h5py.string_dtype("utf-8"))
        f.create_dataset("maps", data=maps, chunks=(1, 9, 11), compression="lzf")
        f.create_dataset("predicted_labels", data=pred)
    assert content_sha256(c) == content_sha256(a)


def test_the_content_hash_changes_with_what_is_evaluated(tmp_path):
    ids, maps, pred = _maps()
    base = content_sha256(write_scoremaps(tmp_path / "a.h5", ids, maps, predicted_labels=pred))
    bumped = maps.copy()
    bumped[2, 4, 4] = np.nextafter(bumped[2, 4, 4], 2, dtype=np.float32)
    variants = {
        "one value": write_scoremaps(tmp_path / "v.h5", ids, bumped, predicted_labels=pred),
        "a label": write_scoremaps(tmp_path / "l.h5", ids, maps, predicted_labels=(pred + 1) % 4),
        "no labels": write_scoremaps(tmp_path / "n.h5", ids, maps),
        "an id": write_scoremaps(tmp_path / "i.h5", ids[:-1] + ["img/x.jpg"], maps, predicted_labels=pred),
        "normalized": write_scoremaps(tmp_path / "z.h5", ids, maps / maps.max(), predicted_labels=pred,
                                      normalized=True),
    }
    hashes = {k: content_sha256(p) for k, p in variants.items()}
    assert base not in hashes.values() and len(set(hashes.values())) == len(hashes)


def test_evaluation_on_several_processes_records_the_same_content_hash(tmp_path):
    rng = np.random.default_rng(1)
    n = 150                                                          # > one chunk of 64 rows
    ids = [f"c/{k:03d}.jpg" for k in range(n)]
    meta = write_wsoleval_metadata(tmp_path / "CUB" / "test", ids, [k % 3 for k in range(n)], [(50, 40)] * n,
                                   [[(5, 5, 30, 30)]] * n)
    maps = write_scoremaps(tmp_path / "m.h5", ids, rng.random((n, 8, 8)).astype(np.float16))
    results = []
    for workers in ("1", "2"):
        res = CliRunner().invoke(cli, ["evaluate", str(maps), "--gt", f"wsoleval:{meta}", "--json",
                                       "--workers", workers])
        assert res.exit_code == 0, res.output
        results.append(json.loads(res.stdout)["maps"]["content_sha256"])
    assert results[0] == results[1] == content_sha256(maps)


# ---------------------------------------------------------------------------------------- data elsewhere


def _external_variants(tmp_path):
    ids, maps, _ = _maps()
    donor = tmp_path / "donor.h5"
    with h5py.File(donor, "w") as f:
        f["maps"] = maps
    raw = tmp_path / "maps.bin"
    maps.astype("<f4").tofile(raw)

    def base(f):
        f.attrs.update({"format": "wsolbench.scoremaps", "format_version": 1})
        f.create_dataset("image_ids", data=ids, dtype=h5py.string_dtype("utf-8"))

    def external_link(f):
        f["maps"] = h5py.ExternalLink(str(donor), "maps")

    def external_storage(f):
        f.create_dataset("maps", shape=maps.shape, dtype="<f4", external=[(str(raw), 0, raw.stat().st_size)])

    def virtual(f):
        layout = h5py.VirtualLayout(shape=maps.shape, dtype=np.float32)
        layout[:] = h5py.VirtualSource(str(donor), "maps", shape=maps.shape)
        f.create_virtual_dataset("maps", layout)

    def soft_link(f):
        f.create_dataset("stash", data=maps)
        f["maps"] = h5py.SoftLink("/stash")

    def external_row(f):
        for k in range(len(ids) - 1):
            f.create_dataset(f"maps_by_row/{k:08d}", data=maps[k])
        f[f"maps_by_row/{len(ids) - 1:08d}"] = h5py.ExternalLink(str(donor), "maps")

    out = {}
    for make in (external_link, external_storage, virtual, soft_link, external_row):
        path = tmp_path / f"{make.__name__}.h5"
        with h5py.File(path, "w") as f:
            base(f)
            make(f)
        out[make.__name__] = path
    return out


@pytest.mark.parametrize("kind,message", [
    ("external_link", "'maps' is an external link to"), ("external_storage", "'maps' is stored in external file(s)"),
    ("virtual", "'maps' is a virtual dataset"), ("soft_link", "'maps' is a soft link to /stash"),
    ("external_row", "'maps_by_row/00000004' is an external link to")])
def test_data_kept_outside_the_file_is_refused(tmp_path, kind, message):
    path = _external_variants(tmp_path)[kind]
    with pytest.raises(FormatError) as info:
        with ScoreMapFile(path) as f:
            for _ in f.iter_batches():
                pass
    assert message in str(info.value) and str(path) in str(info.value)
    res = CliRunner().invoke(cli, ["scoremaps", "validate", str(path)])
    assert res.exit_code == 2 and message in res.output


def test_datasets_check_compares_the_fingerprint_with_the_card(shared_dir, tmp_path):
    source = shared_dir / "wsoleval-metadata-full" / "CUB" / "test"
    if not source.is_dir():
        pytest.skip(f"{source} is absent")
    copy = tmp_path / "CUB" / "test"
    shutil.copytree(source, copy)
    ok = CliRunner().invoke(cli, ["datasets", "check", f"wsoleval:{copy}", "--json"])
    assert json.loads(ok.stdout)["fingerprint"] == official_split("cub", "test")[1].fingerprint
    loc = copy / "localization.txt"
    first, rest = loc.read_text().split("\n", 1)
    image_id, x0, *others = first.split(",")
    loc.write_text(",".join([image_id, str(int(x0) + 1), *others]) + "\n" + rest)     # one box moved by a pixel
    res = CliRunner().invoke(cli, ["datasets", "check", f"wsoleval:{copy}", "--json"])
    problems = json.loads(res.stdout)["problems"]
    assert [p["kind"] for p in problems] == ["fingerprint"]
    assert "is not the card's a3d98e8cadf7..." in problems[0]["message"]
