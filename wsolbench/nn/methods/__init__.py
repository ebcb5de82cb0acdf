"""WSOL methods: each a module registering a :class:`WSOLMethod` subclass (CAM is the first)."""

from wsolbench.nn.methods import cam  # noqa: F401
from wsolbench.nn.methods.base import StepOutput, WSOLMethod
from wsolbench.nn.methods.registry import create_method, method_names, register_method

__all__ = ["StepOutput", "WSOLMethod", "create_method", "method_names", "register_method"]
