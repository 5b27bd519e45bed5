"""Spack's answers to spec queries on the cache.spack.io pages shipped in assets/pages.

    spack python scripts/spack_oracle/page_queries.py assets/pages tests/oracle/page_queries.txt tests/oracle/spack_page_queries.json

The pages are read with Spack's own YAML reader (``spack.util.spack_yaml``); each
``spec_details`` record becomes a concrete Spack spec the way Spack reads a spec written
before Spack 1.0 (spec format v4, ``Spec.from_dict``): its ``compiler`` is the node's
compiler (``%gcc@=11`` means compiler, not a dependency), its hash is the page's hash,
its variants are what Spack's parser makes of the page's variant tokens.  A 0.x spec.json
stored the compiler as ``{name, version}`` with the version bare (Spack 0.21+ prints it
``gcc@=11.4.0``, the pages show both spellings); Spack 1.x reads it back as
``Spec("gcc@11.4.0")``, the range, so ``%gcc@=11.4.0`` selects none of them.  For each query
line: the hashes ``Spec.satisfies(Spec(query))`` selects, or Spack's error when it
refuses the query.  Written with the Spack commit that made it.
"""
import json
import subprocess
import sys
from pathlib import Path

import spack
import spack.paths
import spack.spec
import spack.util.spack_yaml as syaml

pages, queries_file, out_file = (Path(a) for a in sys.argv[1:4])
specs = {}
for page in sorted(pages.rglob("specs.md")):
    front = syaml.load(page.read_text().split("---")[1])
    for record in front.get("spec_details") or []:
        if record["hash"] in specs:
            continue
        node = {"name": front["title"], "version": str(record["versions"][0]), "namespace": "builtin",
                "arch": {"platform": record["platform"], "platform_os": record["os"], "target": record["target"]},
                "parameters": spack.spec.Spec("x " + " ".join(record.get("variants") or [])).to_node_dict().get("parameters", {}),
                "hash": record["hash"]}
        if record.get("compiler") not in (None, "", "none"):
            # as the binary's own spec.json stored it before Spack 1.0: {name, version}, the
            # version without the '=' that Spack 0.21+ prints for an exact version
            name, _, version = record["compiler"].partition("@")
            node["compiler"] = {"name": name, "version": version.lstrip("=")}
        specs[record["hash"]] = spack.spec.Spec.from_dict({"spec": {"_meta": {"version": 4}, "nodes": [node]}})

answers = {}
for query in [line.strip() for line in queries_file.read_text().splitlines() if line.strip()]:
    try:
        constraint = spack.spec.Spec(query)
        answers[query] = {"satisfies": sorted(h for h, s in specs.items() if s.satisfies(constraint))}
    except Exception as e:  # Spack refuses the query: its error is the answer
        answers[query] = {"error": f"{type(e).__name__}: {e}"[:300]}
commit = subprocess.run(["git", "-C", spack.paths.prefix, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
out = {"spack_version": spack.spack_version, "spack_commit": commit, "script": "scripts/spack_oracle/page_queries.py",
       "pages": str(pages), "specs": sorted(specs), "queries": answers}
out_file.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
print(len(specs), "specs,", len(answers), "queries")
