"""Entry point of the ``wsolbench`` console script.

Each command group lives in its own module and is registered here. Results go to stdout,
progress and messages to stderr.

Exit codes, the same for every command (README, docs/failures.md): 0 success; 1 an internal error
(a bug: the traceback is printed, then one line saying so); 2 bad input or usage (a
:class:`~wsolbench.errors.WsolbenchError` or a click usage error: one line, no traceback);
130 / 143 interrupted by SIGINT / SIGTERM (one line; workers stopped, nothing half-written).
"""

from __future__ import annotations

import importlib
import sys
import traceback

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
    ("wsolbench.cli.tune", "tune"),
    ("wsolbench.cli.leaderboard", "leaderboard"),
    ("wsolbench.cli.report", "report"),
    ("wsolbench.cli.report", "compare"),
    ("wsolbench.cli.scoremaps", "scoremaps"),
]


EXIT_INTERNAL = 1
BUG_LINE = ("Error: internal error ({kind}), a bug in wsolbench rather than in your input; please report it "
            "with the traceback above")


class WsolbenchGroup(click.Group):
    """A group that applies the exit-code policy: one line and 2 for bad input, one line and 128 + N for a
    signal, a traceback plus one line and 1 for anything else."""

    def invoke(self, ctx):
        from wsolbench.interrupts import interrupted_line, raising_signals

        try:
            with raising_signals():
                return super().invoke(ctx)
        except WsolbenchError as e:
            click.echo(f"Error: {e}", err=True)
            sys.exit(e.exit_code)
        except KeyboardInterrupt as e:
            line, code = interrupted_line(e)
            click.echo(line, err=True)
            sys.exit(code)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as e:
            traceback.print_exc()
            click.echo(BUG_LINE.format(kind=type(e).__name__), err=True)
            sys.exit(EXIT_INTERNAL)


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


def main():  # pragma: no cover - console script (wsolbench.cli.entry:main wraps it)
    cli(prog_name="wsolbench")


if __name__ == "__main__":  # pragma: no cover
    main()
