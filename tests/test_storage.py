"""What a cache costs and what pruning would free (dashboard.domain.storage and the
`storage` subcommand), against Spack's own `spack buildcache prune --keeplist --dry-run`
on the cache Spack wrote (tests/oracle/prune, made by scripts/spack_oracle/prune_preview.sh)
and the sizes Spack wrote in its spec manifests, summed here with pandas."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from dashboard.cli import main
from dashboard.domain.storage import KeepListError, prune_preview, read_keep_list, storage
from dashboard.load import load

ROOT = Path(__file__).resolve().parent.parent
MIRROR = ROOT / "assets" / "mirrors" / "spack-1.2" / "spack-1.2-v3-unsigned"
ORACLE = Path(__file__).parent / "oracle" / "prune"
KEEP_LISTS = sorted(p.stem for p in ORACLE.glob("*.keep"))


def manifest_sizes() -> pd.DataFrame:
    """``package``, ``hash``, ``size``: each spec manifest's tarball contentLength, as Spack wrote it."""
    rows = []
    for path in (MIRROR / "v3" / "manifests" / "spec").rglob("*.spec.manifest.json"):
        text = path.read_text()
        body = text[text.index("{"): text.rindex("}") + 1]  # a signed manifest's armour aside
        tarball = next(e for e in json.loads(body)["data"] if "tar" in e["mediaType"])
        package, spec_hash = path.parent.name, path.name.rsplit("-", 1)[1].split(".")[0]
        rows.append({"package": package, "hash": spec_hash, "size": tarball["contentLength"]})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def cache():
    return load(str(MIRROR), cache=False, sizes=True)


