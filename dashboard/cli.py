"""Command line: ``spack-cache-dashboard {serve,export,summary,diff,why,storage,runs-here,match,verify}``.

Exit codes (the same for every subcommand; ``docs/cli.md`` has the table and the
``--json`` schemas):

* 0: done;
* 1: only when asked with ``--exit-code``: ``diff`` found differences, ``match`` no
  exact hit, ``runs-here`` nothing that runs; and ``verify`` when a binary is not
  verified (checking is what it is for);
* 2: a usage error or a value the data does not hold (an unknown tag or stack, a
  bad host, port, address or path);
* 3: a source failed: a mirror or registry could not be read (each is named on
  stderr), or nothing loaded at all.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import webbrowser
from contextlib import contextmanager
from typing import Callable

from dashboard.config import add_data_argument, data_path
from dashboard.sources.mirror import MirrorError
from dashboard.sources.signatures import KeyError_
from dashboard.core.terms import PROGRESS

PAGE_NAME = "specs.md"


@contextmanager
def _progress_bar():
    """A ``progress(done, total)`` callback drawing a tqdm bar (pages, pages/s) on
    stderr; the bar appears with the first call and is closed on exit."""
    from tqdm import tqdm

    bar, bar_unit = None, None

    def progress(done: int, total: int | None, unit: str = "page"):
        nonlocal bar, bar_unit
        if bar is None or unit != bar_unit:
            if bar is not None:
                bar.close()
            bar_unit = unit
            bar = tqdm(total=total, unit=unit, unit_scale=unit == "B", desc=PROGRESS.get(unit, unit), file=sys.stderr, disable=None)
        if done < bar.n:  # a new download
            bar.reset(total=total)
        bar.update(done - bar.n)

    try:
        yield progress
    finally:
        if bar is not None:
            bar.close()


#: Exit codes (see the module docstring).
EXIT_OK, EXIT_FOUND, EXIT_USAGE, EXIT_SOURCE = 0, 1, 2, 3


def _failed_sources(data) -> int:
    """Name on stderr every source that could not be read (``error`` problem rows of a
    mirror, registry or whole source); returns how many."""
    rows = data.failed_sources()
    for row in rows.itertuples():
        print(f"error: {row.problem}", file=sys.stderr)
    return len(rows)


def _finish(data, code: int) -> int:
    """``code``, or :data:`EXIT_SOURCE` when a source failed (each named on stderr)."""
    return EXIT_SOURCE if _failed_sources(data) else code


def _json_default(value):
    import numpy as np
    import pandas as pd

    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return None if np.isnan(value) else float(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value)


def _records(frame) -> list[dict]:
    """A DataFrame as JSON-ready records: missing values are ``null``, categories text."""
    import pandas as pd

    plain = frame.astype(object).where(frame.notna(), None) if len(frame) else frame
    return [{k: (None if v is pd.NA else v) for k, v in row.items()} for row in plain.to_dict("records")]


def _emit_json(payload: dict) -> None:
    json.dump(payload, sys.stdout, indent=2, default=_json_default, ensure_ascii=False)
    sys.stdout.write("\n")


def _emit_table(args, frame, text: Callable[[], None]) -> None:
    """``--format csv``: ``frame`` as CSV on stdout; else ``text()`` prints the table."""
    if getattr(args, "format", "table") == "csv":
        frame.to_csv(sys.stdout, index=False)
    else:
        text()


def _load_with_bar(path: str, cache: bool = True, sizes: bool = False):
    """Load ``path`` with a progress bar (see :func:`_progress_bar`)."""
    from dashboard.load import load

    with _progress_bar() as progress:
        return load(path, cache=cache, progress=progress, sizes=sizes)


def cmd_summary(args) -> int:
    """Print per-tag and total counts (packages, specs, stacks, OSes, targets,
    problems, sizes), then the problems; exit 3 when a source failed or nothing loaded."""
    import pandas as pd

    from dashboard.core.terms import human_bytes

    t0 = time.perf_counter()
    data = _verified(args, _load_with_bar(args.data, cache=not args.no_cache, sizes=args.sizes))
    elapsed = time.perf_counter() - t0
    table = data.summary()
    failed = _failed_sources(data)
    if args.json:
        from dashboard.domain.verify import headline

        rows = table.reset_index(names="tag")
        _emit_json({
            "source": data.source, "load": {"seconds": round(elapsed, 3), "store": data.report.store},
            "tags": _records(rows[rows["tag"] != "TOTAL"]), "total": (_records(rows[rows["tag"] == "TOTAL"].drop(columns="tag")) or [None])[0],
            "signatures": headline(data.specs) if args.verify and len(data.mirrors) else None,
            "problems": _records(data.problems), "failed_sources": list(data.failed_sources()["path"]),
        })
    elif getattr(args, "format", "table") == "csv":
        table.reset_index(names="tag").to_csv(sys.stdout, index=False)
    else:
        print(f"Source: {data.source}")
        print(f"Load: {elapsed:.2f} s ({data.cache_status})")
        shown = table.assign(size=[human_bytes(v) if v is not pd.NA else "unknown" for v in table["size"]]) if len(table) else table
        with pd.option_context("display.width", 200, "display.max_rows", 500):
            print(shown.to_string())
        if len(data.nodes):
            ext = int(data.nodes["external"].astype(bool).sum())
            print(f"\nIn the indexes but no binaries: {ext} externals (never pushed), {len(data.nodes) - ext} records not pushed")
        if args.verify and len(data.mirrors):
            from dashboard.domain.verify import headline

            print(f"Signatures: {headline(data.specs)}")
        print(f"\nProblems: {len(data.problems)}")
        for row in data.problems.itertuples():
            print(f"  [{row.severity}] {row.path}: {row.problem}")
    if data.pages.empty:
        what = "binaries" if data.report.mirrors is not None else f"{PAGE_NAME} pages (expected _cache/<tag>/<package>/{PAGE_NAME})"
        print(f"error: no {what} loaded from {_short(args.data)}", file=sys.stderr)
        return EXIT_SOURCE
    if not len(data.specs):
        print(f"error: {len(data.pages)} page(s) found, none with a loadable spec (see the problems above)", file=sys.stderr)
        return EXIT_SOURCE
    return EXIT_SOURCE if failed else EXIT_OK


#: The allocator a long-running server uses: the C library's (see :func:`_with_system_allocator`).
SERVER_ALLOCATOR = "malloc"


def _with_system_allocator() -> None:
    """Run this ``serve`` again in the same process with ``PYTHONMALLOC=malloc``,
    unless ``PYTHONMALLOC`` is set already (``PYTHONMALLOC=pymalloc`` keeps Python's
    own allocator).

    Python's small-object allocator frees an arena only once every object in it is
    gone, so the objects sessions leave behind (caches, interned names) pin arenas and
    a server that had 50 sessions open kept ~100 MB after they closed (999 MB against
    900 MB before, at 2M spec rows).  With the C library's allocator,
    ``malloc_trim`` gives freed pages back wherever they are: 899-903 MB after the same
    rounds (``python -m benchmarks.browser --memory``).  Linux (glibc) only."""
    if os.environ.get("PYTHONMALLOC") or not sys.platform.startswith("linux"):
        return
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # `-m dashboard.cli` finds this copy
    env = {**os.environ, "PYTHONMALLOC": SERVER_ALLOCATOR,
           "PYTHONPATH": os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")]))}
    os.execve(sys.executable, [sys.executable, "-m", "dashboard.cli", *sys.argv[1:]], env)


def cmd_serve(args) -> int:
    """Serve the dashboard with Panel's server (data loaded once, shared by sessions)."""
    import socket

    try:
        socket.getaddrinfo(args.address, args.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        print(f"error: --address {_short(args.address)}: not an address of this machine ({exc})", file=sys.stderr)
        return 2
    import panel as pn

    from dashboard import app

    verify = (args.trusted_keys, args.gnupghome) if args.verify else None
    if not args.lazy:
        with _progress_bar() as progress:  # load before the first visitor arrives
            app.shared_data(args.data, progress=progress, sizes=args.sizes, verify=verify)
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
        {"/": lambda: app.served_page(args.data, sizes=args.sizes, verify=verify)},
        port=args.port,
        address=args.address,
        show=show,
        title=app.TITLE,
        websocket_origin=args.allow_websocket_origin or [f"{args.address}:{args.port}", f"localhost:{args.port}"],
    )
    return 0


