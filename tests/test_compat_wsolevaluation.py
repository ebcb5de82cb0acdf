"""wsolbench.compat.wsolevaluation against the reference's own unit tests.

The reference's ``evaluation_test.py`` is run unmodified from ``../shared/reference/wsolevaluation``
(its ``metadata/`` is ``../shared/wsoleval-metadata-full``, its ``test_data/`` lies beside it), twice:

* with the shim as its ``evaluation`` module (and as ``data_loaders``, whose metadata readers the shim
  carries: the reference's own ``data_loaders`` needs torchvision). Every one of the 26 tests passes.
* with the reference itself (an oracle; needs OpenCV and munch: ``pip install opencv-python-headless
  munch``, skipped with the reason otherwise). torchvision, imported by ``data_loaders`` for its
  training loaders and used by no test, is replaced by an empty module where absent. Every test that
  passes there passes against the shim.

Under both, ``np.int`` / ``np.float`` are the builtins ``int`` / ``float`` again, as in the numpy the
reference was written for (numpy >= 1.24 removed these aliases; the test file uses them).
"""

import importlib.util
import sys
import types
import unittest

import numpy as np
import pytest

from conftest import SHARED
from evalfixtures import golden_box_files
from wsolbench.compat import wsolevaluation as shim

REFERENCE = SHARED / "reference" / "wsolevaluation"
METADATA = SHARED / "wsoleval-metadata-full"
N_TESTS = 26
REFERENCE_MODULES = ("evaluation", "data_loaders", "util", "config", "evaluation_test")


@pytest.fixture
def reference_layout(tmp_path, monkeypatch):
    """A working folder laid out as the reference's tests expect, with numpy's old aliases."""
    for path in (REFERENCE / "evaluation_test.py", METADATA, REFERENCE / "test_data"):
        if not path.exists():
            pytest.skip(f"{path} is absent (the project's shared folder); it holds the reference's tests and data")
    (tmp_path / "metadata").symlink_to(METADATA)
    (tmp_path / "test_data").symlink_to(REFERENCE / "test_data")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(np, "int", int, raising=False)
    monkeypatch.setattr(np, "float", float, raising=False)
    for name in REFERENCE_MODULES:
        monkeypatch.delitem(sys.modules, name, raising=False)
    return tmp_path


def _flatten(suite):
    for test in suite:
        yield from _flatten(test) if isinstance(test, unittest.TestSuite) else [test]


