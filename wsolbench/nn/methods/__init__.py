"""WSOL methods: each a module registering a :class:`WSOLMethod` subclass.

``cam`` (Zhou et al. 2016), ``has`` (Hide-and-Seek), ``cutmix``, ``adl`` (attention-based
dropout), ``acol`` (adversarial complementary learning), ``spg`` (self-produced guidance), ``er``
(entropy regularization), ``input-dropout`` (pixel dropout, Hide-and-Seek's comparison) and
``augment`` (flip / rotate / translate / random erasing); ``fsl``, the few-shot learning baseline (a
fully supervised foreground head trained on train-fullsup). ``A+B`` composes them (``augment+has``:
:mod:`wsolbench.nn.methods.compose`).
"""

from wsolbench.nn.methods import acol, adl, augment, cam, cutmix, er, has, input_dropout, spg  # noqa: F401
from wsolbench.nn.methods import fsl  # noqa: F401  (the few-shot learning baseline)
from wsolbench.nn.methods.base import MixedTargets, StepOutput, WSOLMethod, classification_loss
from wsolbench.nn.methods.registry import (create_method, merge_method_options, method_architecture, method_class,
                                            method_names, register_method)

__all__ = ["MixedTargets", "StepOutput", "WSOLMethod", "classification_loss", "create_method", "merge_method_options",
           "method_architecture", "method_class", "method_names", "register_method"]
