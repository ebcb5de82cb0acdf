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
