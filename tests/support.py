"""Helpers shared by the browser tests and ``scripts/screenshot.py``: Debian's
Chromium, a free port, the dashboard server started and awaited."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: Seconds a test waits for a state to show before it fails (``SCD_TEST_PATIENCE``).  A
#: bound, not a guess at how long things take: every wait returns as soon as the state
#: shows, so a generous bound costs nothing on a quiet machine and keeps a busy one green.
PATIENCE = float(os.environ.get("SCD_TEST_PATIENCE", "120"))
PATIENCE_MS = int(PATIENCE * 1000)
#: Milliseconds before a step that may have been undone by the page is tried again (a
#: selector's list closed by its rebuild): a retry, never a failure.
RETRY_MS = 10_000
OPEN_RETRY_MS = 4_000  # a list that did not open: open it again

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


def start_server(data: str | None, port: int, timeout: float = PATIENCE, panel_serve: bool = False, env: dict | None = None,
                 extra_args: list[str] | None = None, cwd: str | None = None) -> subprocess.Popen:
    """Start the dashboard server and wait until it answers HTTP (raises on timeout).

    Its output goes to a log file, ``proc.log`` (a pipe nobody reads would fill
    and stall the server once it has logged 64 KiB).

    ``panel_serve=True`` runs ``panel serve dashboard/app.py`` (data loads after the
    first page opens) instead of ``spack-cache-dashboard serve`` (data loads first).
    ``env``: variables set for the server on top of this process's environment;
    ``extra_args``: more command-line arguments (e.g. ``["--sizes"]``); ``cwd``: the
    folder it runs in (``python -m`` imports from there first).
    """
    if panel_serve:
        app = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
        # Bokeh before 3.9 allows only the 'localhost' origin unless told (its 403 on the websocket)
        cmd = [sys.executable, "-m", "panel", "serve", app, "--port", str(port), "--address", "127.0.0.1",
               "--allow-websocket-origin", f"127.0.0.1:{port}"]
        cmd += ["--args", "--data", data] if data else []
    else:
        cmd = [sys.executable, "-m", "dashboard.cli", "serve", "--port", str(port), "--address", "127.0.0.1"]
        cmd += ["--data", data] if data else []
    cmd += extra_args or []
    log = Path(tempfile.mkstemp(prefix=f"dashboard-server-{port}-", suffix=".log")[1])
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, text=True, env={**os.environ, **(env or {})}, cwd=cwd)
    proc.log = log
    try:
        wait_http(port, proc, timeout)
    except Exception:
        proc.kill()
        raise
    return proc


def wait_http(port: int, proc: subprocess.Popen | None = None, timeout: float = PATIENCE) -> None:
    """Wait until a server on ``port`` answers HTTP at all.

    It asks for a path no app serves: the 404 comes from the web server itself, so
    waiting builds no dashboard session (asking for ``/`` would build a whole page at
    every try and load the machine the test waits on).  Raises ``RuntimeError`` if
    ``proc`` exits first, ``TimeoutError`` after ``timeout`` seconds."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            log = getattr(proc, "log", None)
            raise RuntimeError(f"server exited: {log.read_text()[-5000:] if log else proc.returncode}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/__not_an_app_path__", timeout=PATIENCE)
            return
        except urllib.error.HTTPError:  # any HTTP answer: the server is up
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"server on port {port} did not answer in {timeout} s") from None
            time.sleep(0.2)


# -- reading and driving the served app in Playwright -------------------------------

def number(pg, title: str) -> int:
    """Value shown by the headline Number indicator titled ``title``."""
    text = pg.locator(".pn-number, div", has_text=re.compile(rf"^{title}\s*[\d,]+$")).last.inner_text()
    return int(text.split()[-1].replace(",", ""))


def wait_value(pg, read, value, timeout: float = PATIENCE):
    """Poll ``read(pg)`` until it equals ``value`` (the browser updates asynchronously).

    ``pg`` is a Playwright page or locator.  Between reads it waits with Playwright's
    ``wait_for_timeout``, not ``time.sleep``: the sync API handles the browser's events
    only inside its own calls, so a read of client-side state (``page.url`` is updated
    by the navigation event of ``history.pushState``) would otherwise stay stale until
    some other call happened to run."""
    page = getattr(pg, "page", pg)  # a Locator's page
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = read(pg)
            if last == value:
                return
        except Exception as exc:  # element not rendered yet
            last = exc
        page.wait_for_timeout(200)
    raise AssertionError(f"never showed {value} (last: {last})")


def wait_number(pg, title: str, value: int, timeout: float = PATIENCE):
    wait_value(pg, lambda p: number(p, title), value, timeout)