def _verified(args, data):
    """``data`` with each binary's signature when ``--verify`` was given
    (:func:`dashboard.domain.verify.with_signatures`), else ``data``."""
    if not args.verify:
        return data
    from dashboard.sources.signatures import trusted_keys
    from dashboard.domain.verify import with_signatures

    return with_signatures(data, trusted_keys(args.trusted_keys, args.gnupghome))


def cmd_export(args) -> int:
    """Write a standalone HTML file (inline JS/CSS, data embedded, no server needed)."""
    from dashboard.export import export_html

    if os.path.isdir(args.output):
        print(f"error: {_short(args.output)} is a folder; give the HTML file to write, e.g. {os.path.join(_short(args.output), 'cache.html')}", file=sys.stderr)
        return 2
    data = _verified(args, _load_with_bar(args.data, cache=not args.no_cache, sizes=args.sizes))
    if data.specs.empty:
        _failed_sources(data)
        print(f"error: no specs loaded from {_short(args.data)}: nothing to export", file=sys.stderr)
        return EXIT_SOURCE
    try:
        info = export_html(data, args.output, tag=args.tag)
    except ValueError as exc:  # e.g. an unknown --tag
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        _emit_json({"output": str(args.output), **info})
    else:
        from dashboard.core.terms import human_bytes

        print(f"Wrote {args.output}: {human_bytes(info['bytes'])}, {info['specs']:,} specs, {info['packages']:,} packages")
    return _finish(data, EXIT_OK)


