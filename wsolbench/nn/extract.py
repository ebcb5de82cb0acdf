"""CAM extraction: stream a model's raw maps into a score-map file.

Maps are written RAW (``normalized=False``) at the feature resolution, with the predicted class
of every image (for top-1 loc); the protocol resizes (bicubic) and min-max normalises them at
evaluation time. For multi-label data one map is written per (image, GT class) with
``map_labels``.

The maps come from a *map source*, ``source(images, labels) -> (maps, logits)``: the method's
own CAM by default, or an explainer (:mod:`wsolbench.nn.explainers`); with ``multicrop`` the
source sees the crops of each image and the maps are averaged in the full image's frame
(:mod:`wsolbench.nn.multicrop`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader

from wsolbench.datasets.records import AnnotationSet
from wsolbench.nn.data import InputNorm, WSOLDataset
from wsolbench.nn.multicrop import MapSource, MultiCrop
from wsolbench.nn.precision import precision


def _single_label_batches(source: MapSource, loader, *, device):
    for images, labels, ids in loader:
        images = images.to(device, non_blocking=True)
        cams, logits = source(images, labels.to(device))
        yield list(ids), cams, logits.argmax(1), None


def _multi_label_batches(source: MapSource, loader, annotations: AnnotationSet, *, device):
    for images, _, ids in loader:
        images = images.to(device, non_blocking=True)
        label_sets = [annotations[i].labels for i in ids]
        for k in range(max(len(s) for s in label_sets)):
            rows = [j for j, s in enumerate(label_sets) if len(s) > k]
            labels = torch.tensor([label_sets[j][k] for j in rows], device=device)
            cams, _ = source(images[rows], labels)
            yield [ids[j] for j in rows], cams, None, labels


def _with_multicrop(source: MapSource, multicrop: MultiCrop, crop: int) -> MapSource:
    def crops_source(images, labels):
        return multicrop.cams_and_logits(source, images, labels, crop=crop)
    return crops_source


def extract_maps(model, method, annotations: AnnotationSet, out_path, *, image_size: int, batch_size: int = 64,
                 device: str = "cpu", workers: int = 0, attrs: dict | None = None,
                 progress: Callable[[int, int], None] | None = None, source: MapSource | None = None,
                 multicrop: MultiCrop | None = None, norm: InputNorm = InputNorm(), amp: str = "none") -> Path:
    """Write the CAM of every image of ``annotations`` to an HDF5 score-map file.

    Args:
        model: a trained backbone (switched to eval mode here).
        method: its :class:`~wsolbench.nn.methods.WSOLMethod` (computes the maps).
        annotations: the evaluation split (its GT classes select the maps).
        out_path: the ``.h5`` file (written atomically).
        image_size: network input size (images are resized to it).
        batch_size: images per forward pass.
        device: ``cpu`` or ``cuda``.
        workers: DataLoader worker processes.
        attrs: provenance attributes stored in the file.
        progress: ``progress(done_maps, total_maps)``.
        source: the map source (default: ``method.cams_and_logits`` on ``model``).
        multicrop: average maps and scores over crops (images are loaded at
            ``multicrop.full_size(image_size)``); ``None`` = one pass per image.
        norm: input normalisation (the training recipe's; ImageNet mean/std by default).
        amp: ``none`` (float32, the reference's) or ``bf16``/``fp16`` autocast
            (:mod:`wsolbench.nn.precision`).

    Returns:
        The written path.
    """
    from wsolbench.scoremaps import ScoreMapWriter

    model.eval()
    if source is None:
        def source(images, labels):
            return method.cams_and_logits(model, images, labels)
    if multicrop is not None:
        source = _with_multicrop(source, multicrop, image_size)
    load_size = multicrop.full_size(image_size) if multicrop is not None else image_size
    dataset = WSOLDataset(annotations, train=False, size=load_size, norm=norm)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers,
                        pin_memory=device == "cuda")
    batches = (_multi_label_batches(source, loader, annotations, device=device) if annotations.multilabel
               else _single_label_batches(source, loader, device=device))
    done, total = 0, sum(len(r.labels) for r in annotations) if annotations.multilabel else len(dataset)
    with ScoreMapWriter(out_path, normalized=False, attrs=attrs or {}) as writer, torch.no_grad(), \
            precision(device, amp):
        for ids, cams, predicted, map_labels in batches:
            writer.append(ids, cams.float().cpu().numpy().astype(np.float32),
                          predicted_labels=None if predicted is None else predicted.cpu().numpy(),
                          map_labels=None if map_labels is None else map_labels.cpu().numpy())
            done += len(ids)
            if progress is not None:
                progress(done, total)
    return Path(out_path)
