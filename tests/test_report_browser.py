"""The report page in a real headless Chromium: it loads from disk without errors, every figure
decodes, and clicking a per-class column header sorts the table (empty cells stay last).

Driven by Playwright on the system Chromium (wsolbench.leaderboard.browser); skipped, with the reason,
where Playwright or Chromium is not installed.
"""

from __future__ import annotations

import pytest

from test_report import make_result
from wsolbench.leaderboard.browser import Browser, find_chromium, playwright_available
from wsolbench.report.build import build_report

CHROMIUM = find_chromium()
pytestmark = [
    pytest.mark.skipif(not playwright_available(), reason="Playwright is not installed (pip install "
                                                          "'wsolbench[browser]'); the report page's tests drive a "
                                                          "real browser"),
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium/Chrome found (Debian: apt-get install -y "
                                                "chromium, or set WSOLBENCH_CHROMIUM); the report page's "
                                                "tests need a real headless browser"),
]

COLUMN = """(function(){{
  var rows = document.querySelectorAll('#per-class-table tbody tr');
  return Array.from(rows).map(function(r){{return r.cells[{col}].getAttribute('data-v');}});
}})()"""


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    pytest.importorskip("matplotlib")
    page_path = build_report(make_result(), tmp_path_factory.mktemp("report"))
    with Browser(CHROMIUM) as browser:
        yield browser.open(page_path.resolve().as_uri())


def test_page_loads_with_every_figure(page):
    assert page.evaluate("document.documentElement.getAttribute('data-ready')") == "true"
    sizes = page.evaluate("Array.from(document.images).map(function(i){return [i.complete, i.naturalWidth];})")
    assert len(sizes) == 4 and all(done and width > 0 for done, width in sizes)
    data = page.evaluate("JSON.parse(document.getElementById('report-data').textContent).box[0].thresholds")
    assert data == make_result()["box"]["thresholds"]
    assert page.errors == []


def test_clicking_a_header_sorts_the_per_class_table(page):
    gt_known = COLUMN.format(col=3)
    original = page.evaluate(gt_known)
    assert original[5] == "1.5" and original[13] == ""
    header = "#per-class-table thead th:nth-child(4) button"
    page.click(header)
    ascending = page.evaluate(gt_known)
    assert ascending[:3] == ["1.5", "16.0", "23.0"] and ascending[-1] == ""
    assert page.evaluate("document.querySelector('#per-class-table thead th:nth-child(4)')"
                         ".getAttribute('aria-sort')") == "ascending"
    page.click(header)
    descending = page.evaluate(gt_known)
    assert descending[:2] == ["100.0", "93.0"] and descending[-1] == ""
    page.click("#per-class-table thead th:nth-child(1) button")
    assert page.evaluate(COLUMN.format(col=0)) == [f"{float(c)!r}" for c in range(14)]
    assert page.errors == []
