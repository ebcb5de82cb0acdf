"""The self-contained HTML page of a report: inline CSS and JS, PNGs referenced relatively.

The page holds every section of :class:`ReportContent` in a fixed order (each a ``<section>``
with a stable ``id``, listed in :data:`SECTION_IDS`), a sortable per-class table, and the data of
every curve as JSON in ``<script type="application/json" id="report-data">``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from html import escape

from wsolbench.report.sections import fmt_threshold, threshold_digits

SECTION_IDS = ("summary", "box-accuracy", "top1-loc", "mask-curves", "diagnostics", "per-class", "worst-classes",
               "overlays", "provenance")
SECTION_TITLES = {
    "summary": "Summary",
    "box-accuracy": "Box accuracy vs CAM threshold",
    "top1-loc": "Top-1 loc vs GT-known loc",
    "mask-curves": "Pixel precision-recall and mask IoU",
    "diagnostics": "Pointing games and size diagnostics",
    "per-class": "Per-class results",
    "worst-classes": "Worst classes",
    "overlays": "Score maps over images",
    "provenance": "Protocol and provenance",
}
GROUP_TITLES = {"best": "Best localized", "worst": "Worst localized", "random": "Random sample"}

CSS = """
body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:0;color:#222;background:#f6f7f9}
header{background:#1f2937;color:#fff;padding:18px 32px}
header h1{margin:0;font-size:22px} header p{margin:6px 0 0;color:#cbd5e1;font-size:14px}
nav{background:#fff;border-bottom:1px solid #e2e5ea;padding:8px 32px;font-size:13px;position:sticky;top:0}
nav a{margin-right:14px;color:#2563eb;text-decoration:none} nav a:hover{text-decoration:underline}
main{max-width:1180px;margin:0 auto;padding:8px 32px 40px}
section{background:#fff;border:1px solid #e2e5ea;border-radius:8px;padding:16px 20px;margin:18px 0}
h2{font-size:18px;margin:0 0 10px} h3{font-size:15px;margin:16px 0 6px}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{border:1px solid #e2e5ea;border-radius:6px;padding:8px 14px;min-width:120px;background:#fafbfc}
.card .v{font-size:22px;font-weight:600} .card .k{font-size:12px;color:#555} .card .i{font-size:12px;color:#333}
img.fig{max-width:100%;height:auto;border:1px solid #eee;border-radius:4px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}
th,td{border-bottom:1px solid #e5e7eb;padding:4px 10px;text-align:right}
th:first-child,td:first-child,td.l,th.l{text-align:left}
th{background:#f3f4f6}
.scroll th{position:sticky;top:0;z-index:1}
.row{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}
table.sortable th button{all:unset;cursor:pointer;display:block;width:100%}
table.sortable th:hover{background:#e5e7eb} table.sortable th button:focus-visible{outline:2px solid #2563eb}
th[aria-sort=ascending] button::after{content:' \\25B2';font-size:10px}
th[aria-sort=descending] button::after{content:' \\25BC';font-size:10px}
.scroll{max-height:520px;overflow:auto;border:1px solid #eee;display:inline-block}
.note{color:#666;font-size:13px;font-style:italic}
code{background:#f3f4f6;padding:1px 4px;border-radius:3px;font-size:12px}
dl{display:grid;grid-template-columns:max-content auto;gap:4px 16px;font-size:13px;margin:0}
dt{color:#555} dd{margin:0;word-break:break-all}
"""

SORT_JS = """
document.querySelectorAll('table.sortable').forEach(function(table){
  var heads = Array.from(table.tHead.rows[0].cells);
  heads.forEach(function(th, col){
    th.querySelector('button').addEventListener('click', function(){
      var body = table.tBodies[0], rows = Array.from(body.rows);
      var asc = th.getAttribute('aria-sort') !== 'ascending';
      heads.forEach(function(h){h.removeAttribute('aria-sort');});
      th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
      function key(r){var c=r.cells[col], v=c.getAttribute('data-v'); return v===null?c.textContent:v;}
      rows.sort(function(a, b){
        var x = key(a), y = key(b), nx = parseFloat(x), ny = parseFloat(y);
        var ex = (x === ''), ey = (y === '');
        if (ex || ey) return ex === ey ? 0 : (ex ? 1 : -1);
        var d = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : String(x).localeCompare(String(y));
        return asc ? d : -d;
      });
      rows.forEach(function(r){body.appendChild(r);});
    });
  });
});
"""


@dataclass
class ReportContent:
    """Everything the page shows; figures are file names relative to the page.

    Attributes:
        title: the page title.
        subtitle: one line under the title (method, dataset, protocol).
        metrics: rows of :func:`~wsolbench.report.sections.metric_rows`.
        box: box series (one per mode) or empty.
        top1: the top-1 series or ``None``.
        pr, piou: the mask series or ``None``.
        per_class: rows of :func:`~wsolbench.report.sections.per_class_rows`.
        worst_metric, worst: the worst classes and the metric they are ranked by.
        provenance: :func:`~wsolbench.report.sections.provenance`.
        diagnostics: :func:`~wsolbench.report.sections.diagnostics_series` or ``None``.
        interval_note: how the metrics' intervals were computed, or ``None`` without intervals.
        figures: ``{"box_accuracy": "box_accuracy.png", ...}`` (absent when not drawn).
        overlays: ``{"best": "overlays_best.png", ...}``.
        notes: ``{section id: text}`` shown when a section has no content; ``notes["curves"]``
            is shown in place of figures that were not drawn.
    """

    title: str
    subtitle: str
    metrics: list[dict]
    box: list[dict]
    top1: dict | None
    pr: dict | None
    piou: dict | None
    per_class: list[dict]
    worst_metric: str | None
    worst: list[dict]
    provenance: dict
    diagnostics: dict | None = None
    interval_note: str | None = None
    figures: dict = field(default_factory=dict)
    overlays: dict = field(default_factory=dict)
    notes: dict = field(default_factory=dict)

    def data(self) -> dict:
        """The JSON embedded in the page (every plotted array, the tables and provenance)."""
        return {"title": self.title, "metrics": self.metrics, "box": self.box, "top1": self.top1,
                "pr": self.pr, "piou": self.piou, "per_class": self.per_class,
                "worst_classes": {"metric": self.worst_metric, "rows": self.worst},
                "diagnostics": self.diagnostics, "provenance": self.provenance, "figures": self.figures,
                "overlays": self.overlays}


def json_safe(obj):
    """A copy of ``obj`` with tuples as lists and NaN/inf as ``None`` (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _num(value, digits: int = 2) -> str:
    return "–" if value is None else f"{float(value):.{digits}f}"


def _img(name: str, alt: str) -> str:
    return f'<img class="fig" src="{escape(name)}" alt="{escape(alt)}">'


def _note(text: str) -> str:
    return f'<p class="note">{escape(text)}</p>'


def _fig(c: "ReportContent", key: str, alt: str) -> str:
    """The figure ``key`` if drawn, else the note saying why curves are missing (or nothing)."""
    if key in c.figures:
        return _img(c.figures[key], alt)
    return _note(c.notes["curves"]) if c.notes.get("curves") else ""


def _table(head: list[str], rows: list[list[str]], *, cls: str = "", left: int = 1) -> str:
    """A table; ``sortable`` tables get header buttons that sort their column."""
    label = (lambda h: f'<button type="button">{escape(h)}</button>') if cls == "sortable" else escape
    ths = "".join(f'<th{" class=l" if i < left else ""}>{label(h)}</th>' for i, h in enumerate(head))
    body = "".join("<tr>" + "".join(rows_cell) + "</tr>" for rows_cell in rows)
    return f'<table class="{cls}"><thead><tr>{ths}</tr></thead><tbody>{body}</tbody></table>'


def _td(value, *, digits: int = 2, left: bool = False) -> str:
    """A cell; numbers carry their raw value in ``data-v`` so that sorting is numeric."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        shown = _num(value, digits) if isinstance(value, float) else str(value)
        return f'<td data-v="{float(value)!r}">{escape(shown)}</td>'
    if value is None:
        return '<td data-v="">–</td>'
    return f'<td class="l">{escape(str(value))}</td>' if left else f"<td>{escape(str(value))}</td>"


def _interval(interval: dict | None) -> str:
    return "" if not interval else f"[{interval['low']:.2f}, {interval['high']:.2f}]"


def _summary(c: ReportContent) -> str:
    cards = "".join(f'<div class="card"><div class="v">{_num(m["value"])}</div>'
                    + (f'<div class="i">{escape(_interval(m.get("interval")))}</div>' if m.get("interval") else "")
                    + f'<div class="k">{escape(m["name"])}</div></div>' for m in c.metrics)
    counts = c.provenance.get("counts") or {}
    line = (f"{counts.get('n_images', '?')} evaluated maps; {counts.get('n_constant_maps', 0)} constant map(s); "
            f"{counts.get('n_with_predicted_labels', 0)} with predicted labels. Numbers are percentages.")
    if c.interval_note:
        line += " " + c.interval_note
    return (f'<div class="cards">{cards}</div>' if cards else _note("no metric applies")) + f"<p>{escape(line)}</p>"


def _box(c: ReportContent) -> str:
    if not c.box:
        return _note(c.notes.get("box-accuracy", "the dataset has no boxes: no box accuracy"))
    parts = [_fig(c, "box_accuracy", "box accuracy vs CAM threshold")]
    tables = []
    for series in c.box:
        olds = list(series["old_protocol"])
        head = ["IoU", "max accuracy", "best τ"] + [f"at τ={t}" for t in olds]
        digits = threshold_digits(series.get("step"))
        rows = [[_td(f"{iou}", left=True), _td(b["value"]), _td(b["threshold"], digits=digits)]
                + [_td(series["old_protocol"][t][iou]) for t in olds] for iou, b in series["best"].items()]
        tables.append(f"<div><h3>{escape(series['title'])}</h3>{_table(head, rows)}</div>")
    parts.append(f'<div class="row">{"".join(tables)}</div>')
    parts.append(_note("Stars mark the best threshold of each IoU; dotted lines the fixed thresholds (0.2, 0.3) "
                       "of the original CAM protocol."))
    return "".join(parts)


def _top1(c: ReportContent) -> str:
    if c.top1 is None:
        return _note(c.notes.get("top1-loc", "the dataset has no boxes: no top-1 localization"))
    s = c.top1
    fig = _fig(c, "top1_loc", "top-1 loc vs threshold")
    i = s["best_index"]
    text = (f"At the GT-known best threshold τ={fmt_threshold(s['thresholds'][i], s.get('step'))} (IoU {s['iou']}): "
            f"GT-known loc "
            f"{s['gt_known'][i]:.2f}%, top-1 loc {_num(s['top1_at_best'])}%.")
    if s["top1"] is None:
        text += " The maps file has no predicted labels, so top-1 loc is not available."
    return f'<div class="row">{fig}<p style="max-width:380px">{escape(text)}</p></div>'


def _mask(c: ReportContent) -> str:
    if c.pr is None:
        return _note(c.notes.get("mask-curves", "the dataset has no masks: no PxAP or PIoU"))
    fig = _fig(c, "mask_curves", "pixel precision-recall and mask IoU")
    text = f"PxAP {_num(c.pr['pxap'])}"
    if c.piou is not None:
        text += f"; PIoU {_num(c.piou['piou'])} at τ={fmt_threshold(c.piou['piou_threshold'], c.piou.get('step'))}"
    return fig + f"<p>{escape(text)}.</p>"


def _diagnostics(c: ReportContent) -> str:
    d = c.diagnostics
    if not d:
        return _note("the result has no diagnostics (it was written by an older wsolbench)")
    pg, epg = d["pointing_game"], d["energy_pointing_game"]
    parts = [f"<p>Pointing game: <b>{_num(pg['value'])}%</b> {escape(_interval(pg.get('interval')))} "
             f"({pg['hits']} of {pg['n']} maps have their maximum within {pg['tolerance_px']} px of the GT "
             f"{escape(pg['against'])}). Energy-based pointing game: <b>{_num(epg['value'])}%</b> "
             f"{escape(_interval(epg.get('interval')))} of the maps' energy lies inside the GT {escape(epg['against'])}. "
             "Neither is a protocol metric: docs/protocol.md defines them.</p>"]
    if not d["sizes"]:
        parts.append(_note("no size diagnostics: evaluate with --box-sizes for boxes (mask datasets have them "
                           "always)"))
        return "".join(parts)
    parts.append(_fig(c, "size_ratios", "predicted / GT area histograms"))
    for entry in d["sizes"]:
        s, kind = entry["summary"], entry["kind"]
        lo, hi = s["bounds"]
        parts.append(f"<h3>{kind.capitalize()} area ratio at τ={fmt_threshold(s['threshold'], entry.get('step'))}</h3>"
                     f"<p>{s['n']} images: {s['too_small']:.1f}% too small (ratio &lt; {lo:g}), {s['too_large']:.1f}% "
                     f"too large (&gt; {hi:g}); median {s['median_ratio']:.2f} (quartiles {s['q25_ratio']:.2f}-"
                     f"{s['q75_ratio']:.2f}). Outside [{lo:g}, {hi:g}] a prediction cannot reach IoU {lo:g} "
                     "whatever its position.</p>")
        head = ["class", "images", "median ratio", "too small %", "too large %"]
        rows = [[_td(r["class"]), _td(r["n"]), _td(r["median_ratio"]), _td(r["too_small"], digits=1),
                 _td(r["too_large"], digits=1)] for r in entry["per_class"]]
        parts.append(f'<div class="scroll">{_table(head, rows, cls="sortable")}</div>')
    return "".join(parts)


def _per_class(c: ReportContent) -> str:
    if not c.per_class:
        return _note("the result has no per-class breakdown")
    head = ["class", "name", "images", "GT-known loc", "top-1 cls", "PxAP"]
    rows = [[_td(r["class"]), _td(r["name"], left=True), _td(r["n_images"]), _td(r["gt_known_loc"]),
             _td(r["top1_cls"]), _td(r["pxap"])] for r in c.per_class]
    table = _table(head, rows, cls="sortable", left=2)
    return (f"<p>{len(c.per_class)} classes; click a column header to sort.</p>"
            f'<div class="scroll" id="per-class-table">{table}</div>')


def _worst(c: ReportContent) -> str:
    if not c.worst:
        return _note("no class has a GT-known loc or PxAP value")
    label = {"gt_known_loc": "GT-known loc", "pxap": "PxAP"}[c.worst_metric]
    fig = _fig(c, "worst_classes", "worst classes")
    rows = [[_td(r["class"]), _td(r["name"], left=True), _td(r["n_images"]), _td(r[c.worst_metric])] for r in c.worst]
    table = _table(["class", "name", "images", label], rows, left=2)
    return (f'<div class="row">{fig}<div><p>The {len(c.worst)} classes with the lowest {escape(label)}.</p>'
            f"{table}</div></div>")


def _overlays(c: ReportContent) -> str:
    if not c.overlays:
        return _note(c.notes.get("overlays", "no overlays: run 'wsolbench report RESULT.json --maps MAPS.h5 "
                                             "--gt SPEC' to draw the maps over their images"))
    parts = [_note(c.notes["overlays"])] if c.notes.get("overlays") else []
    for group, name in c.overlays.items():
        parts.append(f"<h3>{escape(GROUP_TITLES.get(group, group))}</h3>" + _img(name, f"{group} images"))
    return "".join(parts)


def _dl(pairs) -> str:
    return "<dl>" + "".join(f"<dt>{escape(str(k))}</dt><dd>{escape(str(v))}</dd>" for k, v in pairs) + "</dl>"


def _provenance(c: ReportContent) -> str:
    p = c.provenance
    general = [("wsolbench version", p.get("wsolbench_version")), ("created", p.get("created")),
               ("dataset", f"{p.get('dataset')} (split {p.get('split')}, spec {p.get('dataset_spec')})"),
               ("images / classes", f"{p.get('n_images')} / {p.get('num_classes')}"),
               ("maps file", p.get("maps_path")), ("maps sha256", p.get("maps_sha256")),
               ("maps in file", p.get("n_maps"))]
    general += [(f"maps attr {k}", v) for k, v in sorted(p.get("maps_attrs", {}).items())]
    protocol = [("preset", p.get("protocol_name")), ("hash", p.get("protocol_hash"))]
    protocol += [(k, v) for k, v in p.get("protocol", {}).items()]
    return "<h3>Protocol</h3>" + _dl(protocol) + "<h3>Provenance</h3>" + _dl(general)


RENDERERS = {"summary": _summary, "box-accuracy": _box, "top1-loc": _top1, "mask-curves": _mask,
             "diagnostics": _diagnostics, "per-class": _per_class, "worst-classes": _worst, "overlays": _overlays, "provenance": _provenance}


def render_page(content: ReportContent) -> str:
    """The whole HTML page as a string (UTF-8, self-contained but for the PNGs beside it)."""
    nav = "".join(f'<a href="#{sid}">{escape(SECTION_TITLES[sid])}</a>' for sid in SECTION_IDS)
    sections = "".join(f'<section id="{sid}"><h2>{escape(SECTION_TITLES[sid])}</h2>{RENDERERS[sid](content)}</section>'
                       for sid in SECTION_IDS)
    data = json.dumps(json_safe(content.data()), allow_nan=False).replace("</", "<\\/")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{escape(content.title)}</title>"
            f"<style>{CSS}</style></head><body><header><h1>{escape(content.title)}</h1>"
            f"<p>{escape(content.subtitle)}</p></header><nav>{nav}</nav><main>{sections}</main>"
            f'<script type="application/json" id="report-data">{data}</script>'
            f"<script>{SORT_JS}document.documentElement.setAttribute('data-ready', 'true');</script>"
            "</body></html>\n")
