"""Options shared by several commands."""

from __future__ import annotations

import click


def parse_options(pairs: tuple[str, ...]) -> dict:
    """``("key=value", ...)`` -> adapter options; ``true``/``false`` become booleans."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r} (e.g. -o val_metadata=metadata/CUB/val)",
                                     param_hint="-o/--option")
        low = value.strip().lower()
        out[key.strip()] = True if low == "true" else False if low == "false" else value
    return out


option_flag = click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE",
                           help="Adapter option, repeatable (e.g. -o val_metadata=metadata/CUB/val, "
                                "-o mask_root=DIR, -o check_images=false).")


class WorkerCount(click.ParamType):
    """A number of worker processes, 1 to the CPUs this process may use (``wsolbench.bounds``)."""

    name = "integer"

    def convert(self, value, param, ctx):
        from wsolbench.bounds import BoundError, check_workers

        if isinstance(value, int):
            number = value
        else:
            try:
                number = int(value)
            except (TypeError, ValueError):
                self.fail(f"{value!r} is not a whole number of processes", param, ctx)
        option = param.opts[0] if param is not None and param.opts else "--workers"
        try:
            return check_workers(number, option=option)
        except BoundError as e:
            self.fail(str(e), param, ctx)


WORKERS = WorkerCount()
