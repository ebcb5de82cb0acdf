"""Builds wsolbench's compiled metric engine (``wsolbench/metrics/engine.c``) as an extension.

Everything else about the package is in ``pyproject.toml``. The build is optional: without a C
compiler the install still succeeds and ``wsolbench.metrics.native`` compiles the engine on first
use (or says how to get a compiler).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension(
    "wsolbench.metrics._engine",
    sources=["wsolbench/metrics/engine.c"],
    define_macros=[("WSB_PYTHON_MODULE", "1")],
    extra_compile_args=["-O3", "-std=c99", "-ffp-contract=off", "-fno-math-errno"],
    optional=True,
)])
