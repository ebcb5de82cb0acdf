"""Loads wsolbench's compiled metric engine (``engine.c``) and describes its functions for ctypes.

The engine is C (not numba): it is compiled once, at ``pip install`` (``setup.py`` builds it as the
extension ``wsolbench/metrics/_engine*``), so the first evaluation after an install compiles nothing
and the CLI never imports a JIT. Where that build is missing (a source checkout that was not
installed, an install without a compiler), the first use compiles ``engine.c`` with the system C
compiler (``$CC``, else ``cc``; about a second) into the package folder or the wsolbench cache,
printing one line on stderr while it does. ctypes releases the GIL around every call.

The installed extension is also a Python module with two entries for the box path's one call per
map (:func:`raw_entry`, :func:`best_entry`: the arrays go in through the buffer protocol, about 3 us
less per map than ctypes' argument conversion; they release the GIL too). The fallback build has
no Python entries; the callers then use the ctypes functions, which give the same results.

Example:
    >>> from wsolbench.metrics.native import engine
    >>> callable(engine().wsb_best_ious)
    True
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.machinery
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from ctypes import c_double, c_int, c_int64, c_void_p
from pathlib import Path

from wsolbench.errors import WsolbenchError

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "engine.c"
# -ffp-contract=off: no fused multiply-add, so that sums round exactly as NumPy's (and OpenCV's) do.
CFLAGS = ["-O3", "-std=c99", "-fPIC", "-shared", "-ffp-contract=off", "-fno-math-errno"]

# name: (restype, argtypes)
SIGNATURES = {
    "wsb_best_ious": (c_int64, [c_void_p, c_int, c_int, c_int, c_void_p, c_int, c_void_p, c_int, c_int,
                                c_void_p, c_void_p]),
    "wsb_bucket": (None, [c_void_p, c_int64, c_void_p, c_void_p]),
    "wsb_regions": (c_int64, [c_void_p, c_int, c_int, c_int, c_int, c_void_p, c_void_p]),
    "wsb_resize": (None, [c_void_p, c_int, c_int, c_int, c_int, c_void_p, c_void_p, c_int, c_void_p, c_void_p,
                          c_int, c_void_p, c_void_p]),
    "wsb_postprocess": (c_int, [c_void_p, c_int, c_int, c_int, c_int, c_void_p, c_void_p, c_int, c_void_p, c_void_p,
                                c_int, c_void_p, c_void_p]),
    "wsb_raw_best_ious": (c_int64, [c_void_p, c_int, c_int, c_int, c_int, c_void_p, c_void_p, c_int, c_void_p,
                                    c_void_p, c_int, c_void_p, c_void_p, c_int, c_void_p, c_int, c_int, c_void_p]),
    "wsb_normalize": (c_int, [c_void_p, c_int64]),
    "wsb_pxap_hist": (c_int64, [c_void_p, c_int, c_void_p, c_int64, c_double, c_int, c_void_p]),
    "wsb_png_decode_sample": (c_int, [c_void_p, c_int64, c_int, c_int, c_int, c_int, c_void_p, c_int, c_void_p,
                                      c_int, c_void_p]),
}

_LIB: ctypes.CDLL | None = None
_RAW_ENTRY = _BEST_ENTRY = None
_addressof, _c_char = ctypes.addressof, ctypes.c_char


class EngineBuildError(WsolbenchError):
    """The compiled engine is not built and could not be compiled here."""


def source_hash() -> str:
    """The first 16 hex digits of the SHA-256 of ``engine.c`` (what a build records)."""
    return hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:16]


def _load(path: Path) -> ctypes.CDLL | None:
    """The library at ``path`` if it was built from the current ``engine.c``, else ``None``."""
    try:
        lib = ctypes.CDLL(str(path))
        tag = lib.wsb_source_hash
    except (OSError, AttributeError):
        return None
    tag.restype = ctypes.c_char_p
    tag.argtypes = []
    return lib if tag().decode() == source_hash() else None


def _built_extension() -> ctypes.CDLL | None:
    """The extension that ``pip install`` built beside this file, if it is up to date (then its
    Python entry is imported too: :func:`raw_entry`)."""
    global _RAW_ENTRY, _BEST_ENTRY
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = HERE / f"_engine{suffix}"
        if path.is_file():
            lib = _load(path)
            if lib is not None:
                try:
                    from wsolbench.metrics import _engine
                except ImportError:         # loadable by ctypes but not as a module: the ctypes calls serve
                    _engine = None
                _RAW_ENTRY = getattr(_engine, "raw_best_ious", None)
                _BEST_ENTRY = getattr(_engine, "best_ious", None)
            return lib
    return None


def _source_tag() -> str:
    """A short hash of the source, the flags and the platform: a fallback build is reused only
    while all three are unchanged."""
    h = hashlib.sha256(SOURCE.read_bytes())
    h.update(" ".join(CFLAGS).encode())
    h.update(sysconfig.get_platform().encode())
    return h.hexdigest()[:12]


def _candidate_dirs() -> list[Path]:
    dirs = [HERE / "_engine_build"]
    env = os.environ.get("WSOLBENCH_CACHE")
    base = env if env else os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
                                        "wsolbench")
    dirs.append(Path(base) / "engine")
    dirs.append(Path(tempfile.gettempdir()) / f"wsolbench-engine-{os.getuid() if hasattr(os, 'getuid') else 0}")
    return dirs


def _compile(target: Path) -> None:
    """Compile engine.c into ``target`` (written under a temporary name, then renamed)."""
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        raise EngineBuildError("wsolbench's metric engine is not built and no C compiler was found; reinstall "
                               "with a compiler present (pip install -e .) or set CC to one")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".so.tmp")
    os.close(fd)
    try:
        print("wsolbench: compiling the metric engine (engine.c; once, about a second) ...",
              file=sys.stderr, flush=True)
        define = f'-DWSB_SOURCE_HASH="{source_hash()}"'
        run = subprocess.run([*cc.split(), *CFLAGS, define, str(SOURCE), "-o", tmp, "-lm"], capture_output=True,
                             text=True)
        if run.returncode != 0:
            raise EngineBuildError(f"compiling {SOURCE} with {cc} failed: {run.stderr.strip()[:400]}; reinstall "
                                   "wsolbench (pip install -e .) or set CC to a working C compiler")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _fallback_library() -> ctypes.CDLL:
    """A build of the current ``engine.c`` made here: found in a candidate folder, or compiled now."""
    name = f"engine-{_source_tag()}.so"
    for folder in _candidate_dirs():
        lib = _load(folder / name) if (folder / name).is_file() else None
        if lib is not None:
            return lib
    last = None
    for folder in _candidate_dirs():
        try:
            _compile(folder / name)
        except OSError as e:         # folder not writable: try the next one
            last = e
            continue
        lib = _load(folder / name)
        if lib is not None:
            return lib
    raise EngineBuildError(f"could not build and load the metric engine anywhere ({last}); set WSOLBENCH_CACHE "
                           "to a writable folder, or reinstall wsolbench (pip install -e .)")


def engine() -> ctypes.CDLL:
    """The loaded engine, with argument and result types set (loaded once per process)."""
    global _LIB
    if _LIB is None:
        lib = _built_extension() or _fallback_library()
        for name, (restype, argtypes) in SIGNATURES.items():
            fn = getattr(lib, name)
            fn.restype = restype
            fn.argtypes = argtypes
        _LIB = lib
    return _LIB


def raw_entry():
    """The built extension's Python entry of ``wsb_raw_best_ious`` (``raw_best_ious(src, out, thresholds,
    gt, res, h, w, out_h, out_w, ix, wx, kx, iy, wy, ky, want_all)``, arrays passed as such, ``res``
    (2, T) float64; about 3 us less per call than ctypes), or ``None`` where the engine is a fallback
    build (ctypes only)."""
    engine()
    return _RAW_ENTRY


def best_entry():
    """The built extension's Python entry of ``wsb_best_ious`` (``best_ious(map, is_f32, H, W, thresholds,
    gt, res, want_all)``, ``res`` (2, T) float64), or ``None`` where the engine is a fallback build."""
    engine()
    return _BEST_ENTRY


def ptr(array) -> int:
    """Address of a C-contiguous NumPy array's data, for a ``c_void_p`` argument.

    Through ctypes' buffer protocol where the array is writable and not empty (a third of the cost
    of ``array.ctypes``, which builds an object per call; a raw map costs five of these), else
    ``array.ctypes.data``."""
    if array.size and array.flags.writeable:
        try:
            return _addressof(_c_char.from_buffer(array))
        except (TypeError, ValueError, BufferError):       # not a C-contiguous buffer
            pass
    return array.ctypes.data
