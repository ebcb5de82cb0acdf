import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
GOLDEN = REPO / "tests" / "data" / "golden"

# Keep generated caches (synthetic benchmark) out of the user's home during tests.
os.environ.setdefault("WSOLBENCH_CACHE", str(REPO / ".cache" / "test-cache"))


@pytest.fixture
def shared_dir():
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} (the project's shared data folder) is absent; these tests read real "
                    "wsolevaluation files from it")
    return SHARED


@pytest.fixture(scope="module")
def golden_vectors():
    """(golden.npz, expected.json) of the golden vectors (tests/data/golden/README.md)."""
    import json

    import numpy as np

    return np.load(GOLDEN / "golden.npz"), json.loads((GOLDEN / "expected.json").read_text())


@pytest.fixture(scope="module")
def golden_box_case(golden_vectors, tmp_path_factory):
    """(metadata folder, maps.h5) of the golden box vectors, as a user has them."""
    from evalfixtures import golden_box_files

    return golden_box_files(golden_vectors[0], tmp_path_factory.mktemp("golden_box"))


@pytest.fixture(scope="module")
def golden_mask_case(golden_vectors, tmp_path_factory):
    """(metadata folder, mask root, maps.h5) of the golden mask vectors."""
    from evalfixtures import golden_mask_files

    return golden_mask_files(golden_vectors[0], tmp_path_factory.mktemp("golden_mask"))
