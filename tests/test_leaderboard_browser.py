"""The leaderboard page in a real headless Chromium: it loads from disk without console errors,
clicking a column header sorts, a filter hides rows (and their bars).

Driven by Playwright through wsolbench.leaderboard.browser, on the system Chromium. Skipped, with the
reason, where Playwright or Chromium is not installed (pip install 'wsolbench[browser]'; Debian:
apt-get install -y chromium).
"""

from pathlib import Path

import pytest

from wsolbench.datasets.cards import official_split
from wsolbench.leaderboard import schema
from wsolbench.leaderboard.browser import Browser, find_chromium, playwright_available
from wsolbench.leaderboard.build import build
from wsolbench.leaderboard.submission import write_submission

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = find_chromium()
pytestmark = [
    pytest.mark.skipif(not playwright_available(), reason="Playwright is not installed (pip install "
                                                          "'wsolbench[browser]'); the page's tests drive a real browser"),
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium/Chrome found (Debian: apt-get install -y "
                                                "chromium, or set WSOLBENCH_CHROMIUM); the page's tests "
                                                "need a real headless browser"),
]


def row(method, source, *, v2=None, top1=None, dataset="synthetic", backbone="resnet50", category="method"):
    values = {c: "" for c in schema.COLUMNS}
    values.update(method=method, backbone=backbone, category=category, dataset=dataset, split="test",
                  protocol="wsoleval", protocol_hash=schema.expected_hash("wsoleval", {}), source=source,
                  schema_version=str(schema.SCHEMA_VERSION), date="2026-11-20")
    if v2 is not None:
        values["maxboxacc_v2"] = f"{v2:.4f}"
    if top1 is not None:
        values["top1_loc"] = f"{top1:.4f}"
    if source == "verified":
        official = official_split(dataset, "test")[1]
        values.update(maps_content_sha256="5e" * 32, n_images=str(official.images), gt_fingerprint=official.fingerprint,
                      wsolbench_version="0.1.0")
    else:
        values["reference"] = "A. Author, Venue 2026, https://example.org/paper"
    return values


@pytest.fixture(scope="module")
def browser():
    with Browser(CHROMIUM) as b:
        yield b


@pytest.fixture(scope="module")
def page_url(tmp_path_factory):
    root = tmp_path_factory.mktemp("board")
    write_submission(root / "reported.csv", [
        row("HaS", "reported", v2=55.0, top1=40.0), row("ACoL", "reported", v2=61.5),
        row("CAM", "reported", v2=59.7, dataset="cub")])
    write_submission(root / "submissions" / "ours.csv", [
        row("CAM", "verified", v2=60.25, top1=44.0), row("Zebra", "verified", top1=50.0, backbone="vgg16"),
        row("random", "verified", v2=70.0, backbone="none", category="sanity")])
    build(root)
    return (root / "index.html").resolve().as_uri()


def column_values(page, table_index, header_text):
    return page.evaluate(f"""(function(){{
        var table = document.querySelectorAll('table.board')[{table_index}];
        var heads = Array.from(table.tHead.rows[0].cells).map(function(c){{return c.textContent;}});
        var i = heads.indexOf({header_text!r});
        return Array.from(table.tBodies[0].rows).map(function(r){{return r.cells[i].getAttribute('data-value');}});
    }})()""")


def choose(page, name, value):
    """Pick an option of a filter menu with the keyboard, as a user would (focus, arrow keys)."""
    page.evaluate(f"document.getElementById('filter-{name}').focus()")
    options = page.evaluate(f"Array.from(document.getElementById('filter-{name}').options).map(o => o.value)")
    current = page.evaluate(f"document.getElementById('filter-{name}').selectedIndex")
    target = options.index(value)
    key = "ArrowDown" if target > current else "ArrowUp"
    for _ in range(abs(target - current)):
        page.keyboard.press(key)
    assert page.evaluate(f"document.getElementById('filter-{name}').value") == value


def test_the_page_loads_from_disk_without_errors(browser, page_url):
    page = browser.open(page_url)
    assert page.evaluate("document.documentElement.getAttribute('data-ready')") == "true"
    assert page.evaluate("document.querySelectorAll('section.group').length") == 2
    assert page.evaluate("document.getElementById('filter-count').textContent") == "6 rows in 2 tables"
    # the sanity baseline is a reference line: below the ranked rows, not ranked, no bar
    assert page.evaluate("Array.from(document.querySelectorAll('tbody.reference tr')).map(r => "
                         "[r.cells[0].textContent, r.cells[1].textContent])") == [["ref", "random sanity baseline"]]
    bars = page.evaluate("Array.from(document.querySelectorAll('g.bar title')).map(t => t.textContent)")
    assert len(bars) == 4 and not any(b.startswith("random") for b in bars)
    assert page.errors == []


