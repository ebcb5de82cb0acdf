"""Helpers of the failure-path tests: folder checksums and the one-line-error check."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from click.testing import CliRunner

from wsolbench.cli.main import cli


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def snapshot(folder) -> dict[str, str]:
    """``{relative path: sha256 (or "dir")}`` of everything under ``folder``, hidden files included."""
    folder = Path(folder)
    out = {}
    for root, dirs, files in os.walk(folder):
        for d in dirs:
            out[os.path.relpath(os.path.join(root, d), folder)] = "dir"
        for f in files:
            path = os.path.join(root, f)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, folder)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def error_line(result, *, code: int = 2) -> str:
    """Assert the exit code, no traceback and exactly one ``Error:`` line on stderr; return that line."""
    assert result.exit_code == code, (result.exit_code, result.output)
    assert "Traceback" not in result.output, result.output
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]
