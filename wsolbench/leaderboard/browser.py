"""Driving a headless Chromium over the DevTools protocol, with the standard library only.

Used to take the leaderboard page's screenshot (``wsolbench leaderboard screenshot``) and by the
tests that load the page in a real browser, click its headers and use its filters. It needs a
Chromium or Chrome executable (Debian: ``apt-get install -y chromium``); :func:`find_chromium`
returns ``None`` when there is none.

Example:
    >>> from wsolbench.leaderboard.browser import Browser, find_chromium
    >>> with Browser(find_chromium()) as browser:                         # doctest: +SKIP
    ...     page = browser.open("file:///path/to/leaderboard/index.html")
    ...     page.evaluate("document.title")
    'wsolbench leaderboard'
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import urllib.request
from urllib.parse import urlparse

from wsolbench.atomic import write_bytes_atomic
from wsolbench.errors import WsolbenchError

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--mute-audio", "--no-zygote")
_LISTENING = re.compile(r"DevTools listening on (ws://\S+)")
_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class BrowserError(WsolbenchError):
    """Chromium could not be started or did not answer."""


def find_chromium() -> str | None:
    """The Chromium/Chrome executable: ``$WSOLBENCH_CHROMIUM``, else the first of
    :data:`CHROMIUM_NAMES` on the PATH, else ``None``."""
    explicit = os.environ.get("WSOLBENCH_CHROMIUM")
    if explicit:
        return explicit if shutil.which(explicit) or os.path.isfile(explicit) else None
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


class WebSocket:
    """A minimal RFC 6455 client: text frames, masking, fragmentation, ping/pong, close."""

    def __init__(self, url: str, *, timeout: float = 30.0):
        parsed = urlparse(url)
        self.sock = socket.create_connection((parsed.hostname, parsed.port or 80), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (f"GET {parsed.path or '/'} HTTP/1.1\r\nHost: {parsed.hostname}:{parsed.port}\r\n"
                   "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
        self.sock.sendall(request.encode())
        self.buffer = b""
        head = self._read_until(b"\r\n\r\n").decode("latin-1")
        accept = base64.b64encode(hashlib.sha1((key + _WS_GUID).encode()).digest()).decode()
        if " 101 " not in head.split("\r\n", 1)[0] or accept not in head:
            raise BrowserError(f"the DevTools websocket refused the connection: {head.splitlines()[:1]}")

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(marker, 1)
        return head

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise BrowserError("the browser closed the DevTools connection")
        self.buffer += chunk

    def _read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self._fill()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def send(self, text: str, *, opcode: int = 0x1) -> None:
        payload = text.encode() if isinstance(text, str) else text
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 1 << 16:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def recv(self) -> str:
        """The next complete text message (answers pings on the way)."""
        parts = []
        while True:
            b0, b1 = self._read(2)
            opcode, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else None
            payload = self._read(n)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if opcode == 0x8:
                raise BrowserError("the browser closed the DevTools connection")
            if opcode == 0x9:
                self.send(payload, opcode=0xA)
                continue
            if opcode in (0x0, 0x1):
                parts.append(payload)
                if b0 & 0x80:
                    return b"".join(parts).decode()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:  # pragma: no cover
            pass


class Page:
    """One browser tab: DevTools commands, with console errors and exceptions collected."""

    def __init__(self, ws: WebSocket):
        self.ws = ws
        self.next_id = 0
        self.events: list[dict] = []
        self.errors: list[str] = []
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")

    def send(self, method: str, params: dict | None = None, *, timeout: float = 30.0) -> dict:
        """Send a DevTools command and return its result (events that arrive meanwhile are kept)."""
        self.next_id += 1
        ident = self.next_id
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = json.loads(self.ws.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise BrowserError(f"{method} failed: {message['error'].get('message')}")
                return message.get("result", {})
            self._event(message)
        raise BrowserError(f"{method}: no answer within {timeout} s")

    def _event(self, message: dict) -> None:
        self.events.append(message)
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text")
            self.errors.append(f"uncaught exception: {text}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            self.errors.append(f"console.{params['type']}: {args}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            self.errors.append(f"log ({entry.get('source')}): {entry.get('text')} {entry.get('url', '')}".strip())

    def wait_event(self, name: str, *, timeout: float = 30.0) -> dict:
        for message in self.events:
            if message.get("method") == name:
                self.events.remove(message)
                return message.get("params", {})
        deadline = time.monotonic() + timeout
        self.ws.sock.settimeout(timeout)
        while time.monotonic() < deadline:
            message = json.loads(self.ws.recv())
            self._event(message)
            if message.get("method") == name:
                self.events.remove(message)
                return message.get("params", {})
        raise BrowserError(f"no {name} event within {timeout} s")

    def navigate(self, url: str, *, timeout: float = 30.0) -> None:
        """Load ``url`` and wait for its load event."""
        self.send("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired", timeout=timeout)

    def evaluate(self, expression: str):
        """Evaluate a JavaScript expression in the page; returns its JSON value."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"script failed: {result['exceptionDetails'].get('text')} in {expression[:80]!r}")
        return result.get("result", {}).get("value")

    def click(self, selector: str) -> None:
        """Scroll the first element matching ``selector`` into view and click its centre with the mouse."""
        box = self.evaluate(
            f"(function(){{var e=document.querySelector({json.dumps(selector)});if(!e)return null;"
            "e.scrollIntoView({block:'center'});var r=e.getBoundingClientRect();"
            "return {x:r.left+r.width/2,y:r.top+r.height/2};})()")
        if box is None:
            raise BrowserError(f"nothing matches {selector!r}")
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": box["x"], "y": box["y"], "button": "left",
                                                   "clickCount": 1})

    def set_viewport(self, width: int, height: int) -> None:
        self.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height,
                                                         "deviceScaleFactor": 1, "mobile": False})

    def screenshot(self) -> bytes:
        """A PNG of the current viewport."""
        return base64.b64decode(self.send("Page.captureScreenshot", {"format": "png"})["data"])


