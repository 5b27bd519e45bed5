"""Screenshot the served dashboard with headless Chromium (for the README).

    python scripts/screenshot.py [--data PATH] [--out assets/screenshot.png]

Starts ``spack-cache-dashboard serve`` on a free localhost port, waits for the
spec table, saves a full-page PNG, then one of each question view next to it
(``view-runs-here.png``, ``view-compare.png``, ``view-find.png``,
``view-row-commands.png``) and stops the server.  Rerun after UI changes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support import CHROMIUM, CHROMIUM_ARGS, free_port, start_server  # noqa: E402  (shared with the browser tests)

#: (file name, URL query, CSS of an element that shows the view is drawn)
VIEWS = [
    ("runs-here", "?view=runs-here&host=linux-ubuntu22.04-zen3", "b.runs-here-count"),
    ("compare", "?view=compare&a=develop-2025-03-23&b=develop-2025-03-30", "b.diff-specs-added"),
    ("find", "?view=find&q=axl%400.9%20%2Bbapi%20target%3Dzen3%20%25gcc%4011", "b.find-exact-count"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "assets" / "screenshot.png"))
    args = parser.parse_args()
    port = free_port()
    server = start_server(args.data, port)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            t0 = time.monotonic()
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_selector(".tabulator-row", timeout=60000)
            print(f"table visible {time.monotonic() - t0:.2f} s after navigation")
            page.wait_for_timeout(1500)
            page.screenshot(path=args.out, full_page=True)
            folder = Path(args.out).parent
            base = f"http://127.0.0.1:{port}/"
            for name, query, ready in VIEWS:
                page.goto(base + query)
                page.wait_for_selector(ready, timeout=60000)
                page.wait_for_timeout(2000)
                page.screenshot(path=str(folder / f"view-{name}.png"))
            page.goto(base + "?stack=e4s")
            page.wait_for_selector(".tabulator-row", timeout=60000)
            page.locator(".tabulator-row .tabulator-cell", has_text="\u25ba").first.click()
            page.locator("code.install-cmd").first.wait_for(timeout=10000)
            page.locator(".spec-detail").first.scroll_into_view_if_needed()
            page.wait_for_timeout(800)
            page.screenshot(path=str(folder / "view-row-commands.png"))
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
