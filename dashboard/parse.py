"""Parse cache.spack.io build-cache summary pages into Arrow tables.

Source format (one page per package per tag, ``_cache/<tag>/<package>/specs.md``)::

    ---
    title: "py-build"
    layout: cache
    categories: [package, develop]
    meta: {"num_specs": 52, "num_specs_by_stack": {"e4s": 18, ...}, ...}
    spec_details: [{"hash": "...", "versions": ["1.2.1"], "compiler": "none",
                    "os": "ubuntu24.04", "platform": "linux", "target": "aarch64",
                    "variants": ["~virtualenv"], "stacks": ["e4s", "root"],
                    "size": "-"}, ...]
    ---

``meta`` and ``spec_details`` are one-line JSON in every real page, so the fast
path is ``json.loads`` on those lines; any page that does not fit that shape is
re-read with PyYAML (C loader when available).  This module imports no Panel and
no pandas: it produces :class:`pyarrow.Table` chunks that :mod:`dashboard.load`
concatenates, caches and converts.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter
from pathlib import Path

import numpy as np
import pyarrow as pa
import yaml

try:  # the C loader is ~10x faster; fall back to pure Python where libyaml is missing
    _YamlLoader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _YamlLoader = yaml.SafeLoader

SPEC_FIELDS = ("hash", "versions", "compiler", "os", "platform", "target", "variants", "stacks", "size")
_get_fields = itemgetter(*SPEC_FIELDS)
_STR_ONLY = {str}
META_LIST_FIELDS = ("stacks", "oss", "platforms", "targets", "versions", "compilers")

#: Arrow schema of the ``specs`` chunk table (one row per binary).
SPEC_SCHEMA = pa.schema(
    [
        ("page_id", pa.int32()),
        ("hash", pa.string()),
        ("version", pa.string()),
        ("compiler", pa.string()),
        ("os", pa.string()),
        ("platform", pa.string()),
        ("target", pa.string()),
        ("variants", pa.string()),
        ("stacks", pa.string()),
        ("n_stacks", pa.int16()),
        ("size", pa.int64()),
    ]
)
#: One row per spec per stack, in spec order (``n_stacks`` rows per spec).
STACK_SCHEMA = pa.schema([("page_id", pa.int32()), ("stack", pa.string())])
#: One row per page (also pages that failed to load: ``error`` is then set).
PAGE_SCHEMA = pa.schema(
    [
        ("page_id", pa.int32()),
        ("path", pa.string()),
        ("tag", pa.string()),
        ("package", pa.string()),
        ("meta_num_specs", pa.int64()),
        ("num_specs", pa.int64()),
        *[(f"meta_{name}", pa.string()) for name in META_LIST_FIELDS],
        ("error", pa.string()),
    ]
)
#: ``meta.num_specs_by_stack`` as a long table.
META_STACK_SCHEMA = pa.schema([("page_id", pa.int32()), ("stack", pa.string()), ("num_specs", pa.int64())])
#: One row per problem found while reading a page.
PROBLEM_SCHEMA = pa.schema(
    [("page_id", pa.int32()), ("path", pa.string()), ("severity", pa.string()), ("problem", pa.string())]
)


class PageError(ValueError):
    """A page that cannot be loaded at all; ``str(err)`` says why (no path)."""


@dataclass
class Page:
    """The front matter of one page, as Python objects."""

    title: str | None
    tag: str | None
    meta: dict | None
    spec_details: list
    warnings: list[str] = field(default_factory=list)


def _scalar(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        if value[0] == '"':
            return json.loads(value)
        return value[1:-1].replace("''", "'")
    return value


def _tag_from_categories(categories) -> str | None:
    if isinstance(categories, str):
        categories = [c.strip() for c in categories.strip("[]").split(",")]
    if not isinstance(categories, list):
        return None
    tags = [str(c) for c in categories if str(c) and str(c) != "package"]
    return tags[0] if tags else None


def split_front_matter(text: str) -> str:
    """Return the text between the opening and closing ``---`` lines.

    Raises:
        PageError: empty page, no opening ``---``, or no closing ``---`` (truncated).
    """
    if not text.strip():
        raise PageError("empty file")
    if not text.startswith("---"):
        raise PageError("no front matter: the page does not start with a '---' line")
    start = text.find("\n")
    end = text.find("\n---", start) if start >= 0 else -1
    if end < 0:
        raise PageError("truncated: front matter has no closing '---' line")
    return text[start + 1 : end + 1]


def parse_front_matter(front: str) -> Page:
    """Parse front matter text (without the ``---`` lines) into a :class:`Page`.

    Fast path: one ``key: value`` per line with JSON values.  Anything else is
    parsed with PyYAML.

    Raises:
        PageError: not valid JSON or YAML, not a mapping, no ``spec_details``, or
            ``spec_details`` is not a list.
    """
    fields: dict = {}
    fast = True
    for line in front.splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition(": ")
        if not sep or line[0] in " \t-#":
            fast = False
            break
        if key in ("meta", "spec_details"):
            try:
                fields[key] = json.loads(value)
            except ValueError:
                fast = False
                break
        elif key == "title":
            try:
                fields[key] = _scalar(value)
            except ValueError:
                fast = False
                break
        elif key == "categories":
            fields[key] = value
    if not fast:
        try:
            fields = yaml.load(front, Loader=_YamlLoader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 2})" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise PageError(f"front matter is neither JSON nor valid YAML{where}: {problem}") from None
        if not isinstance(fields, dict):
            raise PageError("front matter is not a key: value mapping")
    if "spec_details" not in fields or fields["spec_details"] is None:
        raise PageError("no spec_details in the front matter")
    specs = fields["spec_details"]
    if not isinstance(specs, list):
        raise PageError(f"spec_details is a {type(specs).__name__}, not a list")
    meta = fields.get("meta")
    warnings = []
    if meta is None:
        warnings.append("no meta rollup in the front matter")
    elif not isinstance(meta, dict):
        warnings.append(f"meta is a {type(meta).__name__}, not a mapping; ignored")
        meta = None
    title = fields.get("title")
    return Page(
        title=str(title) if title not in (None, "") else None,
        tag=_tag_from_categories(fields.get("categories")),
        meta=meta,
        spec_details=specs,
        warnings=warnings,
    )


def read_page(path: str | os.PathLike) -> Page:
    """Read and parse one ``specs.md`` page.

    Raises:
        PageError: unreadable, not UTF-8, empty, truncated, or malformed.
    """
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise PageError(f"cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PageError(f"not UTF-8: byte 0x{raw[exc.start]:02x} at offset {exc.start}") from None
    return parse_front_matter(split_front_matter(text))


def _join(value, sep: str) -> str:
    if isinstance(value, list):
        return sep.join(map(str, value))
    return "" if value is None else str(value)


def _size(value) -> int | None:
    if type(value) is int:
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _spec_columns_fast(rows: list):
    """Columns of ``rows`` when every row is a well-formed record, else ``None``."""
    try:
        cols = list(zip(*map(_get_fields, rows)))
        if not cols:
            return None
        hashes, versions, compilers, oss, platforms, targets, variants, stacks, sizes = cols
        version = [v[0] if len(v) == 1 else ", ".join(v) for v in versions]
        variant = [" ".join(v) for v in variants]
        stack = [", ".join(s) for s in stacks]
        n_stacks = list(map(len, stacks))
        flat_stacks = list(chain.from_iterable(stacks))
    except (KeyError, TypeError, AttributeError):
        return None
    for column in (hashes, version, compilers, oss, platforms, targets, flat_stacks):
        if column and set(map(type, column)) != _STR_ONLY:
            return None
    size = [s if type(s) is int else None if s == "-" else _size(s) for s in sizes]
    return [list(hashes), version, list(compilers), list(oss), list(platforms), list(targets), variant, stack, n_stacks, size], flat_stacks


def _spec_columns_slow(rows: list, warnings: list[str]):
    """Row-by-row extraction that tolerates odd records, noting what it dropped."""
    cols = [[] for _ in range(10)]
    flat_stacks: list[str] = []
    dropped = 0
    for row in rows:
        if not isinstance(row, dict) or not row.get("hash"):
            dropped += 1
            continue
        stacks = row.get("stacks") or []
        if not isinstance(stacks, list):
            stacks = [str(stacks)]
        stacks = [str(s) for s in stacks]
        values = (
            str(row["hash"]),
            _join(row.get("versions", row.get("version")), ", "),
            str(row.get("compiler") or "none"),
            str(row.get("os") or ""),
            str(row.get("platform") or ""),
            str(row.get("target") or ""),
            _join(row.get("variants"), " "),
            ", ".join(stacks),
            len(stacks),
            _size(row.get("size")),
        )
        for col, value in zip(cols, values):
            col.append(value)
        flat_stacks.extend(stacks)
    if dropped:
        warnings.append(f"{dropped} spec_details record(s) without a hash were skipped")
    return cols, flat_stacks


def meta_disagreements(meta: dict, num_specs: int, flat_stacks: list[str]) -> list[str]:
    """Where a page's ``meta`` rollup disagrees with its own ``spec_details``.

    Args:
        meta: the page's ``meta`` mapping.
        num_specs: spec records loaded from ``spec_details``.
        flat_stacks: every loaded spec's stack names, concatenated.

    Returns:
        One message per disagreement: ``meta.num_specs`` vs the record count,
        and each ``meta.num_specs_by_stack`` entry vs the loaded specs in that
        stack (a stack on only one side counts as ``absent``/0 on the other).
        Nothing is checked for a count the rollup does not give.
    """
    out = []
    num = meta.get("num_specs")
    if type(num) is int and num != num_specs:
        out.append(f"meta.num_specs is {num} but spec_details has {num_specs} records")
    by_stack = meta.get("num_specs_by_stack")
    if isinstance(by_stack, dict) and by_stack:
        loaded = Counter(flat_stacks)
        claimed = {str(k): v for k, v in by_stack.items()}
        for stack in sorted(claimed.keys() | loaded.keys()):
            if stack in claimed and type(claimed[stack]) is not int:
                continue  # not a count
            claim, have = claimed.get(stack), loaded.get(stack, 0)
            if claim != have:
                out.append(f"meta.num_specs_by_stack[{stack!r}] is {'absent' if claim is None else claim} but spec_details has {have}")
    return out


def _names(path: str) -> tuple[str, str]:
    """(tag, package) from ``.../<tag>/<package>/specs.md``."""
    parts = path.replace(os.sep, "/").rsplit("/", 3)
    package = parts[-2] if len(parts) >= 2 else Path(path).stem
    tag = parts[-3] if len(parts) >= 3 else ""
    return tag, package


def parse_pages(items: list[tuple[int, str]]) -> dict[str, pa.Table]:
    """Parse pages into Arrow tables.

    Args:
        items: ``(page_id, path)`` pairs.

    Returns:
        ``{"specs", "spec_stacks", "pages", "meta_stacks", "problems"}`` tables with
        :data:`SPEC_SCHEMA`, :data:`STACK_SCHEMA`, :data:`PAGE_SCHEMA`,
        :data:`META_STACK_SCHEMA` and :data:`PROBLEM_SCHEMA`.  A page that fails is
        a ``pages`` row with ``error`` set plus a ``problems`` row; it never
        raises for bad input.  A page that loads but whose ``meta`` disagrees
        with its ``spec_details`` (:func:`meta_disagreements`) gets ``warning``
        rows in ``problems``.
    """
    spec_cols: list[list] = [[] for _ in range(10)]
    spec_page: list[int] = []  # page id per page, repeated by spec_count below
    spec_count: list[int] = []
    stack_names: list[str] = []
    stack_count: list[int] = []
    pages = {name: [] for name in PAGE_SCHEMA.names}
    meta_stacks = {name: [] for name in META_STACK_SCHEMA.names}
    problems = {name: [] for name in PROBLEM_SCHEMA.names}

    def problem(page_id, path, severity, text):
        problems["page_id"].append(page_id)
        problems["path"].append(path)
        problems["severity"].append(severity)
        problems["problem"].append(text)

    for page_id, path in items:
        dir_tag, dir_package = _names(path)
        row = dict.fromkeys(PAGE_SCHEMA.names)
        row.update(page_id=page_id, path=path, tag=dir_tag, package=dir_package, num_specs=0)
        try:
            page = read_page(path)
        except PageError as exc:
            row["error"] = str(exc)
            problem(page_id, path, "error", str(exc))
            for name in PAGE_SCHEMA.names:
                pages[name].append(row[name])
            continue
        warnings = list(page.warnings)
        row["tag"] = page.tag or dir_tag
        row["package"] = page.title or dir_package
        if page.tag is None:
            warnings.append(f"no tag in categories; using folder name {dir_tag!r}")
        if page.title is None:
            warnings.append(f"no title; using folder name {dir_package!r}")
        rows = page.spec_details
        fast = _spec_columns_fast(rows) if rows else None
        cols, flat = fast if fast is not None else _spec_columns_slow(rows, warnings)
        n = len(cols[0])
        for dst, src in zip(spec_cols, cols):
            dst.extend(src)
        spec_page.append(page_id)
        spec_count.append(n)
        stack_names.extend(flat)
        stack_count.append(len(flat))
        row["num_specs"] = n
        meta = page.meta or {}
        num = meta.get("num_specs")
        row["meta_num_specs"] = num if type(num) is int else None
        for name in META_LIST_FIELDS:
            value = meta.get(name)
            row[f"meta_{name}"] = _join(value, ", ") if value is not None else None
        by_stack = meta.get("num_specs_by_stack")
        if isinstance(by_stack, dict):
            for stack, count in by_stack.items():
                meta_stacks["page_id"].append(page_id)
                meta_stacks["stack"].append(str(stack))
                meta_stacks["num_specs"].append(count if type(count) is int else None)
        if page.meta is not None:
            warnings += meta_disagreements(meta, n, flat)
        for text in warnings:
            problem(page_id, path, "warning", text)
        for name in PAGE_SCHEMA.names:
            pages[name].append(row[name])

    page_ids = np.asarray(spec_page, dtype=np.int32)
    specs = pa.table(
        [pa.array(np.repeat(page_ids, spec_count))]
        + [pa.array(col, type=f.type) for col, f in zip(spec_cols, list(SPEC_SCHEMA)[1:])],
        schema=SPEC_SCHEMA,
    )
    spec_stacks = pa.table(
        [pa.array(np.repeat(page_ids, stack_count)), pa.array(stack_names, type=pa.string())],
        schema=STACK_SCHEMA,
    )
    return {
        "specs": specs,
        "spec_stacks": spec_stacks,
        "pages": pa.table(pages, schema=PAGE_SCHEMA),
        "meta_stacks": pa.table(meta_stacks, schema=META_STACK_SCHEMA),
        "problems": pa.table(problems, schema=PROBLEM_SCHEMA),
    }
