"""Time an OCI build cache of many binaries: sizes read concurrently and resumably,
and an unchanged reload costing O(1) requests.

    python -m benchmarks.oci [--binaries 10000] [--repeat 3]

A local registry (Debian's ``docker-registry``, CNCF distribution 2.8, on
127.0.0.1) gets a repository pushed through the registry API in Spack's OCI layout
(see ``assets/oci/README.md``): ``index.spack`` whose single layer is a v8 index of
``--binaries`` binaries (:func:`benchmarks.mirrors.synthetic_index`), and one tag
``<name>-<version>-<hash>.spack`` per binary whose last layer is a small blob of a
known size.  Then, each in a fresh store:

1. a cold load with sizes, manifests read :data:`dashboard.sources.oci.SIZE_THREADS`
   at a time, against the same load reading one manifest at a time (the baseline,
   same run); median seconds of ``--repeat`` runs and the ratio;
2. resume: a load killed once its first batch of sizes is stored, then run again:
   how many manifests the second run reads (target: fewer than ``--binaries``);
3. an unchanged reload: requests the registry logged (target: O(1), not one per binary).

Every size read is checked against the size pushed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG = "application/vnd.oci.image.config.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
REPO = "bench/cache"


def _registry(root: Path, port: int) -> subprocess.Popen:
    binary = shutil.which("docker-registry")
    if binary is None:
        sys.exit("docker-registry is missing: apt-get install docker-registry")
    env = {**os.environ, "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": str(root / "storage"), "REGISTRY_HTTP_ADDR": f"127.0.0.1:{port}"}
    log = open(root / "registry.log", "w")
    proc = subprocess.Popen([binary, "serve", str(ROOT / "assets" / "oci" / "config.yml")], cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    import urllib.request

    for _ in range(600):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=5).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                sys.exit((root / "registry.log").read_text()[-2000:])
            time.sleep(0.1)
    sys.exit("the registry did not start")


def _push(base: str, index: bytes) -> dict[str, int]:
    """Push ``index`` as ``index.spack`` and one tag per binary it lists; returns
    ``{hash: size of its last layer}``."""
    import requests

    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=16))

    def blob(data: bytes) -> dict:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        start = session.post(f"{base}/v2/{REPO}/blobs/uploads/")  # then one monolithic PUT
        location = start.headers["Location"]
        location = location if location.startswith("http") else base + location
        reply = session.put(location, params={"digest": digest}, data=data, headers={"Content-Type": "application/octet-stream"})
        if reply.status_code != 201:
            raise RuntimeError(f"blob upload: {reply.status_code} {reply.text[:200]}")
        return {"digest": digest, "size": len(data)}

    def manifest(tag: str, config: dict, layers: list[dict], annotations: dict | None = None) -> None:
        body = {"schemaVersion": 2, "mediaType": MANIFEST, "config": {"mediaType": CONFIG, **config},
                "layers": [{"mediaType": LAYER, **layer} for layer in layers], **({"annotations": annotations} if annotations else {})}
        reply = session.put(f"{base}/v2/{REPO}/manifests/{tag}", data=json.dumps(body), headers={"Content-Type": MANIFEST})
        if reply.status_code != 201:
            raise RuntimeError(f"manifest {tag}: {reply.status_code} {reply.text[:200]}")

    installs = json.loads(index)["database"]["installs"]
    binaries = [(h, r["spec"]) for h, r in installs.items() if r.get("in_buildcache")]
    sizes = {}

    def one(item) -> None:
        spec_hash, spec = item
        size = 200 + int(spec_hash.encode().hex()[:6], 16) % 4000
        layer = blob(hashlib.sha256(spec_hash.encode()).digest() * (size // 32 + 1))
        layer["size"] = size if layer["size"] == size else layer["size"]
        config = blob(json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []},
                                  "spec": {"nodes": [spec]}, "archive_size": layer["size"]}).encode())
        manifest(f"{spec['name']}-{spec['version']}-{spec_hash}.spack", config, [layer],
                 {"org.opencontainers.image.description": f"{spec['name']}@{spec['version']} /{spec_hash}"})
        sizes[spec_hash] = layer["size"]

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, binaries))
    manifest("index.spack", blob(b"{}"), [blob(index)])
    return sizes


_CHILD = """
import json, sys, time
from dashboard.sources import oci
oci.SIZE_THREADS = int(sys.argv[3])
from dashboard.load import load
t = time.perf_counter()
data = load(sys.argv[1], cache_dir=sys.argv[2], sizes=True)
elapsed = time.perf_counter() - t
print(json.dumps({"seconds": elapsed, "specs": len(data.specs), "read": data.report.mirrors.sizes_fetched,
                  "problems": len(data.problems), "sizes": dict(zip(data.specs["hash"], data.specs["size"].astype(object).where(data.specs["size"].notna(), None)))}))
"""


def _load(url: str, store: Path, threads: int) -> dict:
    run = subprocess.run([sys.executable, "-c", _CHILD, url, str(store), str(threads)], capture_output=True, text=True, cwd=ROOT)
    if run.returncode:
        sys.exit(run.stderr[-3000:])
    return json.loads(run.stdout.splitlines()[-1])


def _requests(root: Path) -> int:
    return sum('"GET /v2/' in line or '"HEAD /v2/' in line for line in (root / "registry.log").read_text().splitlines())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binaries", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    from benchmarks.mirrors import synthetic_index
    from tests.support import free_port

    work = Path(tempfile.mkdtemp(prefix="bench-oci-"))
    port = free_port()
    proc = _registry(work, port)
    try:
        t = time.perf_counter()
        pushed = _push(f"http://127.0.0.1:{port}", synthetic_index(args.binaries))
        print(f"pushed {len(pushed):,} binaries in {time.perf_counter() - t:.0f} s")
        url = f"oci+http://127.0.0.1:{port}/{REPO}"
        from dashboard.sources.oci import SIZE_THREADS

        times: dict[int, list[float]] = {SIZE_THREADS: [], 1: []}
        for k in range(args.repeat):
            for threads in times:
                got = _load(url, work / f"store-{threads}-{k}", threads)
                assert got["specs"] == len(pushed) and got["read"] == len(pushed) and not got["problems"], got
                assert got["sizes"] == pushed, "a size read differs from the size pushed"
                times[threads].append(got["seconds"])
        fast, slow = statistics.median(times[SIZE_THREADS]), statistics.median(times[1])
        print(f"cold load with sizes of {len(pushed):,} binaries: {fast:.1f} s with {SIZE_THREADS} manifests in flight, "
              f"{slow:.1f} s one at a time (baseline): {slow / fast:.1f}x (medians of {args.repeat})")

        store = work / "store-resume"
        child = subprocess.Popen([sys.executable, "-c", _CHILD, url, str(store), str(SIZE_THREADS)], cwd=ROOT,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while child.poll() is None and not any(store.rglob("sizes.json")):
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait()
        kept = sum(len(json.loads(p.read_text())) for p in store.rglob("sizes.json"))
        again = _load(url, store, SIZE_THREADS)
        assert again["sizes"] == pushed
        print(f"resume: killed after {kept:,} sizes were stored; the next load read {again['read']:,} manifests "
              f"(not {len(pushed):,}) in {again['seconds']:.1f} s")

        before = _requests(work)
        same = _load(url, work / f"store-{SIZE_THREADS}-0", SIZE_THREADS)
        print(f"unchanged reload: {_requests(work) - before} request(s) to the registry for {len(pushed):,} binaries, "
              f"{same['seconds']:.2f} s, {same['read']} manifests read")
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
