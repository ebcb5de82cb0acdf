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


# -- pretrained weights: torchvision ImageNet checkpoints, wsolevaluation checkpoints ------------

TORCHVISION = "torchvision"
WSOLEVALUATION = "wsolevaluation"


@dataclass(frozen=True)
class PretrainedReport:
    """What :func:`load_pretrained` did.

    Attributes:
        format: ``torchvision`` (an ImageNet state dict: the trunk, optionally its classifier) or
            ``wsolevaluation`` (a checkpoint the reference's ``main.py`` wrote: the whole model).
        loaded: model keys that received a checkpoint tensor.
        discarded: checkpoint keys not loaded (the replaced ImageNet head, ``Mixed_7*``, ...).
        mapped: ``(checkpoint key, model key)`` pairs loaded under another name (re-indexed
            ``features.N`` / ``layerK.N``, renamed SPG layers; ``module.`` prefixes are not listed).
        kept_head: the ImageNet classifier was loaded (ResNet50 on ILSVRC, as the reference does).
    """

    format: str
    loaded: tuple[str, ...]
    discarded: tuple[str, ...]
    mapped: tuple[tuple[str, str], ...] = ()
    kept_head: bool = False

    def summary(self) -> str:
        """One line for the CLI: format, counts, the renamed keys (a few) and the head decision."""
        parts = [f"{self.format} checkpoint: {len(self.loaded)} tensors loaded"]
        if self.mapped:
            shown = ", ".join(f"{a} -> {b}" for a, b in self.mapped[:6])
            more = f", ... (+{len(self.mapped) - 6})" if len(self.mapped) > 6 else ""
            parts.append(f"{len(self.mapped)} re-indexed ({shown}{more})")
        if self.discarded:
            heads = sorted({k.split(".")[0] for k in self.discarded})
            parts.append(f"{len(self.discarded)} discarded ({', '.join(heads)})")
        if self.kept_head:
            parts.append("ImageNet classifier kept")
        return "; ".join(parts)


def _unwrap(state, path) -> tuple[dict, str]:
    fmt = TORCHVISION
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict) and (
            "architecture" in state or "epoch" in state):
        fmt = WSOLEVALUATION  # main.py's _torch_save_model: architecture, epoch, state_dict, optimizer
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: expected a state dict (parameter name -> tensor), found {type(state).__name__}")
    return {k.removeprefix("module."): v for k, v in state.items()}, fmt


def _indices(keys, container: str) -> list[int]:
    out = set()
    for k in keys:
        parts = k.split(".")
        if len(parts) > 2 and parts[0] == container and parts[1].isdigit():
            out.add(int(parts[1]))
    return sorted(out)


def reindex_containers(state: dict, model_keys, containers) -> tuple[dict, list[tuple[str, str]]]:
    """Renumber the children of indexed Sequentials (``features.N``, ``layer3.N``) by order.

    When the checkpoint numbers a container's parametrised children differently from the model
    but has as many of them, the i-th checkpoint child becomes the model's i-th: what
    wsolevaluation's ``adjust_pretrained_model`` does for VGG16 without pool4, and the inverse of
    its ``align_layer`` for ResNet50 checkpoints with ADL layers inside ``layer3``/``layer4``.

    Returns:
        ``(renamed state, [(old key, new key), ...])``.
    """
    model_keys = list(model_keys)
    renames: dict[str, str] = {}
    for container in containers:
        have, want = _indices(state, container), _indices(model_keys, container)
        if have == want or len(have) != len(want):
            continue  # equal numbering, or a real mismatch the key check reports
        index_map = dict(zip(have, want))
        for k in state:
            parts = k.split(".")
            if len(parts) > 2 and parts[0] == container and parts[1].isdigit():
                renames[k] = ".".join([container, str(index_map[int(parts[1])]), *parts[2:]])
    out = {renames.get(k, k): v for k, v in state.items()}
    return out, sorted(((a, b) for a, b in renames.items() if a != b), key=lambda ab: _natural(ab[0]))


def rename_prefixes(state: dict, renames) -> tuple[dict, list[tuple[str, str]]]:
    """Apply ``(old prefix, new prefix)`` renames (the first that matches) to the keys of ``state``."""
    out, pairs = {}, []
    for k, v in state.items():
        new = next((n + k[len(o):] for o, n in renames if k.startswith(o)), k)
        out[new] = v
        if new != k:
            pairs.append((k, new))
    return out, pairs


def _natural(key: str):
    return [int(p) if p.isdigit() else p for p in key.split(".")]


