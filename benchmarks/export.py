"""Benchmark: the offline HTML export of one full tag (size, time to interactive).

    python -m benchmarks.export [--packages 1240 --mean-specs 33 --repeats 3]

Generates one tag the size of a real cache.spack.io snapshot (~1,200 packages,
~40,000 specs) with :mod:`benchmarks.generate`, exports it with
:func:`dashboard.export.export_html`, then opens the file from ``file://`` in
headless Chromium with all network blocked and measures (medians over repeats):

* file size (bytes) and export time (seconds);
* time to interactive: navigation start until the client-side callback has
  filled the headline numbers, the heatmaps and the table (seconds);
* one selector change in the browser (set a stack, recompute everything, two
  animation frames), median and p95 over 20 changes (milliseconds).

Targets from the issue: file < 15 MB, interactive in < 5 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

READY_JS = "() => { const m = window.Bokeh && Bokeh.documents[0] && Bokeh.documents[0].get_model_by_name('numbers'); return !!(m && m.tags.length); }"
CHANGE_JS = """async (stack) => {
  const doc = Bokeh.documents[0], w = doc.get_model_by_name('stack');
  const t0 = performance.now();
  w.value = stack ? [stack] : [];
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  return performance.now() - t0;
}"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packages", type=int, default=1240, help="package universe (~97%% are in the tag)")
    parser.add_argument("--mean-specs", type=float, default=33.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright
    from screenshot import CHROMIUM, CHROMIUM_ARGS

    from benchmarks.generate import generate
    from dashboard.export import export_html
    from dashboard.load import load

    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "tree"
        totals = generate(tree, tags=1, packages=args.packages, mean_specs=args.mean_specs)
        data = load(tree, cache=False)
        out = Path(tmp) / "tag.html"
        export_s = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            info = export_html(data, out)
            export_s.append(time.perf_counter() - t0)
        stacks = sorted(data.spec_stacks["stack"].astype(str).unique())
        tti, change_ms = [], []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for r in range(args.repeats):
                ctx = browser.new_context(offline=True, viewport={"width": 1400, "height": 1000})
                ctx.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort())
                page = ctx.new_page()
                t0 = time.perf_counter()
                page.goto(out.as_uri())
                page.wait_for_function(READY_JS, timeout=120000, polling=50)
                tti.append(time.perf_counter() - t0)
                if r == 0:
                    for i in range(20):
                        change_ms.append(page.evaluate(CHANGE_JS, stacks[i % len(stacks)] if i % 2 == 0 else None))
                ctx.close()
            browser.close()
    change_ms.sort()
    rows = [
        ("tag size", f"{info['packages']:,} packages, {info['specs']:,} specs ({totals['pages']:,} pages)", ""),
        ("export file size", f"{info['bytes'] / 1e6:.1f} MB", "< 15 MB"),
        ("export time (median)", f"{statistics.median(export_s):.2f} s", ""),
        ("time to interactive, file:// offline (median)", f"{statistics.median(tti):.2f} s", "< 5 s"),
        ("selector change in the browser (median / p95)", f"{statistics.median(change_ms):.0f} / {change_ms[int(0.95 * (len(change_ms) - 1))]:.0f} ms", ""),
    ]
    print("| measure | measured | target |\n|---|---|---|")
    for name, value, target in rows:
        print(f"| {name} | {value} | {target} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
