"""Spack's answers about versions, recorded as a test fixture (run inside Spack).

    spack python scripts/spack_oracle/versions.py tests/oracle/versions.txt tests/oracle/spack_versions.json

For each version string of VERSIONS (one a line): its rank in Spack's order (equal
versions share a rank); and for each constraint (written by this script from the
versions: ``v``, ``=v``, ``v:``, ``:v`` and a few ranges and lists), the versions that
``Version(v).satisfies(ver(constraint))``.  Written with the Spack commit that made it.
"""
import json
import subprocess
import sys
from pathlib import Path

import spack
import spack.paths
from spack.version import Version, ver

versions = [v for v in Path(sys.argv[1]).read_text().split() if v]
parsed = {v: Version(v) for v in versions}
ordered = sorted(versions, key=lambda v: parsed[v])
rank, ranks, previous = -1, {}, None
for v in ordered:
    if previous is None or parsed[v] != parsed[previous]:
        rank += 1
    ranks[v] = rank
    previous = v

picked = versions[::7]
constraints = []
for v in picked:
    constraints += [v, f"={v}", f"{v}:", f":{v}"]
constraints += [f"{a}:{b}" for a, b in zip(picked[::2], picked[1::2]) if Version(a) <= Version(b)]
constraints += [f"{a},{b}" for a, b in zip(picked[::3], picked[1::3])]
constraints += ["1.14", "1.14:", ":1.14", "1.12:1.14", "=1.14", "2023.02", "2023.2", "develop", "=develop",
                "main:", ":develop", "1.2.3-rc9:1.2.3", "1.0.0-alpha:1.0.0", "3.1b", "1:2", ":0.9", "0.9:",
                "1.14-rc1:1.14", "1.14a", "develop-2024", "1.0:1.0", "1.10:1.2", "10:", ":", "1.2:1.10"]
answers = {}
for c in dict.fromkeys(constraints):
    try:
        constraint = ver(c)
    except Exception as e:  # e.g. an empty range: Spack's error is the answer
        answers[c] = {"error": f"{type(e).__name__}: {e}"}
        continue
    answers[c] = {"satisfies": [v for v in versions if parsed[v].satisfies(constraint)]}
commit = subprocess.run(["git", "-C", spack.paths.prefix, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
out = {"spack_version": spack.spack_version, "spack_commit": commit, "script": "scripts/spack_oracle/versions.py",
       "rank": ranks, "constraints": answers}
Path(sys.argv[2]).write_text(json.dumps(out, indent=0, sort_keys=True) + "\n")
print(len(versions), "versions,", len(answers), "constraints,", sum(len(a.get("satisfies", [])) for a in answers.values()), "hits")
