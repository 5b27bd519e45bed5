"""Spack's answers to spec queries on a cache Spack wrote, recorded as a test fixture.

    spack -C SCOPE python scripts/spack_oracle/queries.py tests/oracle/queries.txt tests/oracle/spack_queries.json

SCOPE is a folder whose ``mirrors.yaml`` names the cache only, e.g.
``mirrors:: {m: {url: file://.../assets/mirrors/spack-1.2/spack-1.2-v3-unsigned, signed: false}}``.
For each query line: the hashes of the cached, non-external specs that
``Spec.satisfies(Spec(query))`` selects, or Spack's error when it refuses the query.
Written with the Spack commit that made it (the logic of the spack-peer kit's satisfies.py).
"""
import json
import subprocess
import sys
from pathlib import Path

import spack
import spack.binary_distribution as bd
import spack.paths
import spack.spec

specs = [s for s in bd.update_cache_and_get_specs() if not s.external]
answers = {}
for query in [line.strip() for line in Path(sys.argv[1]).read_text().splitlines() if line.strip()]:
    try:
        constraint = spack.spec.Spec(query)
        answers[query] = {"satisfies": sorted(s.dag_hash() for s in specs if s.satisfies(constraint))}
    except Exception as e:  # Spack refuses the query: its error is the answer
        answers[query] = {"error": f"{type(e).__name__}: {e}"[:300]}
commit = subprocess.run(["git", "-C", spack.paths.prefix, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
out = {"spack_version": spack.spack_version, "spack_commit": commit, "script": "scripts/spack_oracle/queries.py",
       "cache": "assets/mirrors/spack-1.2/spack-1.2-v3-unsigned", "specs": sorted(s.dag_hash() for s in specs),
       "queries": answers}
Path(sys.argv[2]).write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
print(len(answers), "queries")