def cmd_diff(args) -> int:
    """Print what changed from tag (or stack) A to B; ``--csv`` writes the rows."""
    from dashboard.domain.diff import diff

    if args.csv and os.path.isdir(args.csv):
        print(f"error: --csv {_short(args.csv)} is a folder; give the CSV file to write", file=sys.stderr)
        return 2
    data = _load_with_bar(args.data, cache=not args.no_cache, sizes=args.sizes)
    column = "stack" if args.stacks else "tag"
    present = sorted({str(v) for v in data.spec_stacks["stack"].unique()}) if args.stacks else data.tags
    for name in (args.a, args.b):
        if name not in present:
            _failed_sources(data)
            print(f"error: no {column} {_short(name)!r} in {_short(args.data)} (present: {', '.join(present)})", file=sys.stderr)
            return EXIT_USAGE

    def side(name):
        if not args.stacks:
            return data.specs[data.specs["tag"] == name]
        ids = data.spec_stacks.loc[data.spec_stacks["stack"] == name, "spec"].to_numpy()
        return data.specs.iloc[ids]

    result = diff(side(args.a), side(args.b))
    cols = ["change", "package", "version_a", "version_b", "hash_a", "hash_b", "compiler", "os", "target"]
    if args.json:
        _emit_json({"a": args.a, "b": args.b, "by": column, "counts": {k.replace(" ", "_"): v for k, v in result.counts.items()},
                    "packages_added": list(result.packages_added), "packages_removed": list(result.packages_removed),
                    "by_stack": _records(result.by_stack), "rows": _records(result.rows[cols]) if len(result.rows) else []})
    elif args.format == "csv":
        result.rows.to_csv(sys.stdout, index=False)
    else:
        for kind, n in result.counts.items():
            print(f"{kind} {n}")
        for kind, names in (("added", result.packages_added), ("removed", result.packages_removed)):
            if names:
                print(f"\npackages {kind}: {', '.join(names)}")
        if len(result.rows):
            print()
            with _wide():
                print(result.by_stack.to_string(index=False))
                print()
                print(result.rows[cols].to_string(index=False))
    if args.csv:
        result.rows.to_csv(args.csv, index=False)
        print(f"\nwrote {len(result.rows)} rows to {args.csv}", file=sys.stderr if args.json or args.format == "csv" else sys.stdout)
    changed = any(result.counts.values())
    return _finish(data, EXIT_FOUND if args.exit_code and changed else EXIT_OK)


def _side(args, name: str, data_holder: dict):
    """The snapshot ``name`` names for ``why``: a source (an existing path or a URL)
    holding one tag, else a tag of ``--data`` (loaded once, kept in ``data_holder``).
    Returns ``(snapshot, sources that failed)`` or ``(None, message)``; a source's
    loaded cache is let go once its snapshot is made (a snapshot keeps what it needs)."""
    from dashboard.domain.causes import snapshot
    from dashboard.sources.remote import is_url

    if is_url(name) or os.path.exists(name):
        data = _load_with_bar(name, cache=not args.no_cache, sizes=args.sizes)
        tags = data.tags
        if len(tags) != 1:
            _failed_sources(data)
            held = f"tags {', '.join(tags)}" if tags else "no binaries"
            return None, f"{_short(name)} holds {held}: give one snapshot (one tag), or give --data {_short(name)} and two of its tags"
        return snapshot(data, tags[0], label=name), _failed_sources(data)
    if "data" not in data_holder:
        data_holder["data"] = _load_with_bar(args.data, cache=not args.no_cache, sizes=args.sizes)
    data = data_holder["data"]
    if name not in data.tags:
        _failed_sources(data)
        return None, f"no tag {_short(name)!r} in {_short(args.data)} (present: {', '.join(data.tags)}), and no such path"
    failed = 0 if data_holder.get("named") else _failed_sources(data)
    data_holder["named"] = True
    return snapshot(data, name), failed


