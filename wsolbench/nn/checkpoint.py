"""Checkpoints: atomic writes, fixed keys, ``weights_only`` loads, ImageNet weights by name.

A training checkpoint is a dict with exactly :data:`CHECKPOINT_KEYS`: ``model`` (state dict),
``optimizer``, ``scheduler`` (state dicts), ``epoch`` (number of epochs completed), ``rng`` (torch
CPU/CUDA and Python generator states), ``recipe`` (the recipe as a plain dict) and
``wsolbench_version``. Everything in it is tensors, numbers, strings, lists and dicts, so it loads
with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

import torch

from wsolbench import __version__
from wsolbench.atomic import atomic_path
from wsolbench.errors import WsolbenchError

CHECKPOINT_KEYS = ("model", "optimizer", "scheduler", "epoch", "rng", "recipe", "wsolbench_version")
LAST_CHECKPOINT = "checkpoint_last.pt"


class CheckpointError(WsolbenchError):
    """A checkpoint or pretrained-weights file cannot be used."""


def atomic_torch_save(obj, path) -> Path:
    """``torch.save`` to a temporary file in the same folder, then rename (never a half file)."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)


def load_file(path, *, what: str = "checkpoint"):
    """``torch.load(path, map_location='cpu', weights_only=True)`` with a clear error."""
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: {what} file not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle.UnpicklingError, RuntimeError (truncated zip), EOFError, ...
        raise CheckpointError(f"{path}: cannot load {what} with torch.load(weights_only=True) ({e}); "
                              "it must be a state dict (or a dict of them) saved with torch.save") from e


def rng_state() -> dict:
    """The generator states a resumed run restores (torch CPU, CUDA if any, Python)."""
    state = {"torch": torch.get_rng_state(), "python": list(random.getstate()[1])}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` saved."""
    torch.set_rng_state(state["torch"])
    random.setstate((3, tuple(state["python"]), None))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path, *, model, optimizer, scheduler, epoch: int, recipe: dict) -> Path:
    """Write a training checkpoint with the fixed keys (atomic)."""
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict(), "epoch": int(epoch), "rng": rng_state(),
             "recipe": recipe, "wsolbench_version": __version__}
    return atomic_torch_save(state, path)


def load_checkpoint(path) -> dict:
    """Read a training checkpoint and check its keys."""
    state = load_file(path)
    missing = [k for k in CHECKPOINT_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise CheckpointError(f"{path}: not a wsolbench training checkpoint (missing keys: {', '.join(missing)}); "
                              "delete it or point --out to another folder")
    return state


# -- ImageNet weights -------------------------------------------------------------------------

@dataclass(frozen=True)
class PretrainedReport:
    """What :func:`load_pretrained` did: keys loaded and checkpoint keys discarded (replaced head)."""

    loaded: tuple[str, ...]
    discarded: tuple[str, ...]


def _unwrap(state, path) -> dict:
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: expected a state dict (parameter name -> tensor), found {type(state).__name__}")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _key_message(path, model, missing, unexpected, mismatched) -> str:
    parts = [f"{path}: the checkpoint does not match the {type(model).__name__} trunk "
             "(torchvision state-dict names are expected)"]
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", mismatched)):
        if keys:
            more = f" ... (+{len(keys) - 10} more)" if len(keys) > 10 else ""
            parts.append(f"{label} keys ({len(keys)}): {', '.join(keys[:10])}{more}")
    parts.append("use the ImageNet checkpoint of the torchvision model named by `wsolbench baseline list`")
    return "; ".join(parts)


def load_pretrained(model, path_or_state) -> PretrainedReport:
    """Load ImageNet weights into a backbone's trunk, strictly, by torchvision names.

    Keys under the backbone's ``pretrained_discard`` prefixes (the replaced ImageNet head) are
    dropped; every other key must match the trunk exactly (``num_batches_tracked`` may be absent,
    as in old torchvision files). New WSOL layers keep their initialisation.

    Args:
        model: a :class:`~wsolbench.nn.backbones.WSOLBackbone`.
        path_or_state: a file path (loaded with ``weights_only=True``) or a state dict.

    Raises:
        CheckpointError: listing missing, unexpected and wrongly shaped keys.
    """
    path = path_or_state if not isinstance(path_or_state, dict) else "<state dict>"
    raw = load_file(path_or_state, what="pretrained weights") if not isinstance(path_or_state, dict) else path_or_state
    state = _unwrap(raw, path)
    discarded = tuple(k for k in state if k.startswith(model.pretrained_discard))
    state = {k: v for k, v in state.items() if k not in set(discarded)}
    own = model.state_dict()
    expected = set(model.pretrained_keys())
    missing = sorted(k for k in expected - set(state) if not k.endswith("num_batches_tracked"))
    unexpected = sorted(set(state) - expected)
    mismatched = sorted(k for k in expected & set(state) if tuple(state[k].shape) != tuple(own[k].shape))
    if missing or unexpected or mismatched:
        raise CheckpointError(_key_message(path, model, missing, unexpected, mismatched))
    model.load_state_dict(state, strict=False)
    return PretrainedReport(loaded=tuple(sorted(state)), discarded=discarded)
