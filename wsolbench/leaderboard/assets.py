"""The inline stylesheet and script of ``leaderboard/index.html`` (no CDN, no framework).

They live in Python strings so that they ship inside the package without package-data
configuration. The script sorts a table when a column header is clicked (or activated with the
keyboard), filters rows by dataset, protocol and source, and re-lays out each table's bar chart
to the rows left visible.
"""

CSS = r"""
:root { --fg: #1d2329; --muted: #5b6570; --line: #d8dde3; --bg: #ffffff; --head: #f3f5f7;
        --verified: #2f7d46; --reported: #4a6fa8; --accent: #a33b20; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       color: var(--fg); background: var(--bg); }
header { padding: 20px 28px 12px; border-bottom: 1px solid var(--line); background: var(--head);
         position: sticky; top: 0; z-index: 2; }
h1 { margin: 0 0 4px; font-size: 22px; }
.lead { margin: 0 0 10px; color: var(--muted); max-width: 980px; }
.filters { display: flex; flex-wrap: wrap; gap: 16px; align-items: center; }
.filters label { display: flex; gap: 6px; align-items: center; font-weight: 600; }
.filters select { font: inherit; padding: 3px 6px; border: 1px solid var(--line); border-radius: 4px;
                  max-width: 240px; }
#filter-count { color: var(--muted); }
main { padding: 8px 28px 40px; }
section.group { margin: 26px 0 34px; }
section.group h2 { font-size: 18px; margin: 0 0 2px; }
section.group h2 .meta { font-size: 13px; font-weight: 400; color: var(--muted); margin-left: 8px; }
.note { margin: 2px 0 10px; color: var(--muted); }
.chart { display: block; width: 100%; max-width: 760px; height: auto; margin: 4px 0 10px; }
.chart text { font: 10.5px system-ui, sans-serif; fill: var(--fg); }
.chart .axis text { fill: var(--muted); }
.chart .grid { stroke: var(--line); stroke-width: 1; }
.chart-caption { margin: 0; color: var(--muted); font-size: 12.5px; }
.chart-caption .key { display: inline-block; width: 10px; height: 10px; margin: 0 2px 0 8px; vertical-align: -1px; }
.chart-caption .key.verified { background: var(--verified); }
.chart-caption .key.reported { background: var(--reported); }
.chart rect.verified { fill: var(--verified); }
.chart rect.reported { fill: var(--reported); }
.table-wrap { overflow-x: auto; }
table.board { border-collapse: collapse; min-width: 640px; font-size: 13px; }
table.board th, table.board td { padding: 4px 6px; border-bottom: 1px solid var(--line); text-align: left;
                                 vertical-align: top; }
table.board th { background: var(--head); vertical-align: bottom; font-size: 12.5px; line-height: 1.25; }
table.board td.num { white-space: nowrap; }
table.board th button { font: inherit; font-weight: 600; background: none; border: 0; padding: 0; cursor: pointer;
                        color: inherit; }
table.board th button { text-align: inherit; }
table.board th button::after { content: "\2195"; color: #9aa3ad; font-weight: 400; margin-left: 2px; }
table.board th[aria-sort="ascending"] button::after { content: " \25B2"; color: var(--accent); }
table.board th[aria-sort="descending"] button::after { content: " \25BC"; color: var(--accent); }
table.board th.ranking button { color: var(--accent); }
table.board td.num, table.board th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.board td.ranking { font-weight: 700; }
table.board td.notes { color: var(--muted); min-width: 140px; max-width: 280px; font-size: 12px; }
table.board td.ref a { color: var(--muted); }
table.board tbody.reference tr:first-child td { border-top: 2px solid var(--line); }
table.board tbody.reference td { background: #f7f8fa; color: var(--muted); }
.kind { display: inline-block; padding: 0 5px; border: 1px solid var(--line); border-radius: 9px; font-size: 11.5px;
        white-space: nowrap; }
.ties { margin: 6px 0 0; color: var(--muted); font-size: 12.5px; max-width: 980px; }
section.references { margin: 30px 0 0; font-size: 12.5px; color: var(--muted); }
section.references h2 { font-size: 16px; color: var(--fg); }
table.board tbody tr:hover { background: #fafbfc; }
.badge { display: inline-block; padding: 0 6px; border-radius: 9px; font-size: 12px; color: #fff; }
.badge.verified { background: var(--verified); }
.badge.reported { background: var(--reported); }
code { font-size: 12px; }
#empty { color: var(--muted); font-style: italic; }
footer { padding: 14px 28px 30px; color: var(--muted); border-top: 1px solid var(--line); }
"""

