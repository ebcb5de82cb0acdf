"""`wsolbench leaderboard screenshot` (Playwright on the system Chromium) and the page-error collection
of wsolbench.leaderboard.browser: a real browser where one is installed (skipped with the reason where
not), and the one-line messages that say what to install where Playwright or Chromium is missing."""

import sys

import pytest
from click.testing import CliRunner
from PIL import Image

from test_leaderboard_browser import row
from wsolbench.cli.main import cli
from wsolbench.leaderboard.browser import Browser, find_chromium, playwright_available
from wsolbench.leaderboard.build import build
from wsolbench.leaderboard.submission import write_submission

needs_playwright = pytest.mark.skipif(not playwright_available(), reason="Playwright is not installed (pip install "
                                                                          "'wsolbench[browser]')")
needs_chromium = pytest.mark.skipif(find_chromium() is None, reason="no Chromium/Chrome found (Debian: apt-get "
                                                                    "install -y chromium, or set WSOLBENCH_CHROMIUM)")


@pytest.fixture
def board(tmp_path):
    write_submission(tmp_path / "reported.csv", [row("HaS", "reported", v2=55.0), row("CAM", "reported", v2=59.7,
                                                                                        dataset="cub")])
    write_submission(tmp_path / "submissions" / "ours.csv", [row("CAM", "verified", v2=60.25)])
    build(tmp_path)
    return tmp_path


def screenshot(*args):
    return CliRunner().invoke(cli, ["leaderboard", "screenshot", *map(str, args)])


@needs_playwright
@needs_chromium
def test_screenshot_is_a_png_of_the_viewport_with_the_filters_chosen(board, tmp_path):
    out = tmp_path / "shots" / "board.png"
    out.parent.mkdir()
    result = screenshot(out, "--board", board, "--dataset", "cub", "--width", 800, "--height", 600)
    assert result.exit_code == 0, result.output
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size == (800, 600)
        pixels = im.convert("L").getextrema()
    assert pixels[0] < pixels[1]                                   # not a blank page
    assert "page error" not in result.output and f"wrote {out}" in result.output.replace("\n", "")
    # the filter was applied: the same page, filtered on another dataset, looks different
    other = tmp_path / "shots" / "synthetic.png"
    assert screenshot(other, "--board", board, "--dataset", "synthetic", "--width", 800, "--height", 600).exit_code == 0
    assert out.read_bytes() != other.read_bytes()


@needs_playwright
@needs_chromium
def test_a_filter_value_the_page_lacks_is_a_clear_error(board, tmp_path):
    out = tmp_path / "board.png"
    result = screenshot(out, "--board", board, "--dataset", "imagenet")
    assert result.exit_code == 2
    assert "the 'dataset' filter has no value 'imagenet'; it offers 'cub', 'synthetic'" in result.output
    assert not out.exists()


@needs_playwright
@needs_chromium
def test_page_errors_are_collected(tmp_path):
    page_path = tmp_path / "broken.html"
    page_path.write_text("<html><body><img src='absent.png'><script>console.error('bad thing');"
                         "throw new Error('boom');</script></body></html>")
    with Browser() as browser:
        page = browser.open(page_path.as_uri(), width=400, height=300)
        assert page.evaluate("window.innerWidth") == 400
    assert "console.error: bad thing" in page.errors
    assert "uncaught exception: boom" in page.errors
    assert any("Failed to load resource" in e for e in page.errors)
    assert len(page.errors) == 3


def test_without_playwright_the_command_says_what_to_install(board, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "playwright.sync_api", None)      # as if Playwright were not installed
    monkeypatch.setitem(sys.modules, "playwright", None)
    out = tmp_path / "board.png"
    result = screenshot(out, "--board", board)
    assert result.exit_code == 2
    assert "driving Chromium needs playwright" in result.output and "pip install 'wsolbench[browser]'" in result.output
    assert not out.exists()


def _fake_chromium(tmp_path):
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\necho 'cannot open display' >&2\nexit 1\n")
    fake.chmod(0o755)
    return fake


@needs_playwright
@pytest.mark.parametrize("chromium,message", [
    (lambda tmp: tmp / "no-such-chromium", "no Chromium or Chrome found; install Chromium (Debian/Ubuntu: apt-get "
                                           "install -y chromium)"),
    (_fake_chromium, "{path} did not start"),
], ids=["missing", "does-not-start"])
def test_a_chromium_that_is_missing_or_broken_is_a_clear_error(board, tmp_path, monkeypatch, chromium, message):
    path = chromium(tmp_path)
    monkeypatch.setenv("WSOLBENCH_CHROMIUM", str(path))
    out = tmp_path / "board.png"
    result = screenshot(out, "--board", board)
    assert result.exit_code == 2
    assert message.format(path=path) in " ".join(result.output.split())
    assert not out.exists()


@needs_playwright
@needs_chromium
def test_a_page_that_does_not_load_is_a_clear_error(tmp_path):
    from wsolbench.leaderboard.browser import BrowserError

    with Browser(timeout=20) as browser:
        with pytest.raises(BrowserError, match=r"missing.html: the page did not load: .*ERR_FILE_NOT_FOUND"):
            browser.open((tmp_path / "missing.html").as_uri())
