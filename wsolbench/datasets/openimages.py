"""Adapter for OpenImages30k as wsolevaluation distributes it (``openimages:DIR``).

``DIR`` is the ``dataset/OpenImages`` folder that wsolevaluation's download script fills: images
and their masks side by side, one folder per split and class (the Freebase MID without ``/m/``)::

    dataset/OpenImages/
      test/0bt_c3/0a51958fcd523ae4.jpg                    the image
      test/0bt_c3/0a51958fcd523ae4_m0bt_c3_41344f12.png    one grayscale PNG per instance (0/255)
      test/0bt_c3/0a51958fcd523ae4_ignore.png              one ignore PNG per image
    metadata/OpenImages/<split>/{image_ids,class_labels,image_sizes,localization}.txt

The metadata (wsolevaluation's ``metadata/OpenImages/<split>``) is found at
``DIR/metadata/<split>``, ``DIR/metadata/OpenImages/<split>``, ``DIR/../../metadata/OpenImages/<split>``
(a wsolevaluation checkout) or a flat ``DIR/metadata``; pass ``metadata=FOLDER`` otherwise. The
masks are read from ``DIR`` (or ``DIR/masks`` when that folder exists; ``mask_root=FOLDER``
overrides). A pixel is foreground where an instance PNG is > 0.5 after the nearest-neighbour
resize to the evaluation frame, ignored where the ignore PNG is (and it is not foreground), as in
wsolevaluation's ``get_mask``. Splits: ``train`` (29,819 images, no masks), ``val`` (2,500),
``test`` (5,000; the default); 100 classes, indices 0..99 as in ``class_labels.txt``.
"""

from __future__ import annotations

import os

from wsolbench.datasets.images import ImageFileError, missing_files
from wsolbench.datasets.records import AnnotationSet
from wsolbench.datasets.registry import register_adapter
from wsolbench.datasets.textfiles import report
from wsolbench.datasets.wsoleval import load_wsoleval
from wsolbench.errors import AnnotationError, DatasetError

NUM_CLASSES = 100
SPLITS = ("train", "val", "test")
DEFAULT_SPLIT = "test"


def _has_metadata(folder: str) -> bool:
    return os.path.isfile(os.path.join(folder, "image_ids.txt"))


def find_metadata(path: str, split: str, metadata: str | None = None) -> str:
    """The wsolevaluation metadata folder of ``split`` (see the module docstring for the search order).

    Raises:
        DatasetError: none found.
    """
    if metadata:
        candidates = [os.path.join(metadata, split), metadata]
    else:
        candidates = [os.path.join(path, "metadata", split), os.path.join(path, "metadata", "OpenImages", split),
                      os.path.join(path, os.pardir, os.pardir, "metadata", "OpenImages", split),
                      os.path.join(path, "metadata")]
    for folder in candidates:
        if _has_metadata(folder):
            return os.path.normpath(folder)
    raise DatasetError(f"{path}: no wsolevaluation metadata for split {split!r} (image_ids.txt, class_labels.txt, "
                       f"localization.txt) in {', '.join(os.path.normpath(c) for c in candidates)}; pass "
                       "metadata=FOLDER (wsolevaluation's metadata/OpenImages)")


def _mask_root(path: str, mask_root: str | None) -> str:
    if mask_root:
        return mask_root
    masks = os.path.join(path, "masks")
    return masks if os.path.isdir(masks) else path


@register_adapter("openimages")
def load_openimages(path: str, *, split: str | None = None, metadata: str | None = None,
                    mask_root: str | None = None, images: str | None = None, check_images: bool = True,
                    problems: list | None = None) -> AnnotationSet:
    """Read OpenImages30k (wsolevaluation's images, masks and metadata).

    Args:
        path: wsolevaluation's ``dataset/OpenImages`` folder.
        split: ``train``, ``val`` or ``test`` (default).
        metadata: the metadata folder (``metadata/OpenImages`` or one split of it), if not found by itself.
        mask_root: folder the mask paths of ``localization.txt`` are relative to (default ``DIR``).
        images: folder the image ids are relative to (default ``DIR``).
        check_images: check that every image file exists (folder listings; no image is opened).
        problems: collect problems here instead of raising (``wsolbench datasets check``).

    Returns:
        The split's :class:`AnnotationSet`; records carry lazy mask loaders (``image_size`` is
        ``None``: the masks give the size).
    """
    split = split or DEFAULT_SPLIT
    if split not in SPLITS:
        raise DatasetError(f"openimages has splits {', '.join(SPLITS)}; got split {split!r}")
    if not os.path.isdir(path):
        raise DatasetError(f"{path}: not a folder; openimages:DIR needs wsolevaluation's dataset/OpenImages folder")
    folder = find_metadata(path, split, metadata)
    image_root = images or path
    data = load_wsoleval(folder, mask_root=_mask_root(path, mask_root), problems=problems)
    records = []
    for r in data.records:
        if r.label >= NUM_CLASSES:
            report(AnnotationError(f"{os.path.join(folder, 'class_labels.txt')}: image '{r.image_id}': unknown "
                                   f"class index {r.label}; OpenImages30k has classes 0..{NUM_CLASSES - 1}"), problems)
            continue
        records.append(r)
    if check_images:
        for name in missing_files(image_root, [r.image_id for r in records]):
            report(ImageFileError(f"{os.path.join(image_root, name)}: image '{name}' (listed in "
                                  f"{os.path.join(folder, 'image_ids.txt')}) not found; check DIR or pass "
                                  "images=FOLDER", path=os.path.join(image_root, name), image_id=name), problems)
    return AnnotationSet(records=records, name="openimages", split=split, num_classes=NUM_CLASSES,
                         root=image_root, source=folder)
