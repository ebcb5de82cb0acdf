"""``leaderboard/index.html``: a static, dependency-free page with the board's tables.

Everything is inline (CSS, script, one SVG bar chart per table), so the page works opened from
disk, offline. Without JavaScript it still shows every table and chart; with it, column headers
sort and the dataset / protocol / source filters hide rows (and their bars). Each table shows every
column its protocol produces for its dataset; reference lines (sanity baselines, fully supervised
rows) sit in a second, unranked block of the table and have no bar; references are numbered
footnotes, so that the widest table fits a 1,280-pixel window.
"""

from __future__ import annotations

from html import escape

from wsolbench.leaderboard import schema
from wsolbench.leaderboard.assets import CSS, JS
from wsolbench.leaderboard.board import Group, RankedRow
from wsolbench.leaderboard.display import (category_note, dataset_label, display_number, metric_label,
                                           number_references, protocol_summary, rank_label, split_urls)

CHART_WIDTH, LABEL_WIDTH, BAR_WIDTH, ROW_HEIGHT, CHART_TOP, CHART_BOTTOM = 760, 280, 420, 17, 22, 6
MAX_BARS = 15  # a chart shows the best rows still visible; the table lists them all


def render_html(groups: list[Group], *, sources: list[str] = ()) -> str:
    """The whole page as one HTML string (deterministic for a given board)."""
    row_ids = _row_ids(groups)
    references = number_references(groups)
    body = [_header(groups), "<main>"]
    body += [_section(g, row_ids, references) for g in groups]
    body += ['<p id="empty" hidden>No rows match these filters.</p>', _reference_list(references), "</main>",
             _footer(sources)]
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">', "<title>wsolbench leaderboard</title>",
        f"<style>{CSS}</style>", "</head>", "<body>", *body, f"<script>{JS}</script>", "</body>", "</html>", ""])


def _row_ids(groups) -> dict[int, str]:
    ids, n = {}, 0
    for group in groups:
        for ranked in group.rows:
            n += 1
            ids[id(ranked)] = f"row-{n}"
    return ids


def _header(groups) -> str:
    datasets = list(dict.fromkeys(g.dataset for g in groups))
    protocols = list(dict.fromkeys(g.protocol for g in groups))
    n_rows = sum(len(g.rows) for g in groups)
    return "\n".join([
        "<header>", "<h1>wsolbench leaderboard</h1>",
        '<p class="lead">Each table holds rows measured the same way (dataset, split, protocol and protocol '
        "hash); rows of different tables are never ranked together. <b>verified</b> rows were computed by "
        "wsolbench from a score-map file (they record its content hash and the fingerprint of the official "
        "ground truth); <b>reported</b> rows are copied from the cited paper. <b>ref</b> rows are reference "
        "lines, not ranked: sanity baselines and fully supervised models. <b>2=</b> is a shared rank. Click a "
        "column header to sort.</p>",
        '<form id="filters" class="filters" onsubmit="return false">',
        _select("dataset", "Dataset", [(d, dataset_label(d)) for d in datasets]),
        _select("protocol", "Protocol", [(p, p) for p in protocols]),
        _select("source", "Source", [(s, s) for s in schema.SOURCES]),
        f'<span id="filter-count" aria-live="polite">{n_rows} rows in {len(groups)} tables</span>',
        "</form>", "</header>"])


def _select(name: str, label: str, options) -> str:
    items = ['<option value="">all</option>'] + [f'<option value="{escape(v)}">{escape(t)}</option>'
                                                  for v, t in options]
    return (f'<label for="filter-{name}">{label} <select id="filter-{name}" data-filter="{name}">'
            + "".join(items) + "</select></label>")


