"""The console in a real browser: ``cluster-console serve --demo``, headless Chromium (the
system package, driven by Playwright; nothing is downloaded at test time), keys typed on the
page, the Nodes table read from what the page's terminal received."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from tests.serving import CHROMIUM, browser, serve
from tests.system import need


def _need_browser() -> None:
    need(os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} (Debian package chromium) is not installed")
    need(importlib.util.find_spec("playwright") is not None, "the playwright package is not installed")


def test_discover_in_the_browser(tmp_path: Path) -> None:
    _need_browser()
    with serve("--demo") as served, browser(served.url) as b:
        before = b.wait_for("1 Nodes", "Discover")  # the console is up in the page
        assert "10.10.100.10" not in before  # nothing discovered yet
        b.page.locator("body").click()
        b.page.keyboard.press("d")
        # both servers with their addresses, and node01's cards with their device IPs
        b.wait_for("127.0.0.11", "127.0.0.12", "10.10.100.10", "10.10.100.17", "Success")
        shot = tmp_path / "serve.png"
        b.page.screenshot(path=str(shot))
        assert shot.stat().st_size > 10_000


def test_the_page_without_the_token_is_refused() -> None:
    _need_browser()
    with serve() as served, browser(served.base + "/") as b:
        assert "access token" in b.page.content()
        assert not b.frames  # no websocket, no console