def cmd_why(args) -> int:
    """Print why binaries were rebuilt between two snapshots: root causes ranked by the
    specs (and bytes) they rebuilt, with ``--specs`` each rebuilt binary too."""
    from dashboard.core.terms import human_bytes
    from dashboard.domain.causes import compare

    if bool(args.since_last) == bool(args.old and args.new) or (args.since_last and (args.old or args.new)):
        print("error: give OLD and NEW, or --since-last MIRROR alone", file=sys.stderr)
        return EXIT_USAGE
    if args.since_last:
        from dashboard.domain.causes import snapshot
        from dashboard.sources.mirror import load_previous

        data = _load_with_bar(args.since_last, cache=True, sizes=args.sizes)  # a changed index keeps the one it replaces
        if len(data.tags) != 1:
            print(f"error: --since-last {_short(args.since_last)}: {len(data.tags)} tags; name one mirror", file=sys.stderr)
            return EXIT_USAGE
        earlier = load_previous(args.since_last)
        if earlier is None:
            print(f"error: --since-last {_short(args.since_last)}: the store keeps no earlier index of it (its index has not changed "
                  "since it was first read here)", file=sys.stderr)
            return EXIT_USAGE
        failed = _failed_sources(data)
        old, new = snapshot(earlier, earlier.tags[0], label=earlier.tags[0]), snapshot(data, data.tags[0], label=f"{data.tags[0]} (now)")
        del data, earlier
    else:
        holder: dict = {}
        sides, failed = [], 0
        for name in (args.old, args.new):
            snap, why = _side(args, name, holder)
            if snap is None:
                print(f"error: {why}", file=sys.stderr)
                return EXIT_USAGE
            sides.append(snap)
            failed += why
        holder.clear()  # the snapshots hold what the comparison needs: the loaded caches can go
        old, new = sides
    result = compare(old, new)
    ranked, changed = result.ranked, result.changed
    if args.json:
        _emit_json({"old": old.label, "new": new.label, "counts": result.counts, "traced": result.has_edges, "note": result.note,
                    "causes": _records(ranked), "by_stack": _records(result.by_stack),
                    "changed": _records(changed) if args.specs else None})
    elif args.format == "csv":
        (changed if args.specs else ranked).to_csv(sys.stdout, index=False)
    else:
        c = result.counts
        print(f"{old.label} -> {new.label}: {c['changed']:,} binaries rebuilt, {c['added']:,} added, {c['removed']:,} removed, {c['unchanged']:,} unchanged")
        if result.note:
            print(f"note: {result.note}")
        if len(ranked):
            print("\nroot causes, most rebuilt first:" if result.has_edges else "\nchanges by their own fields, most specs first:")
        for row in ranked.itertuples():
            size = human_bytes(row.bytes) + (f" + {row.unknown:,} of unknown size" if row.unknown else "") if row.bytes or not row.unknown else "size unknown"
            stacks = f" in {row.stacks} stack{'s' if row.stacks != 1 else ''}" if row.stacks else ""
            print(f"  {row.cause}: rebuilt {row.specs:,} spec{'s' if row.specs != 1 else ''}{stacks} ({size})")
        if args.specs and len(changed):
            print()
            with _wide():
                print(changed[["package", "version", "old_version", "hash", "old_hash", "classes", "causes"]].to_string(index=False))
    code = EXIT_FOUND if args.exit_code and (result.counts["changed"] or result.counts["added"] or result.counts["removed"]) else EXIT_OK
    return EXIT_SOURCE if failed else code