def _section(group: Group, row_ids, references) -> str:
    options = f" · options <code>{escape(group.protocol_options)}</code>" if group.protocol_options else ""
    meta = (f"split <code>{escape(group.split)}</code> · protocol <code>{escape(group.protocol)}</code>{options} "
            f"· hash <code>{escape(group.protocol_hash)}</code>")
    if group.rankable and group.metric:
        note = f"Ranked by <b>{escape(metric_label(group.metric))}</b>. {escape(protocol_summary(group.protocol))}."
    else:
        note = f"Not ranked: {escape(protocol_summary(group.protocol))}."
    return "\n".join([
        f'<section class="group" id="{escape(group.anchor)}" data-dataset="{escape(group.dataset)}" '
        f'data-protocol="{escape(group.protocol)}">',
        f'<h2>{escape(dataset_label(group.dataset))} <span class="meta">{meta}</span></h2>',
        f'<p class="note">{note}</p>', _chart(group, row_ids), _table(group, row_ids, references),
        _ties(group), "</section>"])


def _ties(group: Group) -> str:
    return f'<p class="ties">{escape(" ".join(group.ties))}</p>' if group.ties else ""


# ----------------------------------------------------------------------------------------------
# chart


def _chart(group: Group, row_ids) -> str:
    bars = [r for r in group.method_rows if r.value is not None]
    if not bars or not group.metric:
        return ""
    shown = min(len(bars), MAX_BARS)
    height = CHART_TOP + ROW_HEIGHT * shown + CHART_BOTTOM
    label = f"{metric_label(group.metric)} of each row, 0 to 100"
    parts = [_chart_caption(group, shown, len(bars)),
             f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {CHART_WIDTH} {height}" '
             f'height="{height}" data-row-height="{ROW_HEIGHT}" data-top="{CHART_TOP}" data-bottom="{CHART_BOTTOM}" '
             f'data-max-bars="{MAX_BARS}" role="img" aria-label="{escape(label)}">', _axis(height - CHART_BOTTOM)]
    parts += [_bar(r, i, row_ids[id(r)], group.metric) for i, r in enumerate(bars)]
    return "\n".join(parts + ["</svg>"])


def _chart_caption(group: Group, shown: int, total: int) -> str:
    which = f"the <span class=\"shown\">{shown}</span> best of <span class=\"total\">{total}</span> rows" \
        if total > shown else f"all <span class=\"shown\">{shown}</span> rows"
    refs = " (reference lines are in the table only)" if group.reference_rows else ""
    return (f'<p class="chart-caption">{escape(metric_label(group.metric))} of {which} with a value{refs}, on a '
            '0-100 scale: <span class="key verified"></span> verified <span class="key reported"></span> reported</p>')


def _axis(bottom: int) -> str:
    items = ['<g class="axis">']
    for tick in (0, 25, 50, 75, 100):
        x = LABEL_WIDTH + BAR_WIDTH * tick / 100
        items.append(f'<line class="grid" x1="{x:g}" y1="{CHART_TOP - 5}" x2="{x:g}" y2="{bottom}"/>')
        items.append(f'<text x="{x:g}" y="{CHART_TOP - 9}" text-anchor="middle">{tick}</text>')
    return "".join(items) + "</g>"


def _bar(ranked: RankedRow, index: int, row_id: str, metric: str) -> str:
    row = ranked.row
    name = f"{row['method']} ({row['backbone']})"
    shown = name if len(name) <= 44 else name[:43] + "…"
    width = BAR_WIDTH * ranked.value / 100
    value = display_number(row[metric])
    hidden = ' style="display:none"' if index >= MAX_BARS else ""
    return (f'<g class="bar" data-row="{row_id}"{hidden} transform="translate(0,{CHART_TOP + ROW_HEIGHT * index})">'
            f"<title>{escape(name)}: {escape(value)} ({escape(row['source'])})</title>"
            f'<text x="{LABEL_WIDTH - 8}" y="12" text-anchor="end">{escape(shown)}</text>'
            f'<rect class="{escape(row["source"])}" x="{LABEL_WIDTH}" y="2" width="{width:.2f}" height="13"/>'
            f'<text x="{LABEL_WIDTH + width + 5:.2f}" y="12">{escape(value)}</text></g>')


# ----------------------------------------------------------------------------------------------
# table


