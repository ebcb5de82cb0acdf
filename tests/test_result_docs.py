"""docs/result-json.md documents every key a result holds: top-level sections, the per-image lists,
the diagnostics, the bootstrap and the state record (on a result that has all of them)."""

import json
import pathlib

import numpy as np

import wsolbench
from wsolbench.datasets.records import AnnotationSet, GTMasks, ImageRecord, MaskSource

DOC = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "result-json.md").read_text(encoding="utf-8")


def _full_result(tmp_path) -> dict:
    records = []
    for i in range(4):
        m = np.zeros((224, 224), np.uint8)
        m[40 + 10 * i:140, 50:150] = 1
        records.append(ImageRecord(f"a/{i}.jpg", (i % 2,), (224, 224), np.array([[50.0, 40 + 10 * i, 149, 139]]),
                                   MaskSource(lambda m=m: GTMasks([m]))))
    annotations = AnnotationSet(records, name="doc", split="test", num_classes=2)
    ev = wsolbench.Evaluator(annotations, cam_step=0.1, box_sizes=True)
    ev.update(annotations.image_ids, np.random.default_rng(0).random((4, 7, 7)), predicted_labels=[0, 1, 1, 1])
    result = ev.compute(bootstrap=20)
    result.save(tmp_path / "r.json")
    return json.loads((tmp_path / "r.json").read_text())


def _documented(key: str) -> bool:
    return f'"{key}"' in DOC or f"`{key}`" in DOC


def test_every_key_of_a_full_result_is_documented(tmp_path):
    data = _full_result(tmp_path)
    missing = [k for k in data if not _documented(k)]
    missing += [f"per_image.{k}" for k in data["per_image"] if not _documented(k)]
    missing += [f"diagnostics.{k}" for k in data["diagnostics"] if not _documented(k)]
    for name in ("box_size", "mask_size"):
        missing += [f"diagnostics.{name}.{k}" for k in data["diagnostics"][name] if not _documented(k)]
    missing += [f"bootstrap.{k}" for k in data["bootstrap"] if not _documented(k)]
    missing += [f"bootstrap.intervals.*.{k}" for k in data["bootstrap"]["intervals"]["pxap"] if not _documented(k)]
    missing += [f"state.{k}" for k in data["state"] if not _documented(k)]
    assert not missing, f"undocumented keys in docs/result-json.md: {missing}"
    assert data["diagnostics"]["box_size"] and data["diagnostics"]["mask_size"]
    assert set(data["bootstrap"]["intervals"]) >= {"maxboxacc", "pxap", "piou", "top1_loc", "pointing_game"}


def test_state_file_arrays_are_documented(tmp_path):
    _full_result(tmp_path)
    with np.load(tmp_path / "r.state.npz") as z:
        names = list(z.files)
    assert [n for n in names if f"`{n}`" not in DOC] == []


def test_the_schema_checks_the_new_sections(tmp_path):
    import pytest

    from wsolbench.errors import FormatError
    from wsolbench.report.files import check_result

    data = _full_result(tmp_path)
    assert check_result(json.loads(json.dumps(data)), source="full") is not None
    broken = {
        "state file outside the folder": (lambda d: d["state"].update(file="../elsewhere.state.npz"), "state"),
        "interval out of range": (lambda d: d["bootstrap"]["intervals"]["pxap"].update(low=-5.0), "bootstrap"),
        "unknown pointing target": (lambda d: d["diagnostics"]["pointing_game"].update(against="pixels"),
                                    "diagnostics"),
        "energy above 1": (lambda d: d["per_image"]["energy"].__setitem__(0, 1.5), "per_image"),
    }
    for name, (edit, where) in broken.items():
        bad = json.loads(json.dumps(data))
        edit(bad)
        with pytest.raises(FormatError, match=where):
            check_result(bad, source=name)
