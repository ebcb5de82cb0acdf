"""Import the unmodified wsolevaluation reference (clovaai/wsolevaluation) for benchmarks.

The reference's ``evaluation.py`` imports modules it does not use for evaluating maps (``munch``
through ``config``/``data_loaders``, ``torchvision``, ``torch.utils.data``) and uses the NumPy
aliases ``np.float``/``np.int`` that NumPy 1.24 removed. This shim gives it minimal stand-ins for
the missing modules (only where they are not installed) and restores the two aliases, then imports
``evaluation`` and ``inference`` from the reference folder as they are. Nothing of the reference
is copied; it must exist on disk (``../shared/reference/wsolevaluation`` beside the repository, or
``--reference DIR``).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path

import numpy as np

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "reference" / "wsolevaluation"


class _Munch(dict):
    """munch.Munch as the reference uses it: a dict with attribute access."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError as e:
            raise AttributeError(name) from e

    def __setattr__(self, name, value):
        self[name] = value


def _install_stubs() -> None:
    if importlib.util.find_spec("munch") is None:
        munch = types.ModuleType("munch")
        munch.Munch = _Munch
        sys.modules.setdefault("munch", munch)
    if importlib.util.find_spec("torchvision") is None:
        sys.modules.setdefault("torchvision", types.ModuleType("torchvision"))
        sys.modules["torchvision"].transforms = types.ModuleType("torchvision.transforms")
        sys.modules.setdefault("torchvision.transforms", sys.modules["torchvision"].transforms)
    if importlib.util.find_spec("torch") is None:
        data = types.ModuleType("torch.utils.data")
        data.Dataset, data.DataLoader = object, None
        utils = types.ModuleType("torch.utils")
        utils.data = data
        torch = types.ModuleType("torch")
        torch.utils = utils
        sys.modules.update({"torch": torch, "torch.utils": utils, "torch.utils.data": data})
    for alias, value in (("float", float), ("int", int), ("bool", bool)):
        if alias not in np.__dict__:
            setattr(np, alias, value)


def import_reference(folder=None):
    """``(evaluation, inference)`` modules of the reference in ``folder``.

    Raises:
        SystemExit: the folder does not hold the reference (the message says what to pass).
    """
    folder = Path(folder) if folder else DEFAULT
    if not (folder / "evaluation.py").is_file():
        raise SystemExit(f"the wsolevaluation reference is not at {folder}; pass --reference DIR (a checkout of "
                         "clovaai/wsolevaluation at commit 96f4b88)")
    if importlib.util.find_spec("cv2") is None:
        raise SystemExit("OpenCV is needed to run the reference: pip install -e '.[bench]' "
                         "(opencv-python-headless)")
    _install_stubs()
    sys.path.insert(0, str(folder))
    try:
        return importlib.import_module("evaluation"), importlib.import_module("inference")
    finally:
        sys.path.remove(str(folder))
