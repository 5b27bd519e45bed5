"""Write a synthetic build-cache tree in the exact cache.spack.io page format.

    python -m benchmarks.generate OUT_DIR [--tags 100 --packages 1500 --mean-specs 14.3]

Distributions come from the real pages in ``assets/pages``: stacks and how many
a spec belongs to, OS x target pairs, compilers, variant strings and versions
are sampled from real spec rows; specs per page are heavy-tailed (log-normal,
like the real pages: most packages have a handful, a few have ~100); hashes are
32 random base-32 characters like Spack's.  The default "full" size,
100 tags x 1,500 packages x mean 14.3 specs, is ~2.0 million spec rows.
Every page is consistent: its ``meta`` rollup is computed from its
``spec_details``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REAL_PAGES = Path(__file__).resolve().parent.parent / "assets" / "pages"
ALPHABET = np.array(list("abcdefghijklmnopqrstuvwxyz234567"))


def _real_rows() -> list[dict]:
    rows = []
    for path in sorted(REAL_PAGES.rglob("specs.md")):
        for line in path.read_text().splitlines():
            if line.startswith("spec_details: "):
                rows.extend(json.loads(line[len("spec_details: "):]))
    return rows


def _page(package: str, tag: str, specs: list[dict]) -> str:
    by_stack: dict[str, int] = {}
    for spec in specs:
        for stack in spec["stacks"]:
            by_stack[stack] = by_stack.get(stack, 0) + 1
    meta = {
        "compilers": sorted({s["compiler"] for s in specs}),
        "num_specs": len(specs),
        "num_specs_by_stack": dict(sorted(by_stack.items())),
        "oss": sorted({s["os"] for s in specs}),
        "platforms": sorted({s["platform"] for s in specs}),
        "stacks": sorted(by_stack),
        "targets": sorted({s["target"] for s in specs}),
        "versions": sorted({v for s in specs for v in s["versions"]}),
    }
    return (
        f'---\ntitle: "{package}"\nlayout: cache\ncategories: [package, {tag}]\n'
        f"meta: {json.dumps(meta, sort_keys=True)}\n"
        f"spec_details: {json.dumps(specs, sort_keys=True)}\n---\n"
    )


def generate(out: str | Path, tags: int = 100, packages: int = 1500, mean_specs: float = 14.3, seed: int = 0, progress=None) -> dict:
    """Write ``tags`` x ~``packages`` pages under ``out/<tag>/<package>/specs.md``.

    Each tag holds ~97% of the package universe (packages come and go between
    snapshots).  Returns ``{"pages": int, "specs": int, "bytes": int}``.
    """
    rng = np.random.default_rng(seed)
    real = _real_rows()
    stacks = sorted({s for r in real for s in r["stacks"] if s != "root"})
    os_target = sorted({(r["os"], r["platform"], r["target"]) for r in real})
    compilers = [r["compiler"] for r in real]
    variants = [r["variants"] for r in real]
    names = [f"pkg-{i:05d}" for i in range(packages)]
    sigma = 1.1  # log-normal spread: heavy tail like the real pages
    mu = np.log(max(mean_specs, 1.0)) - sigma**2 / 2
    out = Path(out)
    totals = {"pages": 0, "specs": 0, "bytes": 0}
    tag_names = ["develop"] + [f"develop-2025-{1 + (i // 28) % 12:02d}-{1 + i % 28:02d}" if i < 336 else f"v0.{i}.0" for i in range(tags - 1)]
    for t, tag in enumerate(tag_names):
        present = rng.random(packages) < 0.97
        for p in np.flatnonzero(present):
            prng = np.random.default_rng([seed, p])  # a package's shape is stable across tags
            n = max(1, int(round(prng.lognormal(mu, sigma))) + int(rng.integers(-1, 2)))
            versions = [f"{prng.integers(0, 5)}.{prng.integers(0, 20)}.{v}" for v in range(int(prng.integers(1, 4)))]
            picks = rng.integers(0, len(real), size=n)
            hashes = ["".join(h) for h in ALPHABET[rng.integers(0, 32, size=(n, 32))]]
            specs = []
            for i in range(n):
                os_, platform, target = os_target[int(rng.integers(len(os_target)))]
                member = sorted(set(rng.choice(stacks, size=int(rng.integers(1, 3)), replace=False).tolist()))
                specs.append(
                    {
                        "compiler": compilers[picks[i]],
                        "hash": hashes[i],
                        "os": os_,
                        "platform": platform,
                        "size": int(rng.integers(10_000, 500_000_000)) if rng.random() < 0.3 else "-",
                        "stacks": member + ["root"],
                        "target": target,
                        "variants": variants[picks[i]],
                        "versions": [versions[int(rng.integers(len(versions)))]],
                    }
                )
            text = _page(names[p], tag, specs)
            path = out / tag / names[p] / "specs.md"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            totals["pages"] += 1
            totals["specs"] += n
            totals["bytes"] += len(text)
        if progress:
            progress(t + 1, len(tag_names))
    return totals


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out")
    parser.add_argument("--tags", type=int, default=100)
    parser.add_argument("--packages", type=int, default=1500)
    parser.add_argument("--mean-specs", type=float, default=14.3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from tqdm import tqdm

    with tqdm(total=args.tags, unit="tag", desc="Writing tags") as bar:
        totals = generate(args.out, args.tags, args.packages, args.mean_specs, args.seed, progress=lambda d, t: bar.update(d - bar.n))
    print(f"{totals['pages']:,} pages, {totals['specs']:,} spec rows, {totals['bytes'] / 1e6:.1f} MB in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
