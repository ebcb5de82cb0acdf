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
