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


def number_references(groups) -> dict[str, int]:
    """Each distinct reference of the groups' rows, numbered in order of first appearance."""
    numbers: dict[str, int] = {}
    for group in groups:
        for ranked in group.rows:
            text = ranked.row["reference"]
            if text and text not in numbers:
                numbers[text] = len(numbers) + 1
    return numbers


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


#: Narrowest the method and backbone columns get in a terminal (they wrap, never truncate).
MIN_TEXT_WIDTH = {"method": 12, "backbone": 9}
_CELL_OVERHEAD = 3          # rich: one space each side and a separator


def rank_label(ranked) -> str:
    """``3``, ``2=`` for a shared rank, ``ref`` for a reference line, ``–`` for an unranked row."""
    if ranked.reference:
        return "ref"
    if ranked.rank is None:
        return "–"
    return f"{ranked.rank}=" if ranked.tied else str(ranked.rank)


def category_note(row) -> str:
    """`` (sanity baseline)`` / `` (fully supervised)`` after a reference line's method, else empty."""
    return {"sanity": " (sanity baseline)", "fully-supervised": " (fully supervised)"}.get(row["category"], "")


def fit_columns(group, width: int) -> tuple[list[str], list[str], bool]:
    """Which columns of ``group`` a ``width``-character terminal table shows.

    The rank, method, backbone and ranking-metric columns always appear (method and backbone wrap
    down to :data:`MIN_TEXT_WIDTH`); the other metric columns follow in table order while they fit,
    then the source. Numbers are never cut: a column that does not fit is left out whole.

    Returns:
        ``(metric columns shown, metric columns left out, whether the source column is shown)``.
    """
    def need(texts) -> int:
        return max(len(t) for t in texts) + _CELL_OVERHEAD

    used = 1 + need(["#"] + [rank_label(r) for r in group.rows])
    for column in ("method", "backbone"):
        texts = [r.row[column] + (category_note(r.row) if column == "method" else "") for r in group.rows]
        natural = max([len(column)] + [len(t) for t in texts])
        longest_word = max([len(w) for t in texts for w in t.split()] or [0])
        used += min(natural, max(MIN_TEXT_WIDTH[column], min(longest_word, 2 * MIN_TEXT_WIDTH[column]))) \
            + _CELL_OVERHEAD
    shown, dropped = [], []
    for i, column in enumerate(group.columns):
        cost = need([metric_label(column)] + [display_number(r.row[column]) for r in group.rows])
        if i == 0 or used + cost <= width:
            shown.append(column)
            used += cost
        else:
            dropped.append(column)
    with_source = not dropped and used + need(["source", "reported", "verified"]) <= width
    return shown, dropped, with_source