def _keep_hashes(args, data) -> tuple[set[str] | None, str]:
    """The keep list of ``storage --keep FILE`` (a Spack keep list, or a ``spack.lock``:
    all its concrete specs) or ``--keep-tags N``, and what it was; ``(None, "")`` without.

    Raises:
        dashboard.domain.storage.KeepListError, OSError: a file Spack would refuse, or unreadable.
    """
    from dashboard.domain.storage import keep_last_tags, read_keep

    if args.keep_tags is not None:
        return keep_last_tags(data.specs, args.keep_tags)
    if not args.keep:
        return None, ""
    with open(args.keep, encoding="utf-8", errors="replace") as handle:
        return read_keep(handle.read(64 * 2**20), _short(args.keep))


def cmd_storage(args) -> int:
    """Print what the cache costs (bytes per tag, stack, package; duplicates; growth) and,
    with ``--keep`` or ``--keep-tags``, what pruning down to that keep list would free."""
    from dashboard.core.terms import human_bytes
    from dashboard.domain.storage import KeepListError, prune_preview, storage

    data = _load_with_bar(args.data, cache=not args.no_cache, sizes=args.sizes)
    try:
        keep, what = _keep_hashes(args, data)
    except (KeepListError, ValueError) as exc:
        _failed_sources(data)
        print(f"error: {_short(str(exc), 500)}", file=sys.stderr)
        return EXIT_USAGE
    result = storage(data)
    plan = prune_preview(data, keep) if keep is not None else None

    def size(nbytes, unknown):
        if unknown and not nbytes:
            return f"size unknown ({unknown:,} binaries of unknown size)"
        return human_bytes(nbytes) + (f" + {unknown:,} of unknown size" if unknown else "")

    def people(frame):  # byte columns in IEC units for reading (--json and csv keep the bytes)
        return frame.assign(**{c: frame[c].map(human_bytes) for c in ("bytes", "bytes_change", "extra_bytes") if c in frame})

    if args.json:
        _emit_json({"total": result.total, "by_tag": _records(result.by_tag), "by_stack": _records(result.by_stack),
                    "by_package": _records(result.by_package), "duplicates": _records(result.duplicates),
                    "prune": None if plan is None else {"keep": what, "pruned": len(plan.pruned), "kept": plan.kept, "bytes": plan.bytes,
                                                        "unknown": plan.unknown, "keep_not_in_cache": sorted(plan.keep_unknown),
                                                        "by_mirror": _records(plan.by_mirror), "rows": _records(plan.pruned)}})
    elif args.format == "csv":
        (plan.pruned if plan is not None else result.by_tag).to_csv(sys.stdout, index=False)
    else:
        t = result.total
        print(f"{t['specs']:,} binaries, {size(t['bytes'], t['unknown'])}")
        with _wide():
            print("\nper tag, oldest first (a binary once per tag):")
            print(people(result.by_tag).to_string(index=False))
            print("\nper stack (each stack's mirror holds its own copy):")
            print(people(result.by_stack.head(args.top)).to_string(index=False))
            print(f"\nlargest packages (top {args.top}):")
            print(people(result.by_package.head(args.top)).to_string(index=False))
            dup = result.duplicates
            print(f"\nduplicates: {len(dup):,} builds held under several hashes in one tag"
                  + (f", {human_bytes(int(dup['extra_bytes'].sum()))} beyond one copy each" if len(dup) else ""))
            if len(dup):
                print(people(dup.head(args.top)).to_string(index=False))
        if plan is not None:
            mirrors = int((plan.by_mirror["pruned"] > 0).sum())
            print(f"\nprune preview, keeping {what}: would prune {len(plan.pruned):,} binaries in {mirrors:,} mirror{'s' if mirrors != 1 else ''}, "
                  f"freeing {size(plan.bytes, plan.unknown)}; {plan.kept:,} kept (nothing is deleted)")
            if plan.keep_unknown:
                print(f"  {len(plan.keep_unknown):,} hashes of the keep list are in no mirror here")
            for row in plan.pruned.head(args.top * 5).itertuples():
                print(f"  would prune: {row.package}/{row.hash[:7]}  ({row.tag}/{row.stack})")
            if len(plan.pruned) > args.top * 5:
                print(f"  ... and {len(plan.pruned) - args.top * 5:,} more (--json or --format csv lists all)")
    return EXIT_SOURCE if _failed_sources(data) else EXIT_OK


