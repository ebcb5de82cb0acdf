"""Entry point of the ``wsolbench`` console script.

Each command group lives in its own module and is registered here. Results go to stdout,
progress and messages to stderr. A :class:`~wsolbench.errors.WsolbenchError` becomes a one-line
message and exit code 2, never a traceback.
"""

from __future__ import annotations

import importlib
import sys

import click

from wsolbench import __version__
from wsolbench.errors import WsolbenchError

# (module, attribute) of every command or group, in help order.
COMMANDS = [
    ("wsolbench.cli.demo", "demo"),
    ("wsolbench.cli.evaluate", "evaluate"),
    ("wsolbench.cli.datasets", "datasets"),
    ("wsolbench.cli.baseline", "baseline"),
    ("wsolbench.cli.study", "study"),
    ("wsolbench.cli.leaderboard", "leaderboard"),
    ("wsolbench.cli.report", "report"),
    ("wsolbench.cli.report", "compare"),
    ("wsolbench.cli.scoremaps", "scoremaps"),
]


class WsolbenchGroup(click.Group):
    """A group that turns WsolbenchError into a clean one-line error."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except WsolbenchError as e:
            click.echo(f"Error: {e}", err=True)
            sys.exit(e.exit_code)


@click.group(cls=WsolbenchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="wsolbench")
def cli():
    """wsolbench: exact, fast, reproducible weakly-supervised object localization."""


def _register():
    for module, attr in COMMANDS:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name == module:  # command group not part of this build
                continue
            raise
        cmd = getattr(mod, attr, None)
        if cmd is not None:
            cli.add_command(cmd)


_register()


def main():  # pragma: no cover - console script
    cli(prog_name="wsolbench")


if __name__ == "__main__":  # pragma: no cover
    main()
