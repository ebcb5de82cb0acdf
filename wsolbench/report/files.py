"""Atomic file writing and result-JSON reading for reports."""

from __future__ import annotations

import json
import pathlib

from wsolbench.errors import FormatError

RESULT_VERSION = 1


def load_result(path) -> dict:
    """Read a result JSON written by ``wsolbench evaluate --out`` and check its version.

    Args:
        path: the JSON file.

    Returns:
        The result as a dict (``docs/result-json.md``).

    Raises:
        FormatError: the file is missing, is not JSON, or is not a version-1 result.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FormatError(f"{path}: result file not found; write one with "
                          "'wsolbench evaluate ... --out result.json'")
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FormatError(f"{path}: not a JSON result file ({e}); pass the file written by "
                          "'wsolbench evaluate --out'") from e
    return check_result(result, source=str(path))


def check_result(result, *, source: str = "result") -> dict:
    """Check that ``result`` looks like a version-1 result dict; return it unchanged.

    Raises:
        FormatError: naming ``source``, the missing key or the wrong version.
    """
    if not isinstance(result, dict):
        raise FormatError(f"{source}: expected a JSON object (a wsolbench result), found {type(result).__name__}")
    version = result.get("result_version")
    if version != RESULT_VERSION:
        raise FormatError(f"{source}: expected result_version {RESULT_VERSION}, found {version!r}; "
                          "re-run 'wsolbench evaluate' with this wsolbench version")
    for key in ("metrics", "protocol", "dataset"):
        if not isinstance(result.get(key), dict):
            raise FormatError(f"{source}: the result has no '{key}' object; it must follow docs/result-json.md")
    return result