JS = r"""
(function () {
  'use strict';

  function cellKey(cell, type) {
    var raw = cell ? cell.getAttribute('data-value') : '';
    if (raw === null || raw === '') { return null; }
    return type === 'num' ? parseFloat(raw) : raw.toLowerCase();
  }

  function sortBy(table, index, direction) {
    var th = table.tHead.rows[0].cells[index];
    var type = th.getAttribute('data-type');
    // each body sorts on its own: ranked rows first, reference lines (tbody.reference) stay below them
    Array.prototype.forEach.call(table.tBodies, function (body) {
      var rows = Array.prototype.slice.call(body.rows);
      rows.forEach(function (row, i) { row.__order = i; });
      rows.sort(function (a, b) {
        var x = cellKey(a.cells[index], type), y = cellKey(b.cells[index], type);
        if (x === null && y === null) { return a.__order - b.__order; }
        if (x === null) { return 1; }
        if (y === null) { return -1; }
        var c = x < y ? -1 : (x > y ? 1 : 0);
        return (direction === 'ascending' ? c : -c) || a.__order - b.__order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (cell) {
      cell.removeAttribute('aria-sort');
    });
    th.setAttribute('aria-sort', direction);
  }

  function onHeader(event) {
    var th = event.currentTarget.closest('th');
    var table = th.closest('table');
    var current = th.getAttribute('aria-sort');
    var first = th.getAttribute('data-first') || 'ascending';
    var next = current ? (current === 'ascending' ? 'descending' : 'ascending') : first;
    sortBy(table, th.cellIndex, next);
  }

  function layoutChart(section) {
    var svg = section.querySelector('svg.chart');
    if (!svg) { return; }
    var rowHeight = parseFloat(svg.getAttribute('data-row-height'));
    var maxBars = parseInt(svg.getAttribute('data-max-bars'), 10);
    var y = parseFloat(svg.getAttribute('data-top')), shown = 0, candidates = 0;
    Array.prototype.forEach.call(svg.querySelectorAll('g.bar'), function (bar) {
      var row = document.getElementById(bar.getAttribute('data-row'));
      var visible = row !== null && !row.hidden;
      if (visible) { candidates += 1; }
      visible = visible && shown < maxBars;
      bar.style.display = visible ? '' : 'none';
      if (visible) { bar.setAttribute('transform', 'translate(0,' + y + ')'); y += rowHeight; shown += 1; }
    });
    var caption = section.querySelector('.chart-caption');
    if (caption) {
      caption.style.display = shown ? '' : 'none';
      caption.querySelector('.shown').textContent = String(shown);
      var total = caption.querySelector('.total');
      if (total) { total.textContent = String(candidates); }
    }
    var height = y + parseFloat(svg.getAttribute('data-bottom'));
    var width = svg.viewBox.baseVal.width;
    svg.setAttribute('viewBox', '0 0 ' + width + ' ' + height);
    svg.setAttribute('height', String(height));
    svg.querySelectorAll('line.grid').forEach(function (line) { line.setAttribute('y2', String(y)); });
    svg.style.display = shown ? '' : 'none';
  }

  function applyFilters() {
    var wanted = {};
    document.querySelectorAll('select[data-filter]').forEach(function (select) {
      wanted[select.getAttribute('data-filter')] = select.value;
    });
    var total = 0, groups = 0;
    document.querySelectorAll('section.group').forEach(function (section) {
      var sectionOk = (!wanted.dataset || section.getAttribute('data-dataset') === wanted.dataset) &&
                      (!wanted.protocol || section.getAttribute('data-protocol') === wanted.protocol);
      var visible = 0;
      section.querySelectorAll('tbody tr').forEach(function (row) {
        var ok = sectionOk && (!wanted.source || row.getAttribute('data-source') === wanted.source);
        row.hidden = !ok;
        if (ok) { visible += 1; }
      });
      section.hidden = visible === 0;
      total += visible;
      if (visible) { groups += 1; }
      layoutChart(section);
    });
    var count = document.getElementById('filter-count');
    if (count) { count.textContent = total + ' rows in ' + groups + ' tables'; }
    var empty = document.getElementById('empty');
    if (empty) { empty.hidden = total !== 0; }
  }

  function init() {
    document.querySelectorAll('table.board thead th button').forEach(function (button) {
      button.addEventListener('click', onHeader);
    });
    document.querySelectorAll('select[data-filter]').forEach(function (select) {
      select.addEventListener('change', applyFilters);
    });
    applyFilters();
    document.documentElement.setAttribute('data-ready', 'true');
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
"""