def cmd_runs_here(args) -> int:
    """Print how many specs run on the detected or given host, then per package."""
    from dashboard.core.compat import UnknownTarget, detect_host, parse_host, summary

    try:
        host = parse_host(args.host) if args.host else detect_host()
    except (UnknownTarget, ValueError) as exc:
        print(f"error: --host: {exc}", file=sys.stderr)
        return 2
    data = _load_with_bar(args.data, cache=not args.no_cache, sizes=args.sizes)
    unknown = [t for t in args.tag or [] if t not in data.tags]
    if unknown:
        _failed_sources(data)
        print(f"error: no tag {_short(unknown[0])!r} in {_short(args.data)} (present: {', '.join(data.tags)})", file=sys.stderr)
        return EXIT_USAGE
    specs = data.specs[data.specs["tag"].isin(args.tag)] if args.tag else data.specs
    result = summary(specs, host)
    from dashboard.core.compat import runs_here

    runs = specs[runs_here(specs, host)["runs"].to_numpy()]
    per = (runs.groupby(runs["package"].astype(str)).agg(specs=("hash", "size"), versions=("version", lambda v: ", ".join(sorted(set(map(str, v))))))
           .reset_index() if len(runs) else None)
    if args.json:
        _emit_json({"host": result["host"], "detected": not args.host, "runs": result["runs"], "total": result["total"],
                    "why": dict(result["why"]), "unknown_targets": list(result["unknown_targets"]),
                    "packages": _records(per) if per is not None else []})
    elif args.format == "csv":
        if per is not None:
            per.to_csv(sys.stdout, index=False)
        else:
            print("package,specs,versions")
    else:
        print(f"host {result['host']}" + ("" if args.host else " (detected)"))
        print(f"specs that run here {result['runs']} of {result['total']}")
        if result["why"]:
            print("\nwhy the others do not:")
            for reason, n in result["why"].items():
                print(f"  {n:>8,}  {reason}")
        if result["unknown_targets"]:
            print(f"\ntargets archspec does not know (counted as not running): {', '.join(result['unknown_targets'])}")
        if per is not None:
            print()
            with _wide():
                print(per.set_index("package").to_string())
    return _finish(data, EXIT_FOUND if args.exit_code and not result["runs"] else EXIT_OK)


def cmd_match(args) -> int:
    """Print exact hits and the nearest binaries for a spec, hash, spec.json or spack.lock."""
    from pathlib import Path

    from dashboard.domain.match import LockFile, MatchInputError, lock_coverage, match, parse_input

    text = " ".join(args.spec)
    if len(args.spec) == 1 and len(text) < 4096 and Path(text).is_file():
        try:
            text = Path(text).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            print(f"error: {_short(text)} is not a text file (expected a spec.json or a spack.lock)", file=sys.stderr)
            return 2
    try:
        query = parse_input(text)
    except MatchInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    data = _load_with_bar(args.data, cache=not args.no_cache, sizes=args.sizes)
    csv = args.format == "csv"
    with _wide():
        if isinstance(query, LockFile):
            cov = lock_coverage(data.specs, query, data.nodes)
            if args.json:
                _emit_json({"lock": {k: cov[k] for k in ("total", "cached", "missing", "external", "not_pushed", "bytes", "unknown_sizes")},
                            "rows": _records(cov["rows"])})
            elif csv:
                cov["rows"].to_csv(sys.stdout, index=False)
            else:
                print(f"concrete specs in the cache {cov['cached']} of {cov['total']}")
                print(f"missing {cov['missing']}")
                print(f"externals (never binaries) {cov['external']}")
                if cov["not_pushed"]:
                    print(f"in the index but not pushed {cov['not_pushed']}")
                print(f"download size {cov['bytes']:,} bytes" + (f" ({cov['unknown_sizes']} sizes unknown)" if cov["unknown_sizes"] else ""))
                print()
                print(cov["rows"].to_string(index=False))
            return _finish(data, EXIT_FOUND if args.exit_code and cov["missing"] else EXIT_OK)
        result = match(data.specs, query, data.dependencies, limit=args.limit, nodes=data.nodes)
        cols = ["hash", "package", "version", "compiler", "os", "target", "tag", "stacks"]
        near = result["nearest"]
        if args.json:
            _emit_json({"query": str(result["query"]), "exact": _records(result["exact"][cols]) if len(result["exact"]) else [],
                        "candidates": result["candidates"],
                        "nearest": _records(near.assign(agree=near["agree"], of=near["of"])[["agree", "of", *cols[:3], "tag", "differs"]]) if len(near) else [],
                        "not_binaries": _records(result["not_binaries"])})
        elif csv:
            (result["exact"][cols] if len(result["exact"]) else result["exact"].reindex(columns=cols)).to_csv(sys.stdout, index=False)
        else:
            print(f"query {result['query']}")
            print(f"exact hits {len(result['exact'])}")
            if len(result["exact"]):
                print(result["exact"][cols].to_string(index=False))
            if len(near):
                print(f"\nnearest of {result['candidates']} (fields that agree / asked, then what differs):")
                print(near.assign(agree=near["agree"].astype(str) + "/" + near["of"].astype(str))[["agree", *cols[:3], "tag", "differs"]].to_string(index=False))
            elif not len(result["exact"]):
                print(f"no binary of {query.name or 'that hash'} in {_short(args.data)}")
            others = result["not_binaries"]
            if len(others):
                print(f"\nin the index but no binary (externals are never pushed) {len(others)}")
                print(others.to_string(index=False))
    return _finish(data, EXIT_FOUND if args.exit_code and not len(result["exact"]) else EXIT_OK)