def _key_message(path, model, fmt, missing, unexpected, mismatched) -> str:
    names = "torchvision state-dict names" if fmt == TORCHVISION else "the names of a wsolevaluation model"
    parts = [f"{path}: the {fmt} checkpoint does not match the {type(model).__name__} model ({names} are expected)"]
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", mismatched)):
        if keys:
            more = f" ... (+{len(keys) - 10} more)" if len(keys) > 10 else ""
            parts.append(f"{label} keys ({len(keys)}): {', '.join(keys[:10])}{more}")
    parts.append("use the ImageNet checkpoint of the torchvision model named by `wsolbench baseline list`, or a "
                 "wsolevaluation checkpoint of the same backbone, method and large_feature_map")
    return "; ".join(parts)


def _expected_keys(model, state: dict, fmt: str, keep_head: bool) -> tuple[set, bool]:
    own = model.state_dict()
    if fmt == WSOLEVALUATION:
        return {k for k in own if not k.startswith("inserted.")}, False
    expected = set(model.pretrained_keys())
    head = {k for k in own if model.pretrained_head and k.startswith(model.pretrained_head)}
    head_fits = bool(head) and all(k in state and tuple(state[k].shape) == tuple(own[k].shape) for k in head)
    if keep_head and head_fits:
        return expected | head, True
    return expected, False


def load_pretrained(model, path_or_state, *, keep_head: bool = False) -> PretrainedReport:
    """Load pretrained weights into a backbone, strictly, and say what was loaded and renamed.

    Two formats are recognised:

    * a **torchvision** ImageNet state dict (also wrapped in ``{"state_dict": ...}``, keys with
      ``module.``): the trunk is loaded; keys under ``pretrained_discard`` are dropped; the
      ImageNet classifier (``pretrained_head``, ResNet50's ``fc``) is loaded when ``keep_head``
      and its shape fits (wsolevaluation keeps it on ILSVRC), else dropped; new WSOL layers keep
      their initialisation;
    * a **wsolevaluation** checkpoint (``{"architecture", "epoch", "state_dict", "optimizer"}``, as
      the reference's ``main.py`` saves ``last_checkpoint.pth.tar``): every tensor of the model is
      loaded, head included.

    In both, layers the WSOL model moved are renamed (``pretrained_renames``: SPG's, as the
    reference's ``batch_replace_layer``), and indexed Sequentials are renumbered by order
    (:func:`reindex_containers`): VGG16
    ``large_feature_map`` (no pool4), and wsolevaluation's ADL layouts (ADL modules inside VGG's
    ``features`` and ResNet's ``layer3``/``layer4``; wsolbench keeps them outside the trunk).

    Args:
        model: a :class:`~wsolbench.nn.backbones.WSOLBackbone` (prepared by its method).
        path_or_state: a file path (loaded with ``weights_only=True``) or a state dict.
        keep_head: load the ImageNet classifier when the model's head has its shape.

    Raises:
        CheckpointError: listing missing, unexpected and wrongly shaped keys.
    """
    path = path_or_state if not isinstance(path_or_state, dict) else "<state dict>"
    raw = load_file(path_or_state, what="pretrained weights") if not isinstance(path_or_state, dict) else path_or_state
    state, fmt = _unwrap(raw, path)
    imagenet_head = model.pretrained_discard + model.pretrained_head
    if fmt == TORCHVISION and any(k.startswith(model.new_prefixes) and not k.startswith(imagenet_head) for k in state):
        fmt = WSOLEVALUATION  # a bare state dict of a whole WSOL model (it has the new layers)
    own = model.state_dict()
    state, renamed = rename_prefixes(state, model.pretrained_renames)
    state, mapped = reindex_containers(state, own, model.indexed_containers)
    mapped = sorted(renamed + mapped, key=lambda ab: _natural(ab[0]))
    expected, kept_head = _expected_keys(model, state, fmt, keep_head)
    discarded = tuple(sorted((k for k in state if k not in expected and k.startswith(imagenet_head)
                              and fmt == TORCHVISION), key=_natural))
    state = {k: v for k, v in state.items() if k not in set(discarded)}
    missing = sorted(k for k in expected - set(state) if not k.endswith("num_batches_tracked"))
    unexpected = sorted(set(state) - expected)
    mismatched = sorted(k for k in expected & set(state) if tuple(state[k].shape) != tuple(own[k].shape))
    if missing or unexpected or mismatched:
        raise CheckpointError(_key_message(path, model, fmt, missing, unexpected, mismatched))
    model.load_state_dict(state, strict=False)
    return PretrainedReport(format=fmt, loaded=tuple(sorted(state, key=_natural)), discarded=discarded,
                            mapped=tuple(mapped), kept_head=kept_head)