def test_the_repository_page_loads_without_errors(browser):
    page = browser.open((REPO / "leaderboard" / "index.html").resolve().as_uri())
    assert page.evaluate("document.documentElement.getAttribute('data-ready')") == "true"
    assert page.evaluate("document.querySelectorAll('table.board tbody tr').length") > 100
    shown = page.evaluate("Array.from(document.querySelectorAll('svg.chart')).map(s => "
                          "Array.from(s.querySelectorAll('g.bar')).filter(b => b.style.display !== 'none').length)")
    assert max(shown) == 15                      # long tables chart their 15 best rows; the table lists all
    assert "the 15 best of 38 rows" in page.evaluate("document.querySelector('.chart-caption').textContent")
    # every table shows its protocol's columns and the page works from 1,280 px: nothing scrolls sideways
    assert page.evaluate("window.innerWidth") == 1280
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    assert page.evaluate("Array.from(document.querySelectorAll('.table-wrap')).filter(w => "
                         "w.scrollWidth > w.clientWidth).length") == 0
    heads = page.evaluate("Array.from(document.querySelector('section.group table').tHead.rows[0].cells)"
                          ".map(c => c.textContent)")
    assert heads[3:11] == ["MaxBoxAccV2", "BoxAcc@30", "BoxAcc@50", "BoxAcc@70", "MaxBoxAcc", "GT-known loc",
                           "Top-1 loc", "Top-1 cls"]
    assert page.errors == []


def test_clicking_a_column_header_sorts(browser, page_url):
    page = browser.open(page_url)
    table = 1                                     # the synthetic table (cub comes first)
    assert column_values(page, table, "MaxBoxAccV2") == ["61.5", "60.25", "55.0", ""]
    page.click("section.group:nth-of-type(2) th.ranking button")
    assert column_values(page, table, "MaxBoxAccV2") == ["61.5", "60.25", "55.0", ""]
    assert page.evaluate("document.querySelectorAll('table.board')[1].querySelector('th.ranking')"
                         ".getAttribute('aria-sort')") == "descending"
    page.click("section.group:nth-of-type(2) th.ranking button")
    assert column_values(page, table, "MaxBoxAccV2") == ["55.0", "60.25", "61.5", ""]   # empty cells stay last
    sel = "section.group:nth-of-type(2) thead th:nth-child(2) button"                     # Method
    page.click(sel)
    assert column_values(page, table, "Method") == ["ACoL", "CAM", "HaS", "Zebra"]
    page.click(sel)
    assert column_values(page, table, "Method") == ["Zebra", "HaS", "CAM", "ACoL"]
    assert page.errors == []


def test_a_filter_hides_rows_and_their_bars(browser, page_url):
    page = browser.open(page_url)
    visible = "Array.from(document.querySelectorAll('tbody tr')).filter(r => !r.hidden).map(r => r.cells[1].textContent)"
    bars = ("Array.from(document.querySelectorAll('g.bar')).filter(b => b.style.display !== 'none')"
            ".map(b => b.querySelector('text').textContent)")
    assert sorted(page.evaluate(visible)) == ["ACoL", "CAM", "CAM", "HaS", "Zebra", "random sanity baseline"]
    choose(page, "source", "verified")
    assert sorted(page.evaluate(visible)) == ["CAM", "Zebra", "random sanity baseline"]
    assert page.evaluate(bars) == ["CAM (resnet50)"]             # Zebra has no MaxBoxAccV2; random is a reference
    assert page.evaluate("document.querySelector('section.group').hidden") is True   # cub: reported rows only
    assert page.evaluate("document.getElementById('filter-count').textContent") == "3 rows in 1 tables"
    choose(page, "dataset", "cub")
    assert page.evaluate(visible) == []
    assert page.evaluate("document.getElementById('empty').hidden") is False
    choose(page, "source", "")
    assert page.evaluate(visible) == ["CAM"]
    assert page.evaluate("document.querySelectorAll('section.group')[1].hidden") is True
    assert page.errors == []