def cmd_verify(args) -> int:
    """Verify every binary's spec manifest signature (exit 0: all verified; 1: any
    binary unsigned, badly signed, signed by an unknown key or without a manifest;
    with ``--require-trusted``, also any verified only by a key the mirror publishes)."""
    from dashboard.sources.signatures import trusted_keys
    from dashboard.domain.verify import headline, verify_cache

    try:
        trusted = trusted_keys(args.trusted_keys, args.gnupghome)
    except (KeyError_, OSError, subprocess.TimeoutExpired) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    data = _load_with_bar(args.data, cache=not args.no_cache, sizes=False)
    if not len(data.mirrors):
        print(f"error: {_short(args.data)} holds no mirror (pages carry no signatures)", file=sys.stderr)
        return EXIT_USAGE
    rows, problems = verify_cache(data, trusted)
    for problem in problems:
        print(f"key problem: {problem}", file=sys.stderr)
    cols = ["signature", "signer", "package", "version", "hash", "tag", "stack"]
    shown = rows if args.all else rows[rows["signature"] != "verified"]
    if args.json:
        _emit_json({"headline": headline(rows), "counts": {k: int(v) for k, v in rows["signature"].value_counts().items()},
                    "rows": _records(rows[cols]), "key_problems": list(problems)})
    elif args.format == "csv":
        shown[cols].to_csv(sys.stdout, index=False)
    else:
        with _wide():
            print(headline(rows))
            if len(shown):
                print()
                print(shown[cols].to_string(index=False))
    good = {"verified"} if args.require_trusted else {"verified", "verified (mirror key)"}
    return _finish(data, EXIT_OK if rows["signature"].isin(good).all() else EXIT_FOUND)


