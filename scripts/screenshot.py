"""Screenshot the served dashboard with headless Chromium (for the README).

    python scripts/screenshot.py [--data PATH] [--out assets/screenshot.png]

Starts ``spack-cache-dashboard serve`` on a free localhost port, waits for the
spec table, saves a full-page PNG and stops the server.  Rerun after UI changes.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
]


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data: str | None, port: int, timeout: float = 90, panel_serve: bool = False) -> subprocess.Popen:
    """Start the dashboard server and wait until it answers HTTP (raises on timeout).

    ``panel_serve=True`` runs ``panel serve dashboard/app.py`` (data loads after the
    first page opens) instead of ``spack-cache-dashboard serve`` (data loads first).
    """
    if panel_serve:
        app = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
        cmd = [sys.executable, "-m", "panel", "serve", app, "--port", str(port), "--address", "127.0.0.1"]
        cmd += ["--args", "--data", data] if data else []
    else:
        cmd = [sys.executable, "-m", "dashboard.cli", "serve", "--port", str(port), "--address", "127.0.0.1"]
        cmd += ["--data", data] if data else []
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stdout.read()}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
            return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise TimeoutError(f"server on port {port} did not answer in {timeout} s")


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
