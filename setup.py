"""Builds wsolbench's compiled metric engine (``wsolbench/metrics/engine.c``) as an extension.

Everything else about the package is in ``pyproject.toml``. The build is optional: without a C
compiler the install still succeeds and ``wsolbench.metrics.native`` compiles the engine on first
use (or says how to get a compiler).
"""

import hashlib
from pathlib import Path

from setuptools import Extension, setup

SOURCE = "wsolbench/metrics/engine.c"
# The loader uses this library only while engine.c still has this hash (wsolbench.metrics.native).
SOURCE_HASH = hashlib.sha256((Path(__file__).resolve().parent / SOURCE).read_bytes()).hexdigest()[:16]

setup(ext_modules=[Extension(
    "wsolbench.metrics._engine",
    sources=[SOURCE],
    define_macros=[("WSB_PYTHON_MODULE", "1"), ("WSB_SOURCE_HASH", f'"{SOURCE_HASH}"')],
    extra_compile_args=["-O3", "-std=c99", "-ffp-contract=off", "-fno-math-errno"],
    optional=True,
)])