def open_option(root, selector_index: int, value: str, count: int | None = None, tries: int = 4):
    """Open the n-th multi-choice selector (tag, stack, os, target, version) in ``root``
    (a page or a part of it) and return the locator of ``value``'s option, once shown.
    A value the open list does not show (long lists show their first options) is typed
    first, as a user would.  ``count``: wait for the option to show this spec count.

    The counts arrive a moment after each change's answer
    (:data:`dashboard.app.RELABEL_DELAY_MS`) and the browser rebuilds the selectors they
    change, closing an open list: then the list is opened again, as a user would, up to
    ``tries`` times."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    box = root.locator("input.choices__input--cloned").nth(selector_index)
    text = rf"^{re.escape(value)} \({count:,}\)" if count is not None else rf"^{re.escape(value)} \("
    option = root.locator(".choices__list--dropdown .choices__item--choice", has_text=re.compile(text)).first
    for attempt in range(tries):
        box.click()
        if not option.count():
            if box.input_value():  # text typed by an earlier try (clearing an empty box would
                box.fill("")       # act as Backspace: Choices.js removes the last chosen value)
            box.type(value)
        try:
            option.wait_for(state="visible", timeout=OPEN_RETRY_MS if attempt < tries - 1 else PATIENCE_MS)
            return option
        except PlaywrightTimeout:
            if attempt == tries - 1:
                raise
            box.press("Escape")
    raise ValueError(f"tries must be at least 1, not {tries}")


def pick(pg, selector_index: int, value: str, within=None, tries: int = 3, count: int | None = None):
    """Choose ``value`` in the n-th multi-choice selector of the page ``pg``, or of the
    part of it located by ``within`` (see :func:`open_option`).  A click that the
    selector's rebuild swallowed (the chosen value not shown as chosen) is made again.
    ``count``: click only once the option shows this spec count, as a person reads the
    counts before clicking (the counts of the previous change have arrived: no rebuild
    carrying the previous answer can come after the click)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    root = within if within is not None else pg
    chosen = root.locator("div.choices").nth(selector_index).locator(".choices__list--multiple .choices__item", has_text=re.compile(rf"^{re.escape(value)} \("))
    for attempt in range(tries):
        try:
            open_option(root, selector_index, value, count=count).click(timeout=RETRY_MS)
        except PlaywrightTimeout:  # the list was rebuilt (closed) under the pointer: open it again
            continue
        pg.keyboard.press("Escape")
        try:  # the chip shows at the click, in the browser; a swallowed click shows none
            chosen.first.wait_for(state="attached", timeout=RETRY_MS)
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"{value!r} is not shown as chosen in selector {selector_index} after {tries} clicks")


def expand_row(pg, detail_css: str, tries: int = 4):
    """Click the first table row's ► until the row opens (its arrow turns ▼), then wait
    for its detail (``detail_css``, sent by the server): a click made while the table is
    redrawn on a busy machine opens nothing and is made again; an open row is never
    clicked again (that would close it)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    arrow = pg.locator(".tabulator-row").first.locator(".tabulator-cell", has_text=re.compile("^[►▼]$")).first
    for _ in range(tries):
        if arrow.inner_text().strip() == "►":
            arrow.click()
        try:
            pg.locator(".tabulator-row").first.locator(".tabulator-cell", has_text="▼").first.wait_for(timeout=RETRY_MS)
            break
        except PlaywrightTimeout:
            continue
    detail = pg.locator(detail_css).first
    detail.wait_for(timeout=PATIENCE_MS)
    return detail


def table_rows(pg) -> int:
    """Row count the app shows above the table."""
    return int(pg.locator("b.row-count").first.inner_text().replace(",", ""))


def column_texts(pg, field: str) -> list[str]:
    return pg.locator(f"div.tabulator-row div.tabulator-cell[tabulator-field='{field}']").all_inner_texts()


def selected(pg, selector_index: int) -> list[str]:
    """Values shown as chosen in the n-th multi-choice selector."""
    box = pg.locator("div.choices").nth(selector_index)
    return [t.rsplit(" (", 1)[0] for t in box.locator(".choices__list--multiple .choices__item").all_inner_texts()]


def wait_started(proc: subprocess.Popen, url: str, log: Path, what: str, timeout: float = PATIENCE) -> None:
    """Wait until the service ``proc`` started answers ``url`` over HTTP; fails the test
    (with the end of ``log``) if it exits or does not answer within ``timeout`` seconds."""
    import urllib.request

    import pytest

    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=5).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"{what} did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
