"""Small generated fixtures for evaluation tests: wsolevaluation metadata + minimal-layout HDF5 maps."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
from PIL import Image


def write_metadata(folder: Path, ids, labels, sizes, boxes) -> Path:
    """Write a wsolevaluation metadata folder; ``boxes[i]`` is a list of x0,y0,x1,y1 boxes."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "image_ids.txt").write_text("".join(f"{i}\n" for i in ids))
    (folder / "class_labels.txt").write_text("".join(f"{i},{c}\n" for i, c in zip(ids, labels)))
    (folder / "image_sizes.txt").write_text("".join(f"{i},{w},{h}\n" for i, (w, h) in zip(ids, sizes)))
    lines = [f"{i},{b[0]},{b[1]},{b[2]},{b[3]}\n" for i, bs in zip(ids, boxes) for b in bs]
    (folder / "localization.txt").write_text("".join(lines))
    return folder


def write_maps(path: Path, ids, maps, *, predicted=None, normalized=None, version=1) -> Path:
    """The minimal score-map layout, written with plain h5py as a method author would."""
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "wsolbench.scoremaps"
        f.attrs["format_version"] = version
        if normalized is not None:
            f.attrs["normalized"] = normalized
        f.create_dataset("image_ids", data=np.array(ids, dtype=object), dtype=h5py.string_dtype())
        f.create_dataset("maps", data=np.asarray(maps))
        if predicted is not None:
            f.create_dataset("predicted_labels", data=np.asarray(predicted, np.int64))
    return path


def blob_map(size, center, sigma, rng=None):
    """A raw CAM-like map (h, w) with a Gaussian blob; (x, y) centre in map pixels."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    m = np.exp(-(((xx - center[0]) ** 2 + (yy - center[1]) ** 2) / (2 * sigma ** 2)))
    if rng is not None:
        m = m + 0.05 * rng.standard_normal((h, w))
    return m.astype(np.float32)


def make_box_case(tmp: Path, n: int = 12, seed: int = 0):
    """A box dataset of n images (mixed sizes) and 28x28 raw maps roughly on the objects."""
    rng = np.random.default_rng(seed)
    ids = [f"cls{i % 3}/img_{i:03d}.jpg" for i in range(n)]
    labels = [i % 3 for i in range(n)]
    sizes = [(int(rng.integers(150, 500)), int(rng.integers(150, 500))) for _ in range(n)]
    boxes, maps = [], []
    for (w, h) in sizes:
        x0, y0 = rng.uniform(0, 0.4) * w, rng.uniform(0, 0.4) * h
        x1, y1 = x0 + rng.uniform(0.3, 0.55) * w, y0 + rng.uniform(0.3, 0.55) * h
        boxes.append([[round(x0, 1), round(y0, 1), round(min(x1, w - 1), 1), round(min(y1, h - 1), 1)]])
        cx, cy = (x0 + x1) / 2 / w * 28, (y0 + y1) / 2 / h * 28
        maps.append(blob_map((28, 28), (cx, cy), 4.0, rng))
    meta = write_metadata(tmp / "meta", ids, labels, sizes, boxes)
    preds = [c if i % 4 else (c + 1) % 3 for i, c in enumerate(labels)]
    return meta, ids, np.stack(maps), preds


def _fmt(v):
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def golden_box_files(z, tmp: Path):
    """The golden box vectors as a user has them: wsolevaluation metadata (original-pixel boxes) and an
    HDF5 of the final [0, 1] maps with predicted labels. Returns (metadata folder, maps path)."""
    ids = [str(i) for i in z["box_image_ids"]]
    boxes = [[] for _ in ids]
    for img, box in zip(z["box_gt_image_index"], z["box_gt_boxes_orig"]):
        boxes[img].append([_fmt(v) for v in box])
    meta = write_metadata(tmp / "meta", ids, z["box_gt_class"].tolist(),
                          [tuple(s) for s in z["box_image_sizes_wh"]], boxes)
    maps = write_maps(tmp / "maps.h5", ids, z["box_scoremaps"], predicted=z["box_pred_class"], normalized=True)
    return meta, maps


def golden_mask_files(z, tmp: Path):
    """The golden mask vectors as wsolevaluation metadata + mask PNGs (at their original sizes) and an
    HDF5 of the final maps. Returns (metadata folder, mask root, maps path)."""
    ids = [str(i) for i in z["mask_image_ids"]]
    root = tmp / "masks"
    lines = []
    for i, image_id in enumerate(ids):
        stem = image_id.rsplit(".", 1)[0]
        (root / stem).parent.mkdir(parents=True, exist_ok=True)
        ignore = f"{stem}_ignore.png"
        Image.fromarray(z[f"mask_ignore_{i:04d}"] * 255).save(root / ignore)
        for k in range(int(z["mask_num_instances"][i])):
            inst = f"{stem}_m{k}.png"
            Image.fromarray(z[f"mask_inst_{i:04d}_{k}"] * 255).save(root / inst)
            lines.append(f"{image_id},{inst},{ignore if k == 0 else ''}\n")
    meta = tmp / "meta"
    meta.mkdir()
    (meta / "image_ids.txt").write_text("".join(f"{i}\n" for i in ids))
    (meta / "class_labels.txt").write_text("".join(f"{i},{n % 5}\n" for n, i in enumerate(ids)))
    (meta / "image_sizes.txt").write_text("")
    (meta / "localization.txt").write_text("".join(lines))
    maps = write_maps(tmp / "maps.h5", ids, z["mask_scoremaps"], normalized=True)
    return meta, root, maps