class Browser:
    """A headless Chromium process (fresh profile in a temporary folder) as a context manager."""

    def __init__(self, executable: str | None, *, timeout: float = 60.0):
        if not executable:
            raise BrowserError("no Chromium or Chrome found; install one (Debian/Ubuntu: apt-get install -y "
                               "chromium) or set WSOLBENCH_CHROMIUM to its path")
        self.executable, self.timeout = executable, timeout
        self.process = None
        self.profile = None
        self.port = None
        self.browser_url = None
        self.sockets: list[WebSocket] = []

    def __enter__(self) -> "Browser":
        self.profile = tempfile.mkdtemp(prefix="wsolbench-chromium-")
        command = [self.executable, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}",
                   "--remote-debugging-port=0", "about:blank"]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True)
        self.port = self._wait_for_port()
        return self

    def _wait_for_port(self) -> int:
        deadline = time.monotonic() + self.timeout
        seen = []
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if not line and self.process.poll() is not None:
                break
            seen.append(line.rstrip())
            m = _LISTENING.search(line)
            if m:
                self.browser_url = m.group(1)
                return urlparse(m.group(1)).port
        self.__exit__(None, None, None)
        raise BrowserError(f"{self.executable} did not start its DevTools server: {' | '.join(seen[-5:])}")

    def open(self, url: str, *, width: int = 1280, height: int = 900) -> Page:
        """A new tab showing ``url`` (loaded, viewport ``width`` x ``height``)."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/json/new?about:blank", method="PUT")
        with urllib.request.urlopen(request, timeout=self.timeout) as answer:
            target = json.load(answer)
        ws = WebSocket(target["webSocketDebuggerUrl"], timeout=self.timeout)
        self.sockets.append(ws)
        page = Page(ws)
        page.set_viewport(width, height)
        page.navigate(url, timeout=self.timeout)
        return page

    def _close_gracefully(self) -> None:
        """Ask the browser to quit (it then reaps its own helper processes)."""
        try:
            ws = WebSocket(self.browser_url, timeout=10)
            ws.send(json.dumps({"id": 1, "method": "Browser.close"}))
            ws.close()
            self.process.wait(timeout=10)
        except (OSError, BrowserError, subprocess.TimeoutExpired):
            pass

    def __exit__(self, *exc) -> None:
        for ws in self.sockets:
            ws.close()
        if self.process is not None and self.process.poll() is None and self.browser_url:
            self._close_gracefully()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover
                self.process.kill()
                self.process.wait()
        if self.process is not None and self.process.stderr:
            self.process.stderr.close()
        if self.profile:
            shutil.rmtree(self.profile, ignore_errors=True)


def screenshot_page(html_path, out_path, *, filters: dict | None = None, width: int = 1280, height: int = 900,
                    executable: str | None = None) -> tuple[str, list[str]]:
    """Open a local HTML file in headless Chromium, apply filters, save a PNG of the viewport.

    Args:
        html_path: the page (e.g. ``leaderboard/index.html``).
        out_path: the PNG to write (atomically).
        filters: ``{"dataset": "cub", ...}``: values to choose in the page's filter menus.
        width, height: viewport in CSS pixels.
        executable: Chromium to use (default :func:`find_chromium`).

    Returns:
        The PNG path and the console errors the page produced (should be empty).
    """
    from pathlib import Path

    url = Path(html_path).resolve().as_uri()
    with Browser(executable or find_chromium()) as browser:
        page = browser.open(url, width=width, height=height)
        for name, value in (filters or {}).items():
            page.evaluate(f"(function(){{var s=document.querySelector('select[data-filter={json.dumps(name)}]');"
                          f"s.value={json.dumps(value)};s.dispatchEvent(new Event('change'));}})()")
        png = page.screenshot()
        errors = list(page.errors)
    out_path = os.fspath(out_path)
    write_bytes_atomic(out_path, png)
    return out_path, errors
