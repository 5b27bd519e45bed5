"""The hostile-cache corpus as a table: each case's outcome, peak memory and time.

    python -m benchmarks.hostile [--markdown]

Serves ``tests/hostile_corpus.py`` (more than 60 broken or hostile mirrors) on
127.0.0.1 and loads each, beside the cache Spack wrote, in a fresh process at the
corpus's test-scale limits (index bound 16 MiB, read timeout 2 s, deadline 5 s per
mirror).  Prints per case: the expected and the actual outcome, the peak RSS of the
process (``VmHWM``, MB) and the seconds the load took; then the baseline, the good
cache loaded alone in the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

_CHILD = """
import json, sys, time
sys.path[:0] = [sys.argv[4]]
import hostile_corpus as hc
from dashboard.sources import mirror_fetch
mirror_fetch.MAX_INDEX_BYTES = hc.TEST_MAX_INDEX_BYTES
from dashboard.load import load
t = time.perf_counter()
data = load(sys.argv[1], cache_dir=sys.argv[2], sizes=sys.argv[3] == "1")
elapsed = time.perf_counter() - t
severity, text = hc.outcome(data, sys.argv[5]) if len(sys.argv) > 5 else ("ok", "")
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"severity": severity, "text": text, "seconds": elapsed, "rss_mb": hwm / 1024, "specs": len(data.specs)}))
"""


def _run(source: str, store: str, sizes: bool, url: str | None, env: dict) -> dict:
    args = [sys.executable, "-c", _CHILD, source, store, "1" if sizes else "0", str(ROOT / "tests"), *([url] if url else [])]
    run = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    if run.returncode:
        return {"severity": "CRASH", "text": run.stderr[-300:], "seconds": float("nan"), "rss_mb": float("nan"), "specs": 0}
    return json.loads(run.stdout.splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)
    import hostile_corpus as hc

    corpus = hc.cases()
    server = hc.Server(corpus)
    env = {**os.environ, **hc.LIMITS}
    rows, bad = [], 0
    work = Path(tempfile.mkdtemp(prefix="bench-hostile-"))
    try:
        base = _run(str(hc.SPACK), str(work / "base"), True, None, env)
        for n, case in enumerate(corpus):
            listing = work / f"{n}.yaml"
            listing.write_text(json.dumps({"t": {"hostile": server.url(n), "good": str(hc.SPACK)}}))
            got = _run(str(listing), str(work / f"store-{n}"), case.sizes, server.url(n), env)
            ok = got["severity"] == case.expect and case.words in got["text"].lower() and got["specs"] >= 16
            bad += not ok
            rows.append((case.name, case.expect, got["severity"] + ("" if ok else " (UNEXPECTED)"), got["rss_mb"], got["seconds"], got["text"][:110]))
    finally:
        server.close()
    if args.markdown:
        print("| case | expected | outcome | peak RSS (MB) | seconds | problem (start) |\n|---|---|---|---|---|---|")
        for name, expect, outcome, rss, secs, text in rows:
            print(f"| {name} | {expect} | {outcome} | {rss:.0f} | {secs:.1f} | {text.replace('|', '/')} |")
    else:
        for name, expect, outcome, rss, secs, text in rows:
            print(f"{name:45} {expect:8} {outcome:20} {rss:6.0f} MB {secs:6.1f} s  {text[:90]}")
    print(f"\n{len(rows)} cases, {len(rows) - bad} as expected; peak RSS max {max(r[3] for r in rows):.0f} MB, "
          f"slowest {max(r[4] for r in rows):.1f} s; baseline (the good cache alone): {base['rss_mb']:.0f} MB, {base['seconds']:.1f} s")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
