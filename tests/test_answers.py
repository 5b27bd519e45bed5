"""The questions users ask of a build cache, on the real pages: will it run here,
what changed between two tags, why is there no binary for my spec."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import archspec.cpu
import pandas as pd
import pytest

from conftest import variant_tokens
from dashboard.core.compat import Host, parse_host, runs_here, summary, why_not
from dashboard.domain.diff import CONFIGURATION, diff, package_versions, tag_order, timeline
from dashboard.domain.match import LockFile, MatchInputError, lock_coverage, match, parse_input, spec_variants

OLD, NEW = "develop-2025-03-23", "develop-2025-03-30"
HOSTS = ["zen3", "neoverse_v2", "m2"]  # an x86_64_v3-class host, an aarch64 neoverse host, an Apple m-series host


def cli(*args, env_dir):
    env = dict(os.environ, SPACK_CACHE_DASHBOARD_CACHE=str(env_dir))
    return subprocess.run([sys.executable, "-m", "dashboard.cli", *args], capture_output=True, text=True, env=env, timeout=120)


def _lines(out: str) -> dict[str, int]:
    """``"specs added 12"`` lines -> ``{"specs added": 12}``."""
    found = {}
    for line in out.splitlines():
        head, _, last = line.rpartition(" ")
        if last.isdigit() and head:
            found[head] = int(last)
    return found


# --- will it run here? ---------------------------------------------------------------------


@pytest.mark.parametrize("host", HOSTS)
def test_compatibility_rule_against_archspec_for_every_real_target(real_data, host):
    specs = real_data.specs
    targets = sorted(specs["target"].astype(str).unique())
    assert {"x86_64_v3", "aarch64", "neoverse_v2"} <= set(targets)
    got = runs_here(specs, Host(host))
    for target in targets:
        expected = archspec.cpu.TARGETS[target] <= archspec.cpu.TARGETS[host]
        rows = got[specs["target"].astype(str) == target]
        assert (rows["runs"] == expected).all(), (target, host)
        assert (rows["why"] == "").all() == expected
    assert got["runs"].sum() == sum(
        archspec.cpu.TARGETS[t] <= archspec.cpu.TARGETS[host] for t in specs["target"].astype(str)
    )


def test_partial_order_and_reasons():
    assert not archspec.cpu.TARGETS["neoverse_v1"] <= archspec.cpu.TARGETS["neoverse_v2"]
    assert why_not("neoverse_v1", "neoverse_v2") != ""
    assert why_not("x86_64_v3", "neoverse_v2") == "x86_64 binary, aarch64 host"
    assert why_not("zen4", "zen3").startswith("needs ") and "zen3 lacks" in why_not("zen4", "zen3")
    assert why_not("aarch64", "m2") == "" and why_not("x86_64_v3", "zen3") == ""


def test_platform_and_os_are_checked_when_given(real_data):
    specs = real_data.specs
    host = parse_host("linux-ubuntu22.04-zen3")
    assert host == Host("zen3", "linux", "ubuntu22.04")
    got = runs_here(specs, host)["runs"]
    expected = (
        (specs["platform"] == "linux") & (specs["os"] == "ubuntu22.04")
        & specs["target"].astype(str).map(lambda t: archspec.cpu.TARGETS[t] <= archspec.cpu.TARGETS["zen3"])
    )
    assert (got == expected).all() and 0 < got.sum() < len(specs)


def test_unknown_targets_are_reported_never_fatal(real_data):
    specs = real_data.specs.head(20).copy()
    specs["target"] = specs["target"].astype(str)
    specs.loc[specs.index[:3], "target"] = "frobnicator9"
    result = summary(specs, Host("zen3"))
    assert result["unknown_targets"] == ["frobnicator9"]
    assert any("unknown target 'frobnicator9'" in why for why in result["why"])
    with pytest.raises(ValueError, match="unknown target 'zen9'"):
        parse_host("zen9")


def test_cli_runs_here(real_data, tmp_path):
    out = cli("runs-here", "--host", "neoverse_v2", env_dir=tmp_path)
    assert out.returncode == 0, out.stderr
    expected = sum(archspec.cpu.TARGETS[t] <= archspec.cpu.TARGETS["neoverse_v2"] for t in real_data.specs["target"].astype(str))
    assert f"specs that run here {expected} of {len(real_data.specs)}" in out.stdout
    bad = cli("runs-here", "--host", "linux-zen3", env_dir=tmp_path)
    assert bad.returncode == 2 and "platform-os-target" in bad.stderr and "Traceback" not in bad.stderr


# --- what changed? -------------------------------------------------------------------------


def test_diff_of_the_two_march_tags(real_data, tmp_path):
    specs = real_data.specs
    a, b = specs[specs["tag"] == OLD], specs[specs["tag"] == NEW]
    assert len(set(a["package"]) & set(b["package"])) == 35
    result = diff(a, b)
    # independently: hashes only on one side, and per configuration as many "changed" pairs as both sides have
    gone, new = a[~a["hash"].isin(b["hash"])], b[~b["hash"].isin(a["hash"])]
    key = lambda f: f[CONFIGURATION].astype(str).assign(variants=f["variants"].astype(str).map(variant_tokens)).apply(tuple, axis=1).value_counts()  # noqa: E731
    pairs = int(pd.concat([key(gone), key(new)], axis=1).fillna(0).min(axis=1).sum())
    expected = {
        "packages added": len(set(b["package"].astype(str)) - set(a["package"].astype(str))),
        "packages removed": len(set(a["package"].astype(str)) - set(b["package"].astype(str))),
        "specs added": len(new) - pairs,
        "specs removed": len(gone) - pairs,
        "specs changed": pairs,
    }
    assert result.counts == expected and pairs > 0
    assert (result.rows["change"].value_counts().reindex(["added", "removed", "changed"]).tolist()
            == [expected["specs added"], expected["specs removed"], expected["specs changed"]])
    root = result.by_stack.set_index("stack").loc["root"]
    assert root.tolist() == [expected["specs added"], expected["specs removed"], expected["specs changed"]]
    out = cli("diff", OLD, NEW, "--csv", str(tmp_path / "d.csv"), env_dir=tmp_path)
    assert out.returncode == 0, out.stderr
    assert _lines(out.stdout.split("\n\n")[0]) == expected
    assert len(pd.read_csv(tmp_path / "d.csv")) == sum(expected[k] for k in ("specs added", "specs removed", "specs changed"))
    unknown = cli("diff", OLD, "v9.9", env_dir=tmp_path)
    assert unknown.returncode == 2 and "present:" in unknown.stderr


def test_diff_of_a_tag_with_itself_is_empty(real_data):
    specs = real_data.specs[real_data.specs["tag"] == NEW]
    same = diff(specs, specs)
    assert set(same.counts.values()) == {0} and same.rows.empty
    assert list(same.by_stack.columns) == ["stack", "added", "removed", "changed"] and same.by_stack.empty


def test_tag_order_and_timeline(real_data):
    assert tag_order(["develop", "v0.23.0", "develop-2025-04-20", "v2025.07.0", "develop-2025-03-23", "v0.22.1"]) == [
        "v0.22.1", "v0.23.0", "v2025.07.0", "develop-2025-03-23", "develop-2025-04-20", "develop"]
    line = timeline(real_data.specs, real_data.spec_stacks)
    assert list(line["tag"].cat.categories) == ["develop-2025-03-23", "develop-2025-03-30", "develop-2025-04-20", "develop"]
    ids = real_data.spec_stacks["spec"].to_numpy()
    e4s = line[(line["stack"] == "e4s") & (line["tag"] == NEW)].iloc[0]
    in_e4s = real_data.specs.iloc[ids[(real_data.spec_stacks["stack"] == "e4s").to_numpy()]]
    assert e4s["specs"] == (in_e4s["tag"] == NEW).sum()
    versions = package_versions(real_data.specs, "py-wheel")
    assert versions["specs"].sum() == (real_data.specs["package"] == "py-wheel").sum()


# --- why is there no binary for my spec? -----------------------------------------------------


def _spec_text(row) -> str:
    # Spack 1.x: what follows %compiler constrains the compiler, so the compiler comes last
    return f"{row['package']}@={row['version']} {row['variants']} os={row['os']} target={row['target']} %{row['compiler']}"


@pytest.fixture(scope="module")
def axl(real_data):
    specs = real_data.specs
    return specs[(specs["package"] == "axl") & (specs["compiler"] != "none")].iloc[0]


def test_match_exact_and_by_hash_prefix(real_data, axl):
    result = match(real_data.specs, parse_input(_spec_text(axl)))
    assert axl["hash"] in set(result["exact"]["hash"])
    fields = ["package", "version", "compiler", "os", "target"]
    # the same variant values (older pages print multi-valued variants as a=b, newer as a:=b)
    same = real_data.specs[(real_data.specs[fields].astype(str) == axl[fields].astype(str)).all(axis=1)
                           & (real_data.specs["variants"].astype(str).map(spec_variants) == [spec_variants(axl["variants"])] * len(real_data.specs))]
    assert set(result["exact"]["hash"]) == set(same["hash"])
    by_prefix = match(real_data.specs, parse_input("/" + axl["hash"][:7]))
    assert list(by_prefix["exact"]["hash"]) == [axl["hash"]]


@pytest.mark.parametrize("field, replace, expect", [
    ("version", lambda t, r: t.replace(f"@={r['version']}", "@=999.1"), "version"),
    ("compiler", lambda t, r: t.replace(f"%{r['compiler']}", "%gcc@999"), "compiler"),
    ("os", lambda t, r: t.replace(f"os={r['os']}", "os=plan9"), "os"),
    ("target", lambda t, r: t.replace(f"target={r['target']}", "target=zen5"), "target"),
    ("variant", lambda t, r: t.replace("+mpi", "~mpi"), "variant"),
])
def test_match_misses_by_one_field(real_data, axl, field, replace, expect):
    text = replace(_spec_text(axl), axl)
    assert text != _spec_text(axl)
    result = match(real_data.specs, parse_input(text), limit=50)
    assert result["exact"].empty
    near = result["nearest"].set_index("hash")
    assert axl["hash"] in near.index
    row = near.loc[axl["hash"]]
    assert row["agree"] == row["of"] - 1 and row["differs"].startswith(expect)
    # one "; "-separated item per field that differs (the app shows one a line)
    assert (result["nearest"]["differs"].str.split("; ").str.len() == result["nearest"]["of"] - result["nearest"]["agree"]).all()
    assert result["nearest"]["agree"].max() == row["agree"]  # nothing agrees more


def test_spec_json_and_spack_lock(real_data, axl, tmp_path):
    node = {"name": axl["package"], "version": axl["version"], "hash": axl["hash"],
            "arch": {"platform": "linux", "platform_os": axl["os"], "target": {"name": axl["target"]}},
            "parameters": {k: (v == "true") if v in ("true", "false") else v for k, v in spec_variants(axl["variants"]).items()}}
    spec_json = json.dumps({"spec": {"_meta": {"version": 5}, "nodes": [node]}})
    assert list(match(real_data.specs, parse_input(spec_json))["exact"]["hash"]) == [axl["hash"]]
    cached = real_data.specs.drop_duplicates("hash").head(3)
    lock = {"_meta": {"lockfile-version": 6}, "roots": [{"hash": cached["hash"].iloc[0], "spec": "x"}],
            "concrete_specs": {**{h: {"name": p, "version": v} for h, p, v in cached[["hash", "package", "version"]].astype(str).values},
                               "a" * 32: {"name": "nothere", "version": "1.0"}, "b" * 32: {"name": "alsonot", "version": "2"}}}
    parsed = parse_input(json.dumps(lock))
    assert isinstance(parsed, LockFile)
    cov = lock_coverage(real_data.specs, parsed)
    assert (cov["total"], cov["cached"], cov["missing"]) == (5, 3, 2)
    assert set(cov["rows"].loc[~cov["rows"]["cached"], "package"]) == {"nothere", "alsonot"}
    (tmp_path / "spack.lock").write_text(json.dumps(lock))
    out = cli("match", str(tmp_path / "spack.lock"), env_dir=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "concrete specs in the cache 3 of 5" in out.stdout and "missing 2" in out.stdout


def test_match_input_errors_are_clear(real_data, tmp_path):
    # Spack's own words for the spec strings it refuses (tests/oracle/spack_queries.json has more)
    for text, message in [("axl @@", "unexpected characters"), ("foo bar", "expected a single spec"), ("{nope", "not valid JSON"),
                          ('{"x": 1}', "neither a spec.json"), ("", "give a package name")]:
        with pytest.raises(MatchInputError, match=message):
            parse_input(text)
    out = cli("match", "axl", "@@", env_dir=tmp_path)
    assert out.returncode == 2 and "error:" in out.stderr and "Traceback" not in out.stderr
    out = cli("match", "axl@0.9", "+bbapi", "%gcc@11", env_dir=tmp_path)
    assert out.returncode == 0 and _lines(out.stdout)["exact hits"] == len(match(real_data.specs, parse_input("axl@0.9 +bbapi %gcc@11"))["exact"])


def test_nearest_binaries_that_run_on_the_wanted_target_come_first(real_data):
    """Find my spec with ``target=zen3``: every nearest binary that runs on a zen3 (by
    archspec's own ``<=``) is listed before any that cannot, whatever else agrees."""
    import archspec.cpu

    from dashboard.domain.match import match, parse_input

    def runs(target: str) -> bool:
        return target in archspec.cpu.TARGETS and archspec.cpu.TARGETS[target] <= archspec.cpu.TARGETS["zen3"]

    specs = real_data.specs
    mixed = [p for p, g in specs.groupby(specs["package"].astype(str)) if g["target"].astype(str).map(runs).nunique() == 2]
    assert mixed, "the real pages hold packages built for aarch64 and for x86_64"
    for package in mixed[:5]:
        near = match(specs, parse_input(f"{package} target=zen3 os=nowhere"), limit=1000)["nearest"]
        flags = near["target"].astype(str).map(runs).tolist()
        assert flags == sorted(flags, reverse=True), (package, list(zip(near["target"].astype(str), near["agree"])))
        # each says whether it runs there, and for one that cannot, why: another family
        # (archspec's family) or features zen3 lacks (archspec's feature sets)
        for target, differs in zip(near["target"].astype(str), near["differs"]):
            if target == "zen3":
                continue
            if runs(target):
                assert f"target {target} (wanted zen3: it runs there)" in differs
                continue
            assert f"target {target} (wanted zen3: cannot run there, " in differs, differs
            built = archspec.cpu.TARGETS.get(target)
            if built is not None and built.family != archspec.cpu.TARGETS["zen3"].family:
                assert f"{built.family.name} binary, x86_64 host" in differs
            elif built is not None and set(built.features) - set(archspec.cpu.TARGETS["zen3"].features):
                assert "that zen3 lacks" in differs
