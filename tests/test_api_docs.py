"""The documented Python API runs as documented: the README's in-memory example, the docstring examples
of the public modules, and one place that re-exports every public name without importing torch."""

import doctest
import importlib
import re
import subprocess
import sys

import pytest

from conftest import REPO

DOCTESTED = ["wsolbench", "wsolbench.evaluator", "wsolbench.compat.wsolevaluation", "wsolbench.metrics.boxes",
             "wsolbench.metrics.box_accuracy", "wsolbench.metrics.gt", "wsolbench.metrics.masks",
             "wsolbench.metrics.resize", "wsolbench.protocol", "wsolbench.metrics.bootstrap",
             "wsolbench.metrics.imagestate", "wsolbench.metrics.pointing", "wsolbench.metrics.sizes",
             "wsolbench.datasets.idmatch", "wsolbench.report.story", "wsolbench.report.sections"]


def _readme_example() -> str:
    text = (REPO / "README.md").read_text()
    block = re.search(r"<!-- api-example:begin -->\n```python\n(.*?)```\n<!-- api-example:end -->", text, re.S)
    assert block, "README.md lost its marked in-memory example"
    return block.group(1)


def test_readme_in_memory_example_runs_and_prints_its_number(tmp_path):
    code = _readme_example()
    assert len([line for line in code.splitlines() if line.strip()]) <= 9
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    comment = re.search(r"print\(.*\)\s+# ([0-9.]+)\.\.\.", code).group(1)
    assert out.stdout.strip().startswith(comment)


def test_api_doc_code_blocks_run_in_order(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", (REPO / "docs" / "api.md").read_text(), re.S)
    runnable = [b for b in blocks if not b.startswith("# (not run here")]
    assert len(runnable) >= 4 and len(blocks) > len(runnable)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in runnable:
        exec(compile(block, "docs/api.md", "exec"), namespace)
    lines = capsys.readouterr().out.splitlines()
    assert lines[1:4] == ["True []", "True", "True"]     # reloaded result; the same maps from a file; merged shards
    assert lines[4:6] == ["True 24", "1.0 False"]        # interval around the number; paired test of the same maps
    assert lines[-1].startswith("refused: best IoUs were computed on another CAM-threshold grid")


@pytest.mark.parametrize("name", DOCTESTED)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_public_names_resolve_lazily_and_without_torch():
    code = ("import sys, wsolbench; heavy = [m for m in ('numba', 'h5py', 'torch') if m in sys.modules]; "
            "assert not heavy, heavy; [getattr(wsolbench, n) for n in wsolbench.__all__]; "
            "assert 'torch' not in sys.modules; print(len(wsolbench.__all__))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    with pytest.raises(AttributeError, match="no attribute 'Evaluater'"):
        importlib.import_module("wsolbench").Evaluater
