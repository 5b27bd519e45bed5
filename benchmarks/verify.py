"""Benchmark: verify the signatures of N signed spec manifests in a local v3 mirror.

    python -m benchmarks.verify [--specs 10000] [--gpg-sample 300]

Writes a mirror of N binaries (:mod:`benchmarks.mirrors`, rows sampled from the real
pages) whose spec manifests are clear-signed, as Spack signs them, by a key made for the
run and published in the mirror's ``v3/manifests/key/``; then, in the same run:

* the dashboard's check (:func:`dashboard.domain.verify.verify_cache`: every manifest read and
  verified in process), median of 3 runs, seconds;
* the baseline: one ``gpg --verify`` process per manifest (as a script around GnuPG, or
  python-gnupg, does), timed on ``--gpg-sample`` manifests and scaled to N (a full run
  of N processes takes minutes), with a homedir that imported the key.

Prints both, the ratio, and whether the target (N = 10,000 in < 60 s) is met.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path


def write_signed_mirror(root: Path, n: int) -> tuple[Path, bytes]:
    """A v3 mirror of ``n`` binaries with clear-signed spec manifests; returns
    ``(mirror, armoured public key)``."""
    import pysequoia

    from benchmarks.mirrors import _blob, spack_hash, spec_rows, write_mirror

    base = spec_rows()
    rows = [dict(base[i % len(base)], hash=spack_hash(f"verify {i}")) for i in range(n)]
    mirror = write_mirror(root / "mirror", rows, "v3", 8)
    secret = pysequoia.Tsk.generate("Benchmark Signer <bench@example.invalid>")
    signer = secret.signer()
    for path in (mirror / "v3" / "manifests" / "spec").rglob("*.spec.manifest.json"):
        path.write_bytes(pysequoia.sign(signer, path.read_bytes(), mode=pysequoia.SignatureMode.CLEAR))
    cert = secret.extract_certificate()
    public = str(cert).encode()
    fpr = cert.fingerprint.upper()
    key_dir = mirror / "v3" / "manifests" / "key"
    key_dir.mkdir(parents=True, exist_ok=True)

    def manifest(data: bytes, media: str) -> str:
        return json.dumps({"version": 3, "data": [{"contentLength": len(data), "mediaType": media, "compression": "none",
                                                   "checksumAlgorithm": "sha256", "checksum": _blob(mirror, data)}]})

    (key_dir / f"{fpr}.key.manifest.json").write_text(manifest(public, "application/pgp-keys"))
    index = json.dumps({"keys": {fpr: {}}}).encode()
    (key_dir / "keys.manifest.json").write_text(manifest(index, "application/vnd.spack.keyindex.v1+json"))
    return mirror, public


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", type=int, default=10_000)
    parser.add_argument("--gpg-sample", type=int, default=300)
    args = parser.parse_args(argv)

    from dashboard.load import load
    from dashboard.domain.verify import verify_cache

    work = Path(tempfile.mkdtemp(prefix="verify-bench-"))
    try:
        t = time.perf_counter()
        mirror, public = write_signed_mirror(work, args.specs)
        print(f"wrote {args.specs:,} signed spec manifests in {time.perf_counter() - t:.1f} s: {mirror}")
        data = load(mirror, cache_dir=work / "store")
        times = []
        for _ in range(3):
            t = time.perf_counter()
            rows, problems = verify_cache(data)
            times.append(time.perf_counter() - t)
        counts = rows["signature"].value_counts().to_dict()
        ours = statistics.median(times)
        print(f"dashboard (in process): {ours:.2f} s for {len(rows):,} manifests (median of 3: {', '.join(f'{x:.2f}' for x in times)}); {counts}")

        home = work / "gnupg"
        home.mkdir(mode=0o700)
        subprocess.run(["gpg", "--homedir", str(home), "--batch", "--import"], input=public, capture_output=True, check=True)
        files = sorted((mirror / "v3" / "manifests" / "spec").rglob("*.spec.manifest.json"))[: args.gpg_sample]
        t = time.perf_counter()
        ok = sum(subprocess.run(["gpg", "--homedir", str(home), "--batch", "--verify", str(f)], capture_output=True).returncode == 0 for f in files)
        per_file = (time.perf_counter() - t) / len(files)
        baseline = per_file * len(rows)
        print(f"baseline (one gpg --verify per file): {per_file * 1000:.1f} ms a file ({ok}/{len(files)} good), "
              f"{baseline:.1f} s for {len(rows):,} (scaled from {len(files)})")
        print(f"ratio: {baseline / ours:.1f}x faster than gpg per file; target {args.specs:,} in < 60 s: "
              f"{'met' if ours < 60 else 'NOT met'} ({ours:.1f} s)")
        digest = hashlib.sha256(b"".join(sorted(rows["signer"].astype(str).str.encode("ascii")))).hexdigest()[:8]
        print(f"signers digest {digest}; problems {problems}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