def _run_reference_tests() -> tuple[list[str], dict[str, str]]:
    """Load the unmodified evaluation_test.py (importing whatever ``evaluation`` now is) and run it.

    Returns:
        (the ids of its tests, {id of a failed test: the last line of its traceback}).
    """
    spec = importlib.util.spec_from_file_location("evaluation_test", REFERENCE / "evaluation_test.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    suite = unittest.defaultTestLoader.loadTestsFromModule(module)
    names = [t.id() for t in _flatten(suite)]
    result = unittest.TestResult()
    suite.run(result)
    assert result.testsRun == len(names) and not result.skipped
    return names, {t.id(): trace.strip().splitlines()[-1] for t, trace in result.failures + result.errors}


def _run_against_shim(monkeypatch) -> tuple[list[str], dict[str, str]]:
    monkeypatch.setitem(sys.modules, "evaluation", shim)
    monkeypatch.setitem(sys.modules, "data_loaders", shim)
    return _run_reference_tests()


def test_reference_suite_passes_against_the_shim(reference_layout, monkeypatch):
    names, failed = _run_against_shim(monkeypatch)
    assert len(names) == N_TESTS
    assert not failed, failed


def test_every_test_that_passes_against_the_reference_passes_against_the_shim(reference_layout, monkeypatch):
    missing = [m for m in ("cv2", "munch", "torch") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"the reference needs {', '.join(missing)} (pip install opencv-python-headless munch) to run as "
                    "the oracle; the shim's run of its suite does not")
    if importlib.util.find_spec("torchvision") is None:      # imported by data_loaders, used by no test
        stub = types.ModuleType("torchvision")
        stub.transforms = types.ModuleType("torchvision.transforms")
        monkeypatch.setitem(sys.modules, "torchvision", stub)
    monkeypatch.syspath_prepend(str(REFERENCE))
    names, reference_failed = _run_reference_tests()
    assert sys.modules["evaluation"].__file__ == str(REFERENCE / "evaluation.py")
    for name in REFERENCE_MODULES:
        monkeypatch.delitem(sys.modules, name, raising=False)
    shim_names, shim_failed = _run_against_shim(monkeypatch)
    assert shim_names == names
    passed_reference = set(names) - set(reference_failed)
    assert passed_reference, f"the reference passed none of its tests, the oracle run is broken: {reference_failed}"
    lost = {n: shim_failed[n] for n in passed_reference if n in shim_failed}
    assert not lost, f"pass against the reference but not against the shim: {lost}"


# --- the shim's numbers on the golden vectors (the reference's unit tests check few numbers) ---------

def _box_evaluator(meta, step, multi):
    return shim.BoxEvaluator(metadata=shim.configure_metadata(str(meta)), dataset_name="CUB", split="test",
                             cam_threshold_list=list(np.arange(0, 1, step)), iou_threshold_list=[30, 50, 70],
                             mask_root=None, multi_contour_eval=multi)


@pytest.mark.parametrize("step", [0.01, 0.001])
@pytest.mark.parametrize("multi", [False, True])
def test_box_evaluator_gives_the_reference_numbers(golden_vectors, golden_box_case, step, multi):
    z, expected = golden_vectors
    meta, _ = golden_box_case
    evaluator = _box_evaluator(meta, step, multi)
    for image_id, scoremap in zip(z["box_image_ids"], z["box_scoremaps"]):
        evaluator.accumulate(scoremap.astype(np.float64), str(image_id))
    ref = expected["box"][f"interval_{step}"]["maxboxaccv2" if multi else "maxboxacc"]
    assert evaluator.compute() == [ref["max_box_acc"][d] for d in ("30", "50", "70")]
    assert evaluator.cnt == ref["cnt"]
    for iou in (30, 50, 70):
        assert evaluator.num_correct[iou].tolist() == ref["num_correct"][str(iou)]
    with pytest.raises(ValueError, match="accumulated twice"):
        evaluator.accumulate(z["box_scoremaps"][0].astype(np.float64), str(z["box_image_ids"][0]))


def test_compute_bboxes_from_scoremaps_gives_the_reference_boxes(golden_vectors):
    z, expected = golden_vectors
    thresholds = np.arange(0, 1, 0.01)
    for case in expected["box"]["box_extraction"]:
        scoremap = z["box_scoremaps"][case["image_index"]].astype(np.float64)
        taus = [thresholds[t["index_in_arange_0p01"]] for t in case["thresholds"]]
        largest, _ = shim.compute_bboxes_from_scoremaps(scoremap, taus)
        every, counts = shim.compute_bboxes_from_scoremaps(scoremap, taus, multi_contour_eval=True)
        for t, one, many, n in zip(case["thresholds"], largest, every, counts):
            if not t["largest_contour_tie"]:                    # OpenCV's list order decides a tie
                assert one.tolist() == t["boxes_largest_contour"]
            assert sorted(many.tolist()) == sorted(t["boxes_all_contours"]) and n == t["n_boxes_all_contours"]


@pytest.mark.parametrize("step", [0.01, 0.001])
def test_mask_evaluator_gives_the_reference_pxap(golden_vectors, golden_mask_case, step):
    z, expected = golden_vectors
    meta, root, _ = golden_mask_case
    evaluator = shim.MaskEvaluator(metadata=shim.configure_metadata(str(meta)), dataset_name="OpenImages",
                                   split="test", cam_threshold_list=list(np.arange(0, 1, step)),
                                   iou_threshold_list=[30, 50, 70], mask_root=str(root), multi_contour_eval=False)
    for image_id, scoremap in zip(z["mask_image_ids"], z["mask_scoremaps"]):
        evaluator.accumulate(scoremap.astype(np.float64), str(image_id))
    ref = expected["mask"][f"interval_{step}"]
    assert evaluator.compute() == ref["pxap"]
    assert evaluator.gt_true_score_hist.tolist() == ref["gt_true_score_hist"]
    assert evaluator.gt_false_score_hist.tolist() == ref["gt_false_score_hist"]


def test_evaluate_wsol_reads_npy_maps_as_the_reference(golden_vectors, tmp_path):
    z, expected = golden_vectors
    meta, _ = golden_box_files(z, tmp_path / "CUB")
    meta.rename(tmp_path / "CUB" / "test")
    for image_id, scoremap in zip(z["box_image_ids"], z["box_scoremaps"]):
        path = tmp_path / "scoremaps" / f"{image_id}.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, scoremap.astype(np.float64))
    kwargs = dict(scoremap_root=str(tmp_path / "scoremaps"), metadata_root=str(tmp_path), mask_root=str(tmp_path),
                  dataset_name="CUB", split="test", iou_threshold_list=[30, 50, 70], cam_curve_interval=0.01)
    ref = expected["box"]["interval_0.01"]
    v2 = shim.evaluate_wsol(multi_contour_eval=True, multi_iou_eval=True, **kwargs)
    assert v2 == ref["maxboxaccv2"]["mean_max_box_acc"]
    assert shim.evaluate_wsol(multi_contour_eval=False, multi_iou_eval=False, **kwargs) == ref["maxboxacc"]["MaxBoxAcc"]
