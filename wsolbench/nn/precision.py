"""Numerical precision of training and CAM extraction: fp32 (the reference's) or opt-in AMP.

wsolevaluation trains and extracts maps in float32. That is the default here (``amp = "none"``),
and on CUDA it also turns TF32 off for the duration (PyTorch lets cuDNN convolutions run in
TF32 on Ampere and later GPUs by default, which is not float32). ``amp = "bf16"`` or ``"fp16"``
(the recipe's ``[train] amp``, ``--amp`` on the command line) runs the forward pass under
``torch.autocast`` with that dtype; fp16 also scales the loss (``torch.amp.GradScaler``). The
choice is recorded in the run's recipe and in the maps file (so in the result).
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

from wsolbench.nn.recipe import AMP_MODES

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def check_amp(amp: str) -> str:
    if amp not in AMP_MODES:
        raise ValueError(f"amp must be one of {', '.join(AMP_MODES)}, got {amp!r}")
    return amp


@contextmanager
def precision(device: str, amp: str = "none"):
    """Run the body in the requested precision on ``device`` (``cpu`` or ``cuda``)."""
    check_amp(amp)
    if amp != "none":
        with torch.autocast(device, dtype=_DTYPES[amp]):
            yield
        return
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def grad_scaler(device: str, amp: str = "none") -> torch.amp.GradScaler:
    """A loss scaler, active for fp16 only (a pass-through otherwise)."""
    return torch.amp.GradScaler(device, enabled=check_amp(amp) == "fp16")
