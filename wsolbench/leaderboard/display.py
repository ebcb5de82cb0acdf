"""How board values are shown (shared by the Markdown and HTML renderers and the CLI)."""

from __future__ import annotations

import re

from wsolbench.leaderboard import schema
from wsolbench.leaderboard.validate import decimals

SHOWN_DECIMALS = 2
_URL = re.compile(r"https?://[^\s<>\"')\]]+")


def display_number(text: str) -> str:
    """A metric as shown: as written, but at most two decimals (``'63.71829'`` -> ``'63.72'``)."""
    text = (text or "").strip()
    if not text:
        return ""
    if decimals(text) > SHOWN_DECIMALS:
        return f"{float(text):.{SHOWN_DECIMALS}f}"
    return text


def metric_label(column: str) -> str:
    return schema.METRIC_LABELS.get(column, column)


def dataset_label(dataset: str) -> str:
    return schema.DATASETS.get(dataset, dataset)


def protocol_summary(protocol: str) -> str:
    info = schema.PROTOCOLS.get(protocol)
    return info.summary if info else ""


def split_urls(text: str) -> list[tuple[str, bool]]:
    """Split text into ``(piece, is_url)`` parts, for linking URLs in references."""
    parts, position = [], 0
    for m in _URL.finditer(text or ""):
        if m.start() > position:
            parts.append((text[position:m.start()], False))
        parts.append((m.group(0), True))
        position = m.end()
    if position < len(text or ""):
        parts.append((text[position:], False))
    return parts
