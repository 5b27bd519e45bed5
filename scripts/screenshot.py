"""Screenshot the served dashboard with headless Chromium (for the README).

    python scripts/screenshot.py [--data PATH] [--out assets/screenshot.png]

Starts ``spack-cache-dashboard serve`` on a free localhost port, waits for the
spec table, saves a full-page PNG and stops the server.  Rerun after UI changes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support import CHROMIUM, CHROMIUM_ARGS, free_port, start_server  # noqa: E402  (shared with the browser tests)

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
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
