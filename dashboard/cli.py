"""Command line: ``spack-cache-dashboard {serve,export,summary}``."""

from __future__ import annotations

import argparse
import sys
import time
import webbrowser
from contextlib import contextmanager

from .config import add_data_argument, data_path
from .sources.mirror import MirrorError

PAGE_NAME = "specs.md"


@contextmanager
def _progress_bar():
    """A ``progress(done, total)`` callback drawing a tqdm bar (pages, pages/s) on
    stderr; the bar appears with the first call and is closed on exit."""
    from tqdm import tqdm

    bar, bar_unit = None, None
    labels = {"page": "Parsing pages", "mirror": "Checking mirrors", "B": "Downloading index", "manifest": "Reading spec manifests"}

    def progress(done: int, total: int | None, unit: str = "page"):
        nonlocal bar, bar_unit
        if bar is None or unit != bar_unit:
            if bar is not None:
                bar.close()
            bar_unit = unit
            bar = tqdm(total=total, unit=unit, unit_scale=unit == "B", desc=labels[unit], file=sys.stderr, disable=None)
        if done < bar.n:  # a new download
            bar.reset(total=total)
        bar.update(done - bar.n)

    try:
        yield progress
    finally:
        if bar is not None:
            bar.close()


def _load_with_bar(path: str, cache: bool = True, sizes: bool = False):
    """Load ``path`` with a progress bar (see :func:`_progress_bar`)."""
    from .load import load

    with _progress_bar() as progress:
        return load(path, cache=cache, progress=progress, sizes=sizes)


def cmd_summary(args) -> int:
    """Print per-tag and total counts, then problems; exit 1 only if nothing loaded."""
    import pandas as pd

    t0 = time.perf_counter()
    data = _load_with_bar(args.data, cache=not args.no_cache, sizes=args.sizes)
    elapsed = time.perf_counter() - t0
    if data.pages.empty and data.report.mirrors is not None:
        for row in data.problems.itertuples():
            print(f"  [{row.severity}] {row.problem}", file=sys.stderr)
        print(f"error: no binaries loaded from {args.data} (see above)", file=sys.stderr)
        return 1
    if data.pages.empty:
        print(f"error: no {PAGE_NAME} pages found under {args.data} (expected _cache/<tag>/<package>/{PAGE_NAME})", file=sys.stderr)
        return 1
    table = data.summary()
    print(f"Source: {data.source}")
    print(f"Load: {elapsed:.2f} s ({data.cache_status})")
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(table.to_string())
    problems = data.problems
    print(f"\nProblems: {len(problems)}")
    for row in problems.itertuples():
        print(f"  [{row.severity}] {row.path}: {row.problem}")
    if not len(data.specs):
        print(f"error: {len(data.pages)} page(s) found, none with a loadable spec (see the problems above)", file=sys.stderr)
        return 1
    return 0


def cmd_serve(args) -> int:
    """Serve the dashboard with Panel's server (data loaded once, shared by sessions)."""
    import panel as pn

    from . import app

    if not args.lazy:
        with _progress_bar() as progress:  # load before the first visitor arrives
            app.shared_data(args.data, progress=progress, sizes=args.sizes)
    url = f"http://{args.address}:{args.port}/"
    print(f"Serving the dashboard of {args.data} at {url}", flush=True)
    show = args.show
    if show:
        try:
            webbrowser.get()
        except webbrowser.Error:
            print(f"--show: no web browser found on this machine; open {url} yourself", file=sys.stderr, flush=True)
            show = False
    pn.serve(
        {"/": lambda: app.served_page(args.data, sizes=args.sizes)},
        port=args.port,
        address=args.address,
        show=show,
        title=app.TITLE,
        websocket_origin=args.allow_websocket_origin or [f"{args.address}:{args.port}", f"localhost:{args.port}"],
    )
    return 0


def cmd_export(args) -> int:
    """Write a standalone HTML file (inline JS/CSS, data embedded, no server needed)."""
    from .export import export_html

    data = _load_with_bar(args.data, cache=not args.no_cache, sizes=args.sizes)
    if data.specs.empty:
        print(f"error: no specs loaded from {args.data}: nothing to export", file=sys.stderr)
        return 1
    try:
        info = export_html(data, args.output, tag=args.tag)
    except ValueError as exc:  # e.g. an unknown --tag
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Wrote {args.output}: {info['bytes'] / 1e6:.2f} MB, {info['specs']:,} specs, {info['packages']:,} packages")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``spack-cache-dashboard`` argument parser."""
    parser = argparse.ArgumentParser(prog="spack-cache-dashboard", description="See what is inside Spack binary build caches.")
    sub = parser.add_subparsers(dest="command", required=True)

    def data_arg(p):
        add_data_argument(p)

    p = sub.add_parser("serve", help="serve the dashboard")
    data_arg(p)
    p.add_argument("--port", type=int, default=5006, help="TCP port to listen on (default: 5006)")
    p.add_argument(
        "--address", default="localhost",
        help="address to listen on (default: localhost, this machine only; 0.0.0.0 for every interface)",
    )
    p.add_argument("--show", action="store_true", help="open a browser tab (says so if this machine has no browser)")
    p.add_argument("--lazy", action="store_true", help="load data on the first visit, not at start-up")
    p.add_argument(
        "--allow-websocket-origin", action="append", metavar="HOST[:PORT]",
        help="host (as the browser sees it) allowed to open the dashboard's websocket, repeatable "
        "(default: ADDRESS:PORT and localhost:PORT); needed behind a proxy or on another host name",
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("export", help="write a standalone, offline HTML dashboard")
    data_arg(p)
    p.add_argument("output", help="HTML file to write")
    p.add_argument("--tag", action="append", help="only these tags (repeatable; default: all)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("summary", help="print what a tree holds and its problems")
    data_arg(p)
    p.set_defaults(func=cmd_summary)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        args.data = data_path(["--data", args.data] if args.data else [])
        return args.func(args)
    except (FileNotFoundError, MirrorError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