def _table(group: Group, row_ids, references) -> str:
    heads = [_th("#", "num", "ascending", "rank"), _th("Method", "text", "ascending"),
             _th("Backbone", "text", "ascending")]
    heads += [_th(metric_label(c), "num", "descending", "ranking" if c == group.metric else "")
              for c in group.columns]
    heads += [_th("Source", "text", "ascending"), _th("Ref.", "num", "ascending"),
              _th("Notes", "text", "ascending")]
    parts = ['<div class="table-wrap"><table class="board">', "<thead><tr>" + "".join(heads) + "</tr></thead>",
             "<tbody>", *[_tr(group, r, row_ids[id(r)], references) for r in group.method_rows], "</tbody>"]
    if group.reference_rows:
        parts += ['<tbody class="reference">',
                  *[_tr(group, r, row_ids[id(r)], references) for r in group.reference_rows], "</tbody>"]
    return "\n".join(parts + ["</table></div>"])


def _th(label: str, kind: str, first: str, extra: str = "") -> str:
    classes = " ".join(c for c in ("num" if kind == "num" else "", extra) if c)
    attr = f' class="{classes}"' if classes else ""
    return (f'<th scope="col"{attr} data-type="{kind}" data-first="{first}">'
            f'<button type="button">{_breakable(label)}</button></th>')


def _breakable(label: str) -> str:
    """A header that may wrap inside long metric names (``MaxBox|AccV2``, ``BoxAcc|@30``), so that wide tables
    fit narrow windows; the text (and ``textContent``) is unchanged."""
    text = escape(label)
    for stem in ("MaxBox", "BoxAcc"):
        if text.startswith(stem) and len(text) > len(stem):
            return f"{stem}<wbr>{text[len(stem):]}"
    return text


def _tr(group: Group, ranked: RankedRow, row_id: str, references) -> str:
    row = ranked.row
    rank = "" if ranked.rank is None else str(ranked.rank)
    method = escape(row["method"])
    if ranked.reference:
        method += f' <span class="kind">{escape(category_note(row).strip(" ()"))}</span>'
    cells = [_td(rank_label(ranked), rank, "num"), f'<td data-value="{escape(row["method"])}">{method}</td>',
             _td(row["backbone"], row["backbone"])]
    for column in group.columns:
        value = row.metric(column)
        css = "num ranking" if column == group.metric else "num"
        cells.append(_td(display_number(row[column]), "" if value is None else repr(value), css))
    badge = f'<span class="badge {escape(row["source"])}">{escape(row["source"])}</span>'
    cells.append(f'<td data-value="{escape(row["source"])}">{badge}</td>')
    number = references.get(row["reference"])
    cite = f'<a href="#ref-{number}" title="{escape(row["reference"])}">[{number}]</a>' if number else ""
    cells.append(f'<td class="num ref" data-value="{number or ""}">{cite}</td>')
    cells.append(_td(row["notes"], row["notes"], "notes"))
    kind = f' data-category="{escape(row["category"])}"'
    return f'<tr id="{row_id}" data-source="{escape(row["source"])}"{kind}>' + "".join(cells) + "</tr>"


def _td(text: str, value: str, css: str = "") -> str:
    attr = f' class="{css}"' if css else ""
    return f'<td{attr} data-value="{escape(value)}">{escape(text)}</td>'


def _linked(text: str) -> str:
    return "".join(f'<a href="{escape(piece)}">{escape(piece)}</a>' if is_url else escape(piece)
                   for piece, is_url in split_urls(text))


def _reference_list(references: dict[str, int]) -> str:
    if not references:
        return ""
    items = "".join(f'<li id="ref-{n}">{_linked(text)}</li>' for text, n in references.items())
    return f'<section class="references"><h2>References</h2><ol>{items}</ol></section>'


def _footer(sources) -> str:
    files = ", ".join(f"<code>{escape(s)}</code>" for s in sources)
    return (f"<footer>Generated by <code>wsolbench leaderboard build</code> from {files} (submission schema "
            f"v{schema.SCHEMA_VERSION}, see SCHEMA.md). Bars are drawn on a 0-100 scale.</footer>")
