"""Optional dependencies: import one where a feature needs it, or say which extra installs it.

Example:
    >>> pd = import_optional("pandas", feature="result tables", extra="pandas")   # doctest: +SKIP
"""

from __future__ import annotations

import importlib

from wsolbench.errors import MissingDependencyError


def import_optional(module: str, *, feature: str, extra: str, package: str | None = None, alternative: str = ""):
    """``import module``, or a :class:`MissingDependencyError` naming the install command.

    Args:
        module: the module to import (``pycocotools.mask``).
        feature: what needs it, for the message ("COCO masks").
        extra: the wsolbench extra that brings it (``coco``).
        package: the PyPI package name, when it is not the module's top-level name.
        alternative: what else the user can do, appended to the message.
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        name = package or module.split(".")[0]
        raise MissingDependencyError(
            f"{feature} needs {name}, which is not installed ({e}); install it with: pip install "
            f"'wsolbench[{extra}]' (or: pip install {name})" + (f", {alternative}" if alternative else "")) from e
