"""Headless Chromium through Playwright: the leaderboard screenshot and the tests of the HTML pages.

Playwright (PyPI ``playwright``, the ``[browser]`` extra) drives the Chromium already installed on
the machine through ``executable_path`` (Debian: ``apt-get install -y chromium``), so no browser is
downloaded and ``playwright install`` is never needed. Playwright was chosen over Selenium because
it is one pip package with its own driver (Selenium needs a ``chromedriver`` whose version matches
the browser), it reports console messages and uncaught exceptions as events (the page tests assert
that a page produced none), and its clicks and key presses wait until the element can take them.

This module only adds what wsolbench needs on top: finding the system Chromium, the flags it runs
with, one message per missing piece, and the page's errors collected in a list.

Example:
    >>> from wsolbench.leaderboard.browser import Browser
    >>> with Browser() as browser:                                         # doctest: +SKIP
    ...     page = browser.open("file:///path/to/leaderboard/index.html")
    ...     page.evaluate("document.title"), page.errors
    ('wsolbench leaderboard', [])
"""

from __future__ import annotations

import os
import shutil

from wsolbench.atomic import write_bytes_atomic
from wsolbench.errors import WsolbenchError
from wsolbench.optional import import_optional

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
# Playwright adds --headless, --no-sandbox, --hide-scrollbars, --mute-audio and a fresh --user-data-dir;
# without the network flags Chromium keeps calling home, which a closed network refuses at every start.
CHROMIUM_FLAGS = ("--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync")
INSTALL_CHROMIUM = ("install Chromium (Debian/Ubuntu: apt-get install -y chromium) or set WSOLBENCH_CHROMIUM to "
                    "a Chromium or Chrome executable")


class BrowserError(WsolbenchError):
    """Chromium could not be found, started or did not answer."""


def find_chromium() -> str | None:
    """The Chromium/Chrome executable: ``$WSOLBENCH_CHROMIUM``, else the first of
    :data:`CHROMIUM_NAMES` on the PATH, else ``None``."""
    explicit = os.environ.get("WSOLBENCH_CHROMIUM")
    if explicit:
        return shutil.which(explicit) or (explicit if os.path.isfile(explicit) else None)
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def playwright_available() -> bool:
    """Whether the ``playwright`` package can be imported."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


class Tab:
    """A Playwright ``Page`` plus ``errors``: the console errors (failed loads included: Chromium logs
    them to the console) and uncaught exceptions it reported, as text. Every other attribute is the
    page's own (``evaluate``, ``click``, ``keyboard``, ``screenshot``, ...)."""

    def __init__(self, page):
        self.page = page
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught exception: {error}"))

    def _console(self, message) -> None:
        if message.type in ("error", "assert"):
            self.errors.append(f"console.{message.type}: {message.text}")

    def __getattr__(self, name):
        return getattr(self.page, name)


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class Browser:
    """A headless Chromium (fresh profile) driven by Playwright, as a context manager.

    Args:
        executable: the Chromium to run (default :func:`find_chromium`).
        timeout: seconds allowed for starting the browser and for each page load.

    Raises:
        MissingDependencyError: Playwright is not installed (on entering).
        BrowserError: no Chromium, or it does not start (on entering).
    """

    def __init__(self, executable: str | None = None, *, timeout: float = 60.0):
        self.executable = executable or find_chromium()
        self.timeout = timeout
        self._playwright = None
        self._browser = None
        self._error = Exception

    def __enter__(self) -> "Browser":
        api = import_optional("playwright.sync_api", feature="driving Chromium", extra="browser")
        if not self.executable:
            raise BrowserError(f"no Chromium or Chrome found; {INSTALL_CHROMIUM}")
        self._error = api.Error
        self._playwright = api.sync_playwright().start()
        try:
            self._browser = self._playwright.chromium.launch(executable_path=self.executable,
                                                             args=list(CHROMIUM_FLAGS), timeout=self.timeout * 1000)
        except api.Error as e:
            self._playwright.stop()
            raise BrowserError(f"{self.executable} did not start: {_first_line(e)}; {INSTALL_CHROMIUM}") from None
        return self

    def open(self, url: str, *, width: int = 1280, height: int = 900) -> Tab:
        """A new page showing ``url`` (loaded), with a ``width`` x ``height`` viewport.

        Raises:
            BrowserError: the page did not load within the timeout.
        """
        page = self._browser.new_page(viewport={"width": width, "height": height})
        tab = Tab(page)
        page.set_default_timeout(self.timeout * 1000)
        try:
            page.goto(url, wait_until="load")
        except self._error as e:
            raise BrowserError(f"{url}: the page did not load: {_first_line(e)}") from None
        return tab

    def __exit__(self, *exc) -> None:
        if self._browser is not None:
            self._browser.close()
            self._browser = None
        if self._playwright is not None:
            self._playwright.stop()
            self._playwright = None


def screenshot_page(html_path, out_path, *, filters: dict | None = None, width: int = 1280, height: int = 900,
                    executable: str | None = None) -> tuple[str, list[str]]:
    """Open a local HTML file in headless Chromium, choose filter values, save a PNG of the viewport.

    Args:
        html_path: the page (e.g. ``leaderboard/index.html``).
        out_path: the PNG to write (atomically).
        filters: ``{"dataset": "cub", ...}``: the value to choose in each ``select[data-filter=NAME]`` menu.
        width, height: viewport in CSS pixels.
        executable: Chromium to use (default :func:`find_chromium`).

    Returns:
        The PNG path and the errors the page reported (should be empty).

    Raises:
        MissingDependencyError, BrowserError: see :class:`Browser`.
        WsolbenchError: a filter menu or value the page does not have.
    """
    from pathlib import Path

    url = Path(html_path).resolve().as_uri()
    with Browser(executable) as browser:
        page = browser.open(url, width=width, height=height)
        for name, value in (filters or {}).items():
            _choose(page, html_path, name, value)
        png = page.screenshot()
        errors = list(page.errors)
    out_path = os.fspath(out_path)
    write_bytes_atomic(out_path, png)
    return out_path, errors


def _choose(page: Tab, html_path, name: str, value: str) -> None:
    selector = f"select[data-filter='{name}']"
    if not page.query_selector(selector):
        raise WsolbenchError(f"{html_path}: the page has no '{name}' filter; rebuild it with "
                             "'wsolbench leaderboard build'")
    options = page.eval_on_selector_all(f"{selector} option", "options => options.map(o => o.value)")
    if value not in options:
        shown = ", ".join(repr(o) for o in options if o) or "none"
        raise WsolbenchError(f"{html_path}: the '{name}' filter has no value {value!r}; it offers {shown}")
    page.select_option(selector, value)
