"""The unmodified reference (clovaai/wsolevaluation, commit 96f4b88) as a test oracle.

Its source lives outside this repository, in ``../shared/reference/wsolevaluation`` (never copied
here). :func:`load_reference` imports its ``wsol`` package and ``main.py`` with three shims, each
undone afterwards:

* ``np.int`` (removed from numpy; ``wsol/method/cutmix.py`` calls it) is set to ``int``;
* ``main.py`` imports ``config``, ``data_loaders`` and ``inference`` for its command line, data
  loading and evaluation, which need munch, torchvision and OpenCV: stand-ins with the imported
  names are registered, because the tests only use ``Trainer._set_optimizer`` and
  ``Trainer._wsol_training``, which touch none of them;
* ``Tensor.cuda`` returns the tensor itself while a test runs reference code on the CPU
  (:func:`cpu_cuda`; CutMix calls ``torch.randperm(...).cuda()``).

The reference's trainer is driven through :class:`RefTrainer`, a stand-in for ``self`` of its
``Trainer`` with exactly the attributes those two methods read.
"""

from __future__ import annotations

import importlib
import sys
import types
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "wsolevaluation"
_STANDINS = {"config": ("get_configs",), "data_loaders": ("get_data_loader",), "inference": ("CAMComputer",)}
_THEIRS = ("main", "util", "wsol")


def _is_reference_module(name: str) -> bool:
    return name in _STANDINS or name.split(".")[0] in _THEIRS


@contextmanager
def load_reference():
    """Yield ``(wsol, main)`` imported from ``../shared``; skip the test when it is absent."""
    if not (REFERENCE / "wsol" / "__init__.py").is_file():
        pytest.skip(f"{REFERENCE} not found: the equality tests need the reference's unmodified source in "
                    "../shared/reference/wsolevaluation (clovaai/wsolevaluation, commit 96f4b88)")
    saved = {k: v for k, v in sys.modules.items() if _is_reference_module(k)}
    had_int = "int" in np.__dict__
    for name, attrs in _STANDINS.items():
        module = types.ModuleType(name)
        for attr in attrs:
            setattr(module, attr, None)
        sys.modules[name] = module
    sys.path.insert(0, str(REFERENCE))
    np.int = int  # removed alias used by the reference
    try:
        wsol = importlib.import_module("wsol")
        importlib.import_module("wsol.method")
        main = importlib.import_module("main")
        yield wsol, main
    finally:
        sys.path.remove(str(REFERENCE))
        for k in [k for k in sys.modules if _is_reference_module(k)]:
            del sys.modules[k]
        sys.modules.update(saved)
        if not had_int:
            del np.int


@contextmanager
def cpu_cuda():
    """Make ``Tensor.cuda()`` a no-op while reference code runs on the CPU."""
    import torch

    original = torch.Tensor.cuda
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    try:
        yield
    finally:
        torch.Tensor.cuda = original


class RefTrainer(types.SimpleNamespace):
    """``self`` for the reference's ``Trainer._set_optimizer`` / ``Trainer._wsol_training``.

    Args:
        main: the reference's ``main`` module.
        model: a reference model.
        architecture: ``vgg16``, ``resnet50`` or ``inception_v3``.
        wsol_method: the reference's method name.
        **args: ``config.py`` arguments (``lr``, ``weight_decay``, ``cutmix_beta``, ...).
    """

    def __init__(self, main, model, *, architecture: str, wsol_method: str, **args):
        import torch.nn as nn

        defaults = dict(lr=0.01, lr_classifier_ratio=10.0, momentum=0.9, weight_decay=1e-4, has_grid_size=4,
                        has_drop_rate=0.5, cutmix_beta=1.0, cutmix_prob=1.0,
                        spg_thresholds=((0.7, 0.01), (0.5, 0.05), (0.7, 0.1)))
        super().__init__(args=types.SimpleNamespace(architecture=architecture, wsol_method=wsol_method,
                                                    **{**defaults, **args}),
                         model=model, cross_entropy_loss=nn.CrossEntropyLoss(),
                         _FEATURE_PARAM_LAYER_PATTERNS=main.Trainer._FEATURE_PARAM_LAYER_PATTERNS)
        self._main = main
        self.optimizer = main.Trainer._set_optimizer(self)

    def step(self, images, target):
        """One iteration of the reference's ``Trainer.train`` loop; returns the loss."""
        self.model.train()
        with cpu_cuda():
            _, loss = self._main.Trainer._wsol_training(self, images, target)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())
