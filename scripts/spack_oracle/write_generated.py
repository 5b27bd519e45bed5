"""Write one mirror with the generator (benchmarks/mirrors.py) for check_generator.sh:
the develop-2025-03-30 tag of the shipped pages, one record per hash.

    python scripts/spack_oracle/write_generated.py OUT LAYOUT DB_VERSION   # prints the records written
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks.mirrors import spec_rows, write_mirror  # noqa: E402

rows = list({r["hash"]: r for r in spec_rows() if r["tag"] == "develop-2025-03-30"}.values())
write_mirror(Path(sys.argv[1]), rows, sys.argv[2], int(sys.argv[3]))
externals = {(r["compiler"], r["os"], r["platform"], r["target"]) for r in rows if r["compiler"] != "none"}
print(f"{len(rows)} binaries + {len(externals)} external compilers = {len(rows) + len(externals)} records")