def _port(text: str) -> int:
    """``--port``: an integer from 0 to 65535 (argparse reports anything else as a usage error)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{_short(text)!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0-65535)")
    return port


def _short(text: str, limit: int = 120) -> str:
    """``text`` cut to ``limit`` characters for a message (a 100,000-character path stays readable)."""
    text = str(text)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


@contextmanager
def _wide():
    import pandas as pd

    with pd.option_context("display.width", 250, "display.max_rows", 2000, "display.max_colwidth", 80):
        yield


def build_parser() -> argparse.ArgumentParser:
    """The ``spack-cache-dashboard`` argument parser."""
    from dashboard import __version__

    parser = argparse.ArgumentParser(prog="spack-cache-dashboard", description="See what is inside Spack binary build caches.",
                                     epilog="exit codes: 0 done; 1 with --exit-code, something found (or verify: not all verified); "
                                            "2 usage or unknown value; 3 a source failed (named on stderr)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def data_arg(p, tabular: bool = True, exit_code: str = ""):
        add_data_argument(p)
        p.add_argument("--json", action="store_true", help="print the result as JSON (schema: docs/cli.md)")
        if tabular:
            p.add_argument("--format", choices=("table", "csv"), default="table", help="table (default) or csv on stdout")
        if exit_code:
            p.add_argument("--exit-code", action="store_true", help=f"exit 1 when {exit_code} (as git diff --exit-code)")

    p = sub.add_parser("serve", help="serve the dashboard")
    add_data_argument(p)
    p.add_argument("--port", type=_port, default=5006, help="TCP port to listen on, 0-65535 (default: 5006; 0: any free port)")
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
    data_arg(p, tabular=False)
    p.add_argument("output", help="HTML file to write")
    p.add_argument("--tag", action="append", help="only these tags (repeatable; default: all)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("summary", help="print what a tree holds and its problems")
    data_arg(p)
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("diff", help="what changed between two tags (or two stacks)")
    data_arg(p, exit_code="anything changed")
    p.add_argument("a", metavar="TAG_A", help="the older tag (or stack, with --stacks)")
    p.add_argument("b", metavar="TAG_B", help="the newer tag (or stack)")
    p.add_argument("--stacks", action="store_true", help="compare two stacks (over all tags) instead of two tags")
    p.add_argument("--csv", metavar="FILE", help="write the added, removed and changed specs as CSV")
    p.set_defaults(func=cmd_diff)

    p = sub.add_parser("why", help="why binaries were rebuilt between two snapshots: root causes ranked by specs and bytes")
    data_arg(p, exit_code="anything was rebuilt, added or removed")
    p.add_argument("old", metavar="OLD", nargs="?", help="the older snapshot: a tag of --data, or a source (path or URL of a mirror, pages tree or registry) holding one tag")
    p.add_argument("new", metavar="NEW", nargs="?", help="the newer snapshot, the same way")
    p.add_argument("--since-last", metavar="MIRROR", help="compare MIRROR now with the index the store kept from before its last change "
                   "(instead of OLD and NEW)")
    p.add_argument("--specs", action="store_true", help="also list every rebuilt binary with its classes and causes")
    p.set_defaults(func=cmd_why)

    p = sub.add_parser("storage", help="bytes per tag, stack and package, duplicates, growth; with --keep: what pruning would free")
    data_arg(p)
    keep = p.add_mutually_exclusive_group()
    keep.add_argument("--keep", metavar="FILE", help="preview `spack buildcache prune --keeplist FILE` (one hash a line, as Spack reads it) or keep a spack.lock's specs")
    keep.add_argument("--keep-tags", type=int, metavar="N", help="preview pruning every binary the newest N tags do not hold")
    p.add_argument("--top", type=int, default=10, help="rows shown per table (default 10)")
    p.set_defaults(func=cmd_storage)

    p = sub.add_parser("runs-here", help="which binaries run on this machine (or --host)")
    data_arg(p, exit_code="no binary runs here")
    p.add_argument("--host", metavar="TARGET|SPACK_ARCH", help="a target (zen3; platform and OS not checked) or spack arch output (linux-ubuntu22.04-zen3); default: this machine")
    p.add_argument("--tag", action="append", help="only these tags (repeatable)")
    p.set_defaults(func=cmd_runs_here)

    p = sub.add_parser("match", help="exact and nearest binaries for a spec, /hash, spec.json or spack.lock")
    data_arg(p, exit_code="there is no exact hit (a spack.lock: a spec is missing)")
    p.add_argument("spec", nargs="+", metavar="SPEC_OR_HASH_OR_FILE", help="e.g. hdf5@1.14 +mpi target=zen3 %%gcc@11 (what follows %%gcc constrains the compiler), /abc123, or a spec.json / spack.lock file")
    p.add_argument("--limit", type=int, default=10, help="nearest binaries shown (default 10)")
    p.set_defaults(func=cmd_match)

    p = sub.add_parser("verify", help="check the signature of every binary's spec manifest (exit 1 if any is not good)")
    data_arg(p)
    p.add_argument("--require-trusted", action="store_true", help="a key only the mirror publishes is not enough (exit 1)")
    p.add_argument("--all", action="store_true", help="list every binary, not only those not verified by a trusted key")
    p.set_defaults(func=cmd_verify)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = build_parser().parse_args(argv)
    if argv is None and args.func is cmd_serve:  # the command line itself: the same again, with the allocator
        _with_system_allocator()
    try:
        args.data = data_path(["--data", args.data] if args.data else [])
        return args.func(args)
    except MirrorError as exc:  # the mirror list itself cannot be read: a source failed
        print(f"error: {_short(str(exc), 500)}", file=sys.stderr)
        return EXIT_SOURCE
    except (FileNotFoundError, KeyError_) as exc:  # KeyError_: a --trusted-keys file that is no key
        print(f"error: {_short(str(exc), 500)}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as other tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:  # a path that cannot be read or written: name it, no traceback
        where = f"{_short(exc.filename)}: " if getattr(exc, "filename", None) else ""
        print(f"error: {where}{exc.strerror or _short(str(exc), 300)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