@pytest.mark.parametrize("name", KEEP_LISTS)
def test_prune_preview_is_spacks_dry_run(cache, name, capsys):
    """Each keep list: Spack refused it and so do we (exit 2, the line named), or we prune
    exactly the binaries Spack's dry run would, freeing their manifests' tarball bytes."""
    spack = (ORACLE / f"{name}.spack.txt").read_text()
    text = (ORACLE / f"{name}.keep").read_text()
    if spack.rstrip().endswith("exit 1"):
        with pytest.raises(KeepListError):
            read_keep_list(text, name)
        assert main(["storage", "--data", str(MIRROR), "--keep", str(ORACLE / f"{name}.keep")]) == 2
        assert "error:" in capsys.readouterr().err
        return
    would = set(re.findall(r"Would prune: (\S+)", spack))
    assert len(would) == int(re.search(r"Found (\d+) spec\(s\) to prune", spack).group(1))
    plan = prune_preview(cache, read_keep_list(text, name))
    assert set(plan.pruned["package"] + "/" + plan.pruned["hash"].str[:7]) == would
    manifests = manifest_sizes()
    pruned = manifests[(manifests["package"] + "/" + manifests["hash"].str[:7]).isin(would)]
    assert len(pruned) == len(would)
    assert plan.bytes == int(pruned["size"].sum()) and plan.unknown == 0
    assert plan.kept == len(manifests) - len(would)
    assert main(["storage", "--data", str(MIRROR), "--sizes", "--keep", str(ORACLE / f"{name}.keep"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["prune"]["pruned"] == len(would) and out["prune"]["bytes"] == plan.bytes


def test_storage_figures_are_the_manifests_sizes(cache):
    sizes = manifest_sizes()
    result = storage(cache)
    assert result.total == {"specs": len(sizes), "bytes": int(sizes["size"].sum()), "unknown": 0}
    want = sizes.groupby("package")["size"].agg(["size", "sum"]).rename(columns={"size": "specs", "sum": "bytes"})
    got = result.by_package.set_index("package")[["specs", "bytes"]]
    assert got.sort_index().to_dict() == want.sort_index().astype("int64").to_dict()
    assert result.by_stack[["stack", "specs", "bytes"]].values.tolist() == [["root", len(sizes), int(sizes["size"].sum())]]
    assert len(result.duplicates) == 0  # 16 binaries Spack built, no two the same build


def test_duplicates_and_keeping_the_last_tags(pages_copy, capsys):
    """A tag holding one build under two hashes is one duplicate; keeping the newest tag
    prunes exactly the binaries (per mirror) whose hash the newest tag does not hold."""
    import yaml

    page = pages_copy / "develop-2025-03-30" / "acl" / "specs.md"
    front = yaml.safe_load(page.read_text().split("---")[1])
    spec = front["spec_details"][0]
    copy = dict(spec, hash="b" * 32)
    text = page.read_text().replace("spec_details: [", "spec_details: [" + json.dumps(copy) + ", ", 1)
    page.write_text(text)
    data = load(str(pages_copy), cache=False)
    dup = storage(data).duplicates
    mine = dup[(dup["tag"] == "develop-2025-03-30") & (dup["package"] == "acl")]
    assert mine["hashes"].tolist() == [2] and mine["version"].tolist() == spec["versions"]
    assert main(["storage", "--data", str(pages_copy), "--keep-tags", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)["prune"]
    specs = data.specs.assign(tag=data.specs["tag"].astype(str))
    newest = set(specs.loc[specs["tag"] == "develop", "hash"])
    copies = data.spec_stacks.assign(hash=specs["hash"].to_numpy()[data.spec_stacks["spec"].to_numpy()])
    assert out["pruned"] == int((~copies["hash"].isin(newest)).sum())
    assert out["kept"] == int(copies["hash"].isin(newest).sum())
    assert "develop" in out["keep"]


@pytest.fixture(scope="module")
def mirror_server(tmp_path_factory):
    """The app served on the cache Spack wrote, sizes read."""
    from conftest import STORE_ENV
    from support import free_port, start_server

    port = free_port()
    proc = start_server(str(MIRROR), port, env={STORE_ENV: str(tmp_path_factory.mktemp("store"))}, extra_args=["--sizes"])
    yield f"http://127.0.0.1:{port}/"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.mark.browser
def test_storage_view_previews_spacks_pruning(mirror_server, server, page, real_data, artifacts):
    """In Chromium: pasting a keep list prunes what Spack's dry run prunes, freeing the
    manifests' bytes (the exact count on hover); a bad list is refused with its line;
    on the pages, keep_tags=1 in the URL prunes the binaries (per mirror) the newest tag lacks."""
    from support import PATIENCE_MS, wait_value

    pg = page
    pg.goto(mirror_server + "?view=storage")
    pg.wait_for_selector(".storage-tags .tabulator-row", timeout=PATIENCE_MS)
    spack = (ORACLE / "papp-1.0.0-dag.spack.txt").read_text()
    would = set(re.findall(r"Would prune: (\S+)", spack))
    pg.locator(".keep-list textarea").fill((ORACLE / "papp-1.0.0-dag.keep").read_text())
    pg.get_by_role("button", name="Preview pruning").click()
    wait_value(pg, lambda p: p.locator("b.prune-count").inner_text() if p.locator("b.prune-count").count() else "", str(len(would)))
    manifests = manifest_sizes()
    freed = int(manifests.loc[(manifests["package"] + "/" + manifests["hash"].str[:7]).isin(would), "size"].sum())
    assert pg.locator(".prune-mirrors .tabulator-row [tabulator-field=bytes] span").first.get_attribute("title") == f"{freed:,} bytes"
    shown = {f"{p}/{h[:7]}" for p, h in zip(pg.locator(".prune-rows [tabulator-field=package]").all_inner_texts()[1:],
                                            pg.locator(".prune-rows [tabulator-field=hash]").all_inner_texts()[1:])}
    assert shown <= would and len(shown) == min(len(would), 10)  # the first page of the pruned binaries
    pg.screenshot(path=str(artifacts / "storage-prune.png"), full_page=True)
    pg.locator(".keep-list textarea").fill("not-a-hash")
    pg.get_by_role("button", name="Preview pruning").click()
    pg.locator(".prune-error").wait_for(timeout=PATIENCE_MS)
    assert "line 1" in pg.locator(".prune-error").inner_text()
    pg.goto(server + "?view=storage&keep_tags=1")
    specs = real_data.specs.assign(tag=real_data.specs["tag"].astype(str))
    newest = set(specs.loc[specs["tag"] == "develop", "hash"])
    copies = specs["hash"].to_numpy()[real_data.spec_stacks["spec"].to_numpy()]
    want = int((~pd.Series(copies).isin(newest)).sum())
    wait_value(pg, lambda p: p.locator("b.prune-count").inner_text().replace(",", "") if p.locator("b.prune-count").count() else "", str(want))
    assert not pg.errors, pg.errors
