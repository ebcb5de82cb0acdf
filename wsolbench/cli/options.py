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
