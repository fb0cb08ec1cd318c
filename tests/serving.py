"""Start ``cluster-console serve`` as a real process and read the address it prints."""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

READY_TIMEOUT_S = 30.0
URL = re.compile(r"open (http://\S+\?token=(\S+))")


@dataclass
class Served:
    proc: subprocess.Popen
    url: str  # the printed page address, token included
    token: str
    port: int
    stderr: str

    def read_stderr(self, quiet_s: float = 0.5) -> str:
        """Everything the server printed so far (reads until it has been quiet for quiet_s)."""
        assert self.proc.stderr is not None
        while select.select([self.proc.stderr], [], [], quiet_s)[0]:
            chunk = os.read(self.proc.stderr.fileno(), 65536)
            if not chunk:
                break
            self.stderr += chunk.decode(errors="replace")
        return self.stderr

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _read_until_url(proc: subprocess.Popen) -> tuple[str, str]:
    assert proc.stderr is not None
    seen = b""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 0.5)
        if ready:
            chunk = os.read(proc.stderr.fileno(), 65536)
            if not chunk:
                break
            seen += chunk
            text = seen.decode(errors="replace")
            if URL.search(text) and "Ctrl+C" in text:  # the start-up line
                return URL.search(text).group(1), text  # type: ignore[union-attr]
        elif proc.poll() is not None:
            break
    raise AssertionError(f"serve did not print its address:\n{seen.decode(errors='replace')}")


def _wait_listening(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)  # polling interval of the readiness probe, with a deadline
    raise AssertionError(f"serve is not listening on port {port}")


@contextmanager
def serve(*args: str, env: dict[str, str] | None = None) -> Iterator[Served]:
    """``with serve("--demo") as s:`` -> the running server; stopped (SIGINT) on exit."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "console", "serve", "--port", str(port), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    try:
        url, text = _read_until_url(proc)
        _wait_listening(port, proc)  # the banner comes on start-up, just before the socket opens
        yield Served(proc, url, url.rsplit("token=", 1)[1], port, text)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


CHROMIUM = "/usr/bin/chromium"
ANSI = re.compile(rb"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|[=>78])")


class BrowserSession:
    """Headless Chromium on the served page; what the terminal received, as plain text.

    The page draws the terminal on a canvas, so the text is read where it arrives: every
    websocket frame from the server is kept, and escape sequences are stripped from it.
    """

    def __init__(self, page: object) -> None:
        self.page = page
        self.frames: list[bytes] = []
        page.on("websocket", self._watch)  # type: ignore[attr-defined]

    def _watch(self, ws: object) -> None:
        ws.on("framereceived", lambda f: self.frames.append(f if isinstance(f, bytes) else f.encode()))  # type: ignore[attr-defined]

    def text(self) -> str:
        return ANSI.sub(b"", b"".join(self.frames)).decode("utf-8", "replace")

    def wait_for(self, *needles: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text()
            if all(n in text for n in needles):
                return text
            self.page.wait_for_timeout(100)  # type: ignore[attr-defined]  # lets Playwright deliver frames
        raise AssertionError(f"the page never showed {needles}; last 2000 characters:\n{self.text()[-2000:]}")


@contextmanager
def browser(url: str, *, width: int = 1280, height: int = 800) -> Iterator[BrowserSession]:
    """``with browser(served.url) as b:`` -> a BrowserSession on the page (system Chromium,
    nothing downloaded)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = chromium.new_page(viewport={"width": width, "height": height})
            session = BrowserSession(page)
            page.goto(url)
            yield session
        finally:
            chromium.close()
