"""Query functions against counts computed independently (PyYAML reading + pandas)."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from dashboard.domain import query as q


@pytest.fixture(scope="module")
def index(real_data):
    return q.build_index(real_data)


def expected_specs(ref: pd.DataFrame, sel: q.Selection) -> pd.DataFrame:
    """Reference filtering over the long spec x stack reference frame; returns one row per spec."""
    keep = pd.Series(True, index=ref.index)
    for dim in ("tag", "os", "target", "version"):
        if sel.values(dim):
            keep &= ref[dim].isin(sel.values(dim))
    if sel.package:
        keep &= ref["package"].str.lower().str.contains(sel.package.lower(), regex=False)
    specs = ref[keep]
    if sel.stack:
        ids = set(specs.loc[specs["stack"].isin(sel.stack), "path"] + specs.loc[specs["stack"].isin(sel.stack), "hash"])
        specs = specs[(specs["path"] + specs["hash"]).isin(ids)]
    return specs


def random_selections(ref: pd.DataFrame, n: int, seed: int = 1):
    rnd = random.Random(seed)
    values = {dim: sorted(ref[dim].unique()) for dim in ("tag", "stack", "os", "target", "version")}
    for _ in range(n):
        kwargs = {}
        for dim, vals in values.items():
            if rnd.random() < 0.5:
                kwargs[dim] = tuple(rnd.sample(vals, rnd.randint(1, 2)))
        if rnd.random() < 0.3:
            kwargs["package"] = rnd.choice(["py-", "a", "BUILD", "zzz"])
        yield q.Selection(**kwargs)


def test_filter_matches_reference(real_data, index, reference):
    for sel in random_selections(reference, 60):
        exp = expected_specs(reference, sel).drop_duplicates(["path", "hash"])
        got = real_data.specs[q.spec_mask(index, sel)]
        assert len(got) == len(exp), sel
        assert sorted(got["hash"]) == sorted(exp["hash"]), sel


def test_counts_match_reference(index, reference):
    for sel in random_selections(reference, 40, seed=2):
        exp = expected_specs(reference, sel)
        res = q.compute(index, sel, top_n=1000)
        if sel.stack:
            exp_ps = exp[exp["stack"].isin(sel.stack)]
        else:
            exp_ps = exp
        want = exp_ps.groupby(["package", "stack"]).size()
        got = res.package_stack.set_index(["package", "stack"])["count"]
        assert got.sort_index().to_dict() == want[want > 0].sort_index().to_dict(), sel
        one = exp.drop_duplicates(["path", "hash"])
        want_ot = one.groupby(["os", "target"]).size()
        assert res.os_target.set_index(["os", "target"])["count"].sort_index().to_dict() == want_ot.sort_index().to_dict()
        assert res.numbers["specs"] == len(one)
        assert res.numbers["packages"] == one["package"].nunique()


def test_stack_tag_ignores_tag_filter(index, reference):
    sel = q.Selection(tag=("develop",), os=("ubuntu22.04",))
    res = q.compute(index, sel)
    exp = expected_specs(reference, sel.without("tag")).groupby(["stack", "tag"]).size()
    assert res.stack_tag.set_index(["stack", "tag"])["count"].sort_index().to_dict() == exp.sort_index().to_dict()
    assert set(res.stack_tag["tag"]) == {"develop", "develop-2025-03-23", "develop-2025-03-30", "develop-2025-04-20"}


def test_top_n_keeps_the_biggest_packages(index, reference):
    res = q.compute(index, q.Selection(), top_n=5)
    per_pkg = reference.drop_duplicates(["path", "hash"]).groupby("package").size().sort_values(ascending=False)
    assert list(dict.fromkeys(res.package_stack["package"])) == list(per_pkg.index[:5])


def test_options_narrow_to_what_exists_under_other_selections(index, reference):
    sel = q.Selection(os=("sequoia",))
    opts = q.compute(index, sel).options
    one = reference.drop_duplicates(["path", "hash"])
    exp_targets = one[one["os"] == "sequoia"].groupby("target").size()
    assert dict(zip(opts["target"]["value"], opts["target"]["specs"])) == exp_targets.to_dict()
    # the OS selector itself still offers every OS (its own filter is not applied)
    assert dict(zip(opts["os"]["value"], opts["os"]["specs"])) == one.groupby("os").size().to_dict()
    exp_stacks = reference[reference["os"] == "sequoia"].groupby("stack").size()
    assert dict(zip(opts["stack"]["value"], opts["stack"]["specs"])) == exp_stacks.to_dict()


def test_options_are_counted_when_first_asked_for(index, reference, monkeypatch):
    """A change's answer leaves without the selectors' option counts (the served app
    labels its selectors after the answer is drawn); asked for, they are counted once,
    from the selection the answer was computed for."""
    calls = []
    counted = q.option_counts
    monkeypatch.setattr(q, "option_counts", lambda *a: calls.append(a) or counted(*a))
    res = q.compute(index, q.Selection(os=("sequoia",)))
    assert calls == []
    one = reference.drop_duplicates(["path", "hash"])
    expected = one[one["os"] == "sequoia"].groupby("target").size().to_dict()
    assert dict(zip(res.options["target"]["value"], res.options["target"]["specs"])) == expected
    assert res.options is res.options and len(calls) == 1


def test_cell_narrows_table_but_not_heatmaps(real_data, index, reference):
    sel = q.Selection(cell=("py-build", "e4s"))
    res = q.compute(index, sel)
    rows = q.table_rows(index, res.mask)
    exp = reference[(reference["package"] == "py-build") & (reference["stack"] == "e4s")]
    assert sorted(rows["hash"]) == sorted(exp["hash"])
    assert set(rows["package"].astype(str)) == {"py-build"}
    assert all("e4s" in s.split(", ") for s in rows["stacks"].astype(str))
    assert res.package_stack["count"].sum() == len(reference)


def test_empty_selection_result(index):
    res = q.compute(index, q.Selection(package="no-such-package"))
    assert res.numbers["specs"] == 0 and res.package_stack.empty and res.os_target.empty


def test_versions_sort_as_spack_orders_them(real_data, index):
    """Numeric components compare as numbers, branch names are newest: on the real pages'
    versions, in the selector options and in the table order."""
    from dashboard.core.spack import sort_versions, version_key

    assert sort_versions(["0.2.1", "0.36.2", "0.4.1", "1.10.0", "1.2", "develop", "main", "7.0.2", "39.2.0", "2023.02.20"], newest_first=True) == [
        "develop", "main", "2023.02.20", "39.2.0", "7.0.2", "1.10.0", "1.2", "0.36.2", "0.4.1", "0.2.1",
    ]
    assert version_key("1.2") < version_key("1.2a") < version_key("1.2.0") < version_key("1.10")
    options = q.option_counts(index, q.Selection())["version"]["value"].tolist()
    real = set(real_data.specs["version"].astype(str))
    assert set(options) == real
    # newest first: every neighbour pair is in descending order, compared component by component
    for newer, older in zip(options, options[1:]):
        a = [int(x) for x in newer.split(",")[0].split("-")[0].split(".") if x.isdigit()]
        b = [int(x) for x in older.split(",")[0].split("-")[0].split(".") if x.isdigit()]
        assert a >= b, (newer, older)
    assert options.index("39.2.0") < options.index("7.0.2") < options.index("0.36.2") < options.index("0.4.1")
    # the table lists a package's versions newest first
    rows = q.table_rows(index, q.spec_mask(index, q.Selection(package="py-wheel")))
    versions = list(dict.fromkeys(rows["version"].astype(str)))
    assert versions == sort_versions(versions, newest_first=True) and len(versions) > 1


def test_version_options_name_their_packages(index, reference):
    opts = q.option_counts(index, q.Selection())["version"].set_index("value")
    for version, group in reference.drop_duplicates(["path", "hash"]).groupby("version"):
        packages = sorted(group["package"].unique())
        label = opts.loc[version, "packages"]
        assert label.startswith(", ".join(packages[:2]))
        assert (f"+{len(packages) - 2} more" in label) == (len(packages) > 2)


def test_stacks_number_counts_named_stacks_only(index, reference):
    """Stacks = named stacks (never root) holding a selected spec, within the chosen
    or clicked stack when there is one."""
    named = reference[reference["stack"] != "root"]
    assert q.compute(index, q.Selection()).numbers["stacks"] == named["stack"].nunique()
    assert q.compute(index, q.Selection(stack=("e4s",))).numbers["stacks"] == 1
    assert q.compute(index, q.Selection(stack=("root",))).numbers["stacks"] == named["stack"].nunique()
    cell = q.compute(index, q.Selection(cell=("adiak", "e4s")))
    assert cell.numbers["stacks"] == 1 and cell.numbers["specs"] == len(reference[(reference["package"] == "adiak") & (reference["stack"] == "e4s")])
    tag = reference["tag"].iloc[0]
    assert q.compute(index, q.Selection(tag=(tag,))).numbers["stacks"] == named.loc[named["tag"] == tag, "stack"].nunique()
    assert q.compute(index, q.Selection(package="zzz")).numbers["stacks"] == 0


def test_every_number_option_and_heatmap_matches_reference(index, reference):
    """Random selections (filters on 0-4 dimensions, name search, heatmap cell, top N),
    asked in a shuffled order with repeats, so that answers kept in the index's memo
    are checked as well: every headline number, every selector option with its count,
    and the three heatmaps equal pandas group-bys of the PyYAML reading."""
    rnd = random.Random(7)
    sels = list(random_selections(reference, 50, seed=3))
    cells = reference[["package", "stack"]].drop_duplicates().itertuples(index=False)
    cells = [tuple(c) for c in cells]
    sels += [q.Selection(**{**{d: s.values(d) for d in q.DIMENSIONS}, "package": s.package, "cell": rnd.choice(cells)}) for s in sels[:15]]
    asks = sels + rnd.sample(sels, 25)
    rnd.shuffle(asks)
    for sel in asks:
        top_n = rnd.choice([5, 30, 1000])
        res = q.compute(index, sel, top_n=top_n)
        with_cell = expected_specs(reference, sel)
        if sel.cell:
            pkg, stack = sel.cell
            ids = set(with_cell.loc[(with_cell["package"] == pkg) & (with_cell["stack"] == stack), "path"] + with_cell.loc[(with_cell["package"] == pkg) & (with_cell["stack"] == stack), "hash"])
            with_cell = with_cell[(with_cell["path"] + with_cell["hash"]).isin(ids)]
        one = with_cell.drop_duplicates(["path", "hash"])
        counted = {s for s in (*sel.stack, *(sel.cell[1:] if sel.cell else ())) if s != "root"}
        named = with_cell[(with_cell["stack"] != "root") & (with_cell["stack"].isin(counted) if counted else True)]
        assert res.numbers == {
            "packages": one["package"].nunique(), "pages": one["path"].nunique(), "specs": len(one),
            "stacks": named["stack"].nunique(), "tags": one["tag"].nunique(), "bytes": int(one["size"].fillna(0).sum()),
        }, sel
        # options: every other filter applies, not the dimension's own, never the cell
        for dim in q.DIMENSIONS:
            others = q.Selection(**{d: (() if d == dim else sel.values(d)) for d in q.DIMENSIONS}, package=sel.package)
            rows = expected_specs(reference, others)
            if dim != "stack":
                rows = rows.drop_duplicates(["path", "hash"])
            want = rows.groupby(dim).size().to_dict()
            want.update({v: 0 for v in sel.values(dim) if v not in want})
            got = dict(zip(res.options[dim]["value"], res.options[dim]["specs"]))
            assert got == want, (sel, dim)
        # heatmaps ignore the cell; stack x tag ignores the tag filter too
        no_cell = expected_specs(reference, sel.without("cell"))
        in_stacks = no_cell[no_cell["stack"].isin(sel.stack)] if sel.stack else no_cell
        per_pkg = no_cell.drop_duplicates(["path", "hash"]).groupby("package").size()
        top = sorted(per_pkg.index, key=lambda p: (-per_pkg[p], p))[:top_n]
        assert list(dict.fromkeys(res.package_stack["package"])) == [p for p in top if p in set(in_stacks["package"])], sel
        want_ps = in_stacks[in_stacks["package"].isin(top)].groupby(["package", "stack"]).size().to_dict()
        assert res.package_stack.set_index(["package", "stack"])["count"].to_dict() == want_ps, sel
        want_ot = no_cell.drop_duplicates(["path", "hash"]).groupby(["os", "target"]).size().to_dict()
        assert res.os_target.set_index(["os", "target"])["count"].to_dict() == want_ot, sel
        all_tags = expected_specs(reference, sel.without("cell", "tag"))
        all_tags = all_tags[all_tags["stack"].isin(sel.stack)] if sel.stack else all_tags
        assert res.stack_tag.set_index(["stack", "tag"])["count"].to_dict() == all_tags.groupby(["stack", "tag"]).size().to_dict(), sel
        assert sorted(q.table_rows(index, res.mask)["hash"]) == sorted(one["hash"]), sel


@pytest.mark.parametrize(("column", "text"), [("package", "PY-"), ("hash", "a"), ("compiler", "gcc@11"), ("tag", "03-30"), ("os", "nothing-like-this")])
def test_table_header_filters_are_part_of_the_selection(index, reference, column, text):
    """A header filter of the spec table (cell contains text, case ignored) narrows the
    numbers and the table as pandas' str.contains over PyYAML's reading does."""
    specs = reference.drop_duplicates(["tag", "hash"])
    want = specs[specs[column].astype(str).str.contains(text, case=False, regex=False)]
    res = q.compute(index, q.Selection(columns=((column, text),)))
    assert res.numbers["specs"] == len(want) and res.numbers["packages"] == want["package"].nunique()
    rows = q.table_rows(index, res.mask)
    assert sorted(zip(rows["tag"].astype(str), rows["hash"].astype(str))) == sorted(zip(want["tag"], want["hash"]))
    # with a selector too: both apply
    both = q.compute(index, q.Selection(stack=("e4s",), columns=((column, text),)))
    in_e4s = set(zip(*reference.loc[reference["stack"] == "e4s", ["tag", "hash"]].T.to_numpy()))
    assert both.numbers["specs"] == sum((t, h) in in_e4s for t, h in zip(want["tag"], want["hash"]))
    # a blank text or a column of numbers filters nothing
    assert q.compute(index, q.Selection(columns=((column, "  "), ("size", "1")))).numbers["specs"] == len(specs)


def test_bytes_per_heatmap_cell_and_per_tag_are_spacks_tarball_sizes(tmp_path):
    """Each heatmap cell's bytes (and the headline's per-tag totals) are the sums, by
    pandas, of the tarball sizes Spack wrote in its spec manifests (read here with json),
    for two Spack-written mirrors, over every spec and over a selection."""
    import json

    from conftest import ROOT
    from dashboard.load import load

    mirrors = ROOT / "assets" / "mirrors" / "spack-1.2"
    roots = [mirrors / "spack-1.2-v3-unsigned", mirrors / "spack-1.2-v3-signed"]
    spack_size = {}
    for path in (roots[0] / "v3" / "manifests" / "spec").rglob("*.spec.manifest.json"):
        records = json.loads(path.read_text())["data"]
        spack_size[path.name.removesuffix(".spec.manifest.json").rsplit("-", 1)[1]] = next(
            d["contentLength"] for d in records if d["mediaType"].startswith("application/vnd.spack.install"))
    data = load(roots, sizes=True, cache_dir=tmp_path)
    specs = data.specs.assign(spack=data.specs["hash"].astype(str).map(spack_size).astype("int64"))
    long = data.spec_stacks.join(specs, on="spec")
    index = q.build_index(data)
    for sel in (q.Selection(), q.Selection(target=("zen2",))):
        chosen = specs[specs["target"].isin(sel.target)] if sel.target else specs
        result = q.compute(index, sel, top_n=50)

        def pairs(frame, keys, value="bytes"):
            return {tuple(map(str, k)): int(v) for k, v in frame.groupby(keys, observed=True)[value].sum().items() if v}

        assert pairs(result.os_target, ["os", "target"]) == pairs(chosen, ["os", "target"], "spack")
        assert pairs(result.package_stack, ["package", "stack"]) == pairs(long[long["spec"].isin(chosen.index)], ["package", "stack"], "spack")
        # the stack x tag heatmap ignores the tag filter (none here), as its counts
        assert pairs(result.stack_tag, ["stack", "tag"]) == pairs(long[long["spec"].isin(chosen.index)], ["stack", "tag"], "spack")
        by_tag = result.sizes_by["tag"]
        assert dict(zip(by_tag["tag"], by_tag["bytes"])) == chosen.groupby("tag", observed=True)["spack"].sum().to_dict()
        assert (by_tag["sized"] == by_tag["specs"]).all()
        assert len(result.sizes_by["stack"]) == 0  # mirrors name no stacks but root, which the line leaves out


def test_no_bytes_per_cell_where_no_size_is_known(index):
    """Pages write "-" for every size: the heatmap frames carry no bytes and the headline no totals."""
    result = q.compute(index, q.Selection(), top_n=10)
    assert index.data.specs["size"].isna().all()
    assert "bytes" not in result.os_target and "bytes" not in result.stack_tag and result.sizes_by == {}
