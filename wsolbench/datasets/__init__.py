"""Dataset adapters: each turns a dataset in its native layout into an :class:`AnnotationSet`.

Select one with a spec ``NAME:PATH`` (``wsoleval:metadata/CUB/test``, ``cub:/data/CUB_200_2011``)
through :func:`load_annotations`.
"""

from wsolbench.datasets.records import AnnotationSet, GTMasks, ImageRecord, MaskSource, check_image_id
from wsolbench.datasets.registry import ADAPTERS, load_annotations, parse_spec, register_adapter

__all__ = ["AnnotationSet", "GTMasks", "ImageRecord", "MaskSource", "check_image_id",
           "ADAPTERS", "load_annotations", "parse_spec", "register_adapter"]
