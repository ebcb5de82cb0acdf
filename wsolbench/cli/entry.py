"""The console script's entry point: signals are handled from the first instant.

Importing the command modules takes a moment; a Ctrl-C or SIGTERM arriving then would print a
traceback (SIGTERM: kill the process silently). This module imports nothing heavy, installs the
handlers of :mod:`wsolbench.interrupts` and only then imports the CLI, so the exit-code policy
(one line, 130 / 143) holds from start-up on.
"""

from __future__ import annotations

import sys


def main() -> None:  # pragma: no cover - exercised by the signal tests through a real process
    from wsolbench.interrupts import interrupted_line, raising_signals

    with raising_signals():
        try:
            from wsolbench.cli.main import main as run
        except KeyboardInterrupt as e:
            line, code = interrupted_line(e)
            sys.stderr.write(line + "\n")
            sys.exit(code)
        run()


if __name__ == "__main__":  # pragma: no cover
    main()
