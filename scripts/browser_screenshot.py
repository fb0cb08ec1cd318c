#!/usr/bin/env python3
"""``screenshots/serve.png``: the console in a browser (``cluster-console serve --demo``).

    python3 scripts/browser_screenshot.py [--out screenshots/serve.png]

Headless Chromium (the system package) opens the served demo, presses ``d`` and waits until
the Nodes pane shows the discovered servers, exactly as tests/integration/test_serve_browser.py
does; then the page is saved as PNG (the page draws the terminal on a canvas: no SVG here).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.serving import browser, serve  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots" / "serve.png")
    args = parser.parse_args()
    with serve("--demo") as served, browser(served.url, width=1200, height=720) as b:
        b.wait_for("1 Nodes", "Discover")
        b.page.locator("body").click()
        b.page.keyboard.press("d")
        b.wait_for("127.0.0.11", "127.0.0.12", "10.10.100.17", "Success")
        b.page.wait_for_timeout(500)  # let the canvas paint the last frame before the picture
        b.page.screenshot(path=str(args.out))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
