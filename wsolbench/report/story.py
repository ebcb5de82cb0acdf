"""A page that puts several results of the same images side by side with their intervals and paired
tests, and says in words what the numbers support (the demo's ``report/index.html``).

Example:
    >>> page = render_story_page(title="t", subtitle="s", sentences=["A is better."], columns=[], paired=[])
    >>> "<p>A is better.</p>" in page
    True
"""

from __future__ import annotations

from html import escape

from wsolbench.report.compare import verdict
from wsolbench.report.html import CSS, _img, _table, _td
from wsolbench.report.sections import METRIC_NAMES

NAMES = {**METRIC_NAMES, "pointing_game": "Pointing game", "energy_pointing_game": "Energy pointing game"}


def _value_cell(result: dict, key: str) -> str:
    diag = result.get("diagnostics") or {}
    value = (result.get("metrics") or {}).get(key)
    if value is None and key in diag:
        value = (diag.get(key) or {}).get("value")
    if value is None:
        return '<td data-v="">–</td>'
    interval = ((result.get("bootstrap") or {}).get("intervals") or {}).get(key) or {}
    shown = f"{value:.2f}" + (f" [{interval['low']:.2f}, {interval['high']:.2f}]" if interval.get("low") is not None
                              else "")
    return f'<td data-v="{float(value)!r}">{escape(shown)}</td>'


def metrics_table(columns: list[tuple[str, dict]]) -> str:
    """Rows: every metric (and pointing game) any result has; columns: the results, ``value [interval]``."""
    keys = [k for k in NAMES if any(_value_cell(r, k) != '<td data-v="">–</td>' for _, r in columns)]
    rows = [[_td(NAMES[k], left=True)] + [_value_cell(r, k) for _, r in columns] for k in keys]
    return _table(["metric (%)"] + [name for name, _ in columns], rows)


def paired_html(test: dict) -> str:
    """One paired test as a heading and a table."""
    level = f"{100 * test['confidence']:g}%"
    rows = []
    for key, m in test["metrics"].items():
        interval = "–" if m["low"] is None else f"[{m['low']:+.2f}, {m['high']:+.2f}]"
        rows.append([_td(NAMES.get(key, key), left=True), _td(f"{m['difference']:+.2f}"), _td(interval),
                     _td("–" if m["p_value"] is None else f"{m['p_value']:.3f}"), _td(verdict(m), left=True)])
    head = ["metric", "difference", f"{level} interval", "p", "verdict"]
    return (f"<h3>{escape(test['label'])} − {escape(test['against'])} on the same {test['n_images']} images</h3>"
            + _table(head, rows, left=1)
            + f'<p class="note">paired percentile bootstrap, {test["n_resamples"]} resamples (seed {test["seed"]}), '
              "best thresholds re-selected in each resample; p: two-sided, of no difference</p>")


def render_story_page(*, title: str, subtitle: str, sentences: list[str], columns: list[tuple[str, dict]],
                      paired: list[dict], figures: dict[str, str] | None = None,
                      links: dict[str, str] | None = None) -> str:
    """The whole page as a string (UTF-8; PNGs referenced relatively).

    Args:
        title, subtitle: the header.
        sentences: what the numbers support, one paragraph each.
        columns: ``(name, result dict)`` of every result shown.
        paired: paired tests (:func:`wsolbench.metrics.bootstrap.paired_bootstrap` plus ``label`` and
            ``against``).
        figures: ``{caption: PNG file}`` shown under the tables.
        links: ``{text: href}`` of further pages (each result's own report).
    """
    parts = [f"<section><h2>What the numbers say</h2>{''.join(f'<p>{escape(s)}</p>' for s in sentences)}</section>"]
    if columns:
        parts.append(f"<section><h2>Numbers with intervals</h2>{metrics_table(columns)}</section>")
    if paired:
        parts.append("<section><h2>Paired tests</h2>" + "".join(paired_html(t) for t in paired) + "</section>")
    for caption, name in (figures or {}).items():
        parts.append(f"<section><h2>{escape(caption)}</h2>{_img(name, caption)}</section>")
    if links:
        items = "".join(f'<li><a href="{escape(href)}">{escape(text)}</a></li>' for text, href in links.items())
        parts.append(f"<section><h2>Reports</h2><ul>{items}</ul></section>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body><header><h1>{escape(title)}</h1>"
            f"<p>{escape(subtitle)}</p></header><main>{''.join(parts)}</main></body></html>\n")
