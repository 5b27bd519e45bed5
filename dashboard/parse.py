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
import re
from collections import Counter
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter
from pathlib import Path

import numpy as np
import pyarrow as pa
import yaml

from .spack import normalize_compiler

try:  # the C loader is ~10x faster; fall back to pure Python where libyaml is missing
    _BaseLoader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _BaseLoader = yaml.SafeLoader


class _YamlLoader(_BaseLoader):
    """PyYAML's safe loader, except that floats, booleans and dates stay the text
    they were written as: ``versions: [1.10]`` is version ``"1.10"`` (not 1.1), as
    the JSON fast path reads it."""


def _as_text(loader, node):
    return loader.construct_scalar(node)


def _int_or_text(loader, node):
    """A YAML int, or its text when Python refuses it (over 4,300 digits)."""
    try:
        return loader.construct_yaml_int(node)
    except ValueError:
        return loader.construct_scalar(node)


def _json_int(text: str):
    """A JSON int as ``int``, or its text when it has over 19 digits (beyond
    ``int64``, and Python refuses over 4,300): never a reason to drop a page."""
    return int(text) if len(text) <= 20 else text


for _tag in ("float", "bool", "timestamp"):
    _YamlLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _as_text)
_YamlLoader.add_constructor("tag:yaml.org,2002:int", _int_or_text)

#: Pages larger than this are not parsed (bytes): bounded time and memory per page.
MAX_PAGE_BYTES = 64 * 1024 * 1024
#: Nesting deeper than this (brackets or block levels) is refused before parsing;
#: real pages nest 4 deep.
MAX_DEPTH = 64
#: Largest count or size kept (Arrow ``int64``); larger numbers are reported, not loaded.
MAX_INT = 2**63 - 1
#: A JSON escape of a lone UTF-16 surrogate: only these make text Arrow cannot store.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
#: Quoted strings (skipped) and brackets (counted) for the depth check.
_DEPTH_TOKENS = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\n]|\'\')*\'|[\[\]{}]')
#: A YAML anchor or alias (``&name`` / ``*name``) outside quotes.
_ANCHOR = re.compile(r"(?:^|[\s\[{,:])[&*][^\s,\]}]")
_TOP_KEY = re.compile(r"^([^\s#:\-\[{'\"][^:\n]*?)\s*:(?:\s|$)", re.MULTILINE)

SPEC_FIELDS = ("hash", "versions", "compiler", "os", "platform", "target", "variants", "stacks", "size")
_get_fields = itemgetter(*SPEC_FIELDS)
_STR_ONLY = {str}
#: First characters that make an unquoted YAML scalar something other than plain text.
_YAML_INDICATORS = "[{&*!|>%@`#,?:-"
_YAML_NULLS = {"~", "null", "Null", "NULL"}
_LIST_ONLY = {list}
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
    """The tag in ``categories: [package, <tag>]`` (a list, or the flow-list text)."""
    if isinstance(categories, str):
        text = categories.strip()
        if any(q in text for q in "\"'"):  # quoted items (maybe with commas): YAML reads them
            try:
                categories = yaml.load(text, Loader=_YamlLoader)
            except yaml.YAMLError:
                return None
        else:
            categories = [c.strip() for c in text.strip("[]").split(",")]
    if not isinstance(categories, list):
        return None
    tags = [str(c) for c in categories if isinstance(c, (str, int)) and str(c) and str(c) != "package"]
    return tags[0] if tags else None


def split_front_matter(text: str) -> str:
    """Return the text between the opening and closing ``---`` lines.

    A UTF-8 byte-order mark and ``\\r\\n`` or ``\\r`` line ends are accepted.

    Raises:
        PageError: empty page, no opening ``---``, or no closing ``---`` (truncated).
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise PageError("empty file")
    if not text.startswith("---"):
        raise PageError("no front matter: the page does not start with a '---' line")
    start = text.find("\n")
    end = text.find("\n---", start) if start >= 0 else -1
    if end < 0:
        raise PageError("truncated: front matter has no closing '---' line")
    return text[start + 1 : end + 1]


def _nesting_depth(front: str) -> int:
    """Deepest nesting of ``front``: flow brackets outside quotes, block
    indentation (2 columns a level) and ``- - -`` runs, whichever is deepest.
    Pure Python, linear: it runs before libyaml sees the text."""
    depth = deepest = 0
    for match in _DEPTH_TOKENS.finditer(front):
        token = match.group()
        if token in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif token in "]}":
            depth = max(depth - 1, 0)
    for line in front.splitlines():
        stripped = line.lstrip(" -")
        deepest = max(deepest, (len(line) - len(stripped)) // 2)
    return deepest


def _duplicate_top_key(front: str) -> str | None:
    """A top-level key written twice (PyYAML keeps the last silently), else ``None``."""
    seen = set()
    for match in _TOP_KEY.finditer(front):
        key = match.group(1).strip().strip("\"'")
        if key in seen:
            return key
        seen.add(key)
    return None


def _yaml_fields(front: str):
    """The front matter read by PyYAML, after the checks that keep it bounded."""
    depth = _nesting_depth(front)
    if depth > MAX_DEPTH:
        raise PageError(f"front matter nests {depth} levels deep (more than {MAX_DEPTH}): not parsed")
    if _ANCHOR.search(front) and any(
        isinstance(t, (yaml.AnchorToken, yaml.AliasToken)) for t in yaml.scan(front, Loader=_YamlLoader)
    ):
        raise PageError("front matter uses YAML anchors or aliases (&name / *name): not parsed")
    try:
        return yaml.load(front, Loader=_YamlLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 2})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PageError(f"front matter is neither JSON nor valid YAML{where}: {problem}") from None
    except RecursionError:
        raise PageError("front matter nests too deep: not parsed") from None


def _check_text(value, where: str) -> None:
    """Raise :class:`PageError` if any string in ``value`` holds a lone surrogate
    (``"\\udc00"``): valid JSON and YAML, but not storable text."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise PageError(f"{where} holds a lone UTF-16 surrogate escape (\\udXXX): not valid text") from None
    except (RecursionError, ValueError):
        raise PageError(f"{where} nests too deep") from None


def parse_front_matter(front: str) -> Page:
    """Parse front matter text (without the ``---`` lines) into a :class:`Page`.

    Fast path: one ``key: value`` per line with JSON values.  Anything else is
    parsed with PyYAML's safe loader, reading floats, booleans and dates as
    the text written (as JSON numbers are read: ``1.10`` stays ``"1.10"``).
    Both paths give the same :class:`Page` for a page PyYAML reads.

    Raises:
        PageError: not valid JSON or YAML, not a mapping, a top-level key
            written twice, nested deeper than :data:`MAX_DEPTH`, YAML anchors
            or aliases, lone surrogate escapes, no ``spec_details``, or
            ``spec_details`` is not a list.
    """
    fields: dict = {}
    fast = True
    for line in front.splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition(": ")
        if not sep or line[0] in " \t-#?&*!|>'\"{[":
            fast = False
            break
        key = key.rstrip()
        if key in fields:
            raise PageError(f"key {key!r} is written twice in the front matter (the second would replace the first)")
        if key in ("meta", "spec_details"):
            try:
                fields[key] = json.loads(value, parse_float=str, parse_int=_json_int)
            except RecursionError:
                raise PageError(f"{key} nests too deep: not parsed") from None
            except ValueError:
                fast = False
                break
        elif key == "title":
            raw = value.strip()
            if not raw or raw[0] in _YAML_INDICATORS or raw in _YAML_NULLS or " #" in raw or ": " in raw:
                fast = False  # YAML gives this a meaning of its own
                break
            try:
                fields[key] = _scalar(raw)
            except ValueError:
                fast = False
                break
        elif key == "categories":
            fields[key] = value
        else:
            fields[key] = None  # other keys (layout, ...) are not read
    if not fast:
        duplicate = _duplicate_top_key(front)
        if duplicate is not None:
            raise PageError(f"key {duplicate!r} is written twice in the front matter (the second would replace the first)")
        fields = _yaml_fields(front)
        if not isinstance(fields, dict):
            raise PageError("front matter is not a key: value mapping")
    if _SURROGATE_ESCAPE.search(front):
        for key in ("title", "categories", "meta", "spec_details"):
            _check_text(fields.get(key), key)
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
    if isinstance(title, (list, dict)):
        warnings.append(f"title is a {type(title).__name__}, not a name; ignored")
        title = None
    return Page(
        title=str(title) if title not in (None, "") else None,
        tag=_tag_from_categories(fields.get("categories")),
        meta=meta,
        spec_details=specs,
        warnings=warnings,
    )


def read_page(path: str | os.PathLike) -> Page:
    """Read and parse one ``specs.md`` page (at most :data:`MAX_PAGE_BYTES`).

    Raises:
        PageError: unreadable, too large, not UTF-8, empty, truncated, or malformed.
    """
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_PAGE_BYTES + 1)
    except OSError as exc:
        raise PageError(f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_PAGE_BYTES:
        raise PageError(f"larger than {MAX_PAGE_BYTES // 2**20} MiB: not parsed")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PageError(f"not UTF-8: byte 0x{raw[exc.start]:02x} at offset {exc.start}") from None
    return parse_front_matter(split_front_matter(text))


def _join(value, sep: str) -> str:
    if isinstance(value, list):
        return sep.join(map(str, value))
    return "" if value is None else str(value)


def count(value) -> int | None:
    """``value`` as a count or size: an ``int`` or a string of ASCII digits, from 0
    to :data:`MAX_INT`; ``None`` for anything else (``"-"``, negative, fractional,
    too large, ``"²"``, ``True``)."""
    if type(value) is int:
        return value if 0 <= value <= MAX_INT else None
    if isinstance(value, str):
        value = value.strip()
        if value.isascii() and value.isdigit() and len(value) <= 19:
            number = int(value)
            return number if number <= MAX_INT else None
    return None


def _sizes(values: list, warnings: list[str]) -> list:
    """Byte sizes of one page's specs: ``None`` where unknown (``"-"``) or not a
    byte count (a warning says how many)."""
    out = [v if type(v) is int and 0 <= v <= MAX_INT else None if v == "-" else count(v) for v in values]
    bad = sum(1 for v, o in zip(values, out) if o is None and v != "-" and v is not None)
    if bad:
        warnings.append(f"{bad} spec size(s) are not a byte count (negative, fractional, too large or not a number): shown as unknown")
    return out


def _spec_columns_fast(rows: list, warnings: list[str]):
    """Columns of ``rows`` when every row is a well-formed record, else ``None``."""
    try:
        cols = list(zip(*map(_get_fields, rows)))
        if not cols:
            return None
        hashes, versions, compilers, oss, platforms, targets, variants, stacks, sizes = cols
        for column in (versions, variants, stacks):
            if set(map(type, column)) != _LIST_ONLY:
                return None
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
    if not all(hashes):
        return None
    compiler = [normalize_compiler(c) for c in compilers]
    size = _sizes(list(sizes), warnings)
    return [list(hashes), version, compiler, list(oss), list(platforms), list(targets), variant, stack, n_stacks, size], flat_stacks


def _text(value) -> str:
    """A scalar field as text (lists and mappings are not names: ``""``)."""
    if value is None or isinstance(value, (list, dict)):
        return ""
    return str(value)


def _spec_columns_slow(rows: list, warnings: list[str]):
    """Row-by-row extraction that tolerates odd records, noting what it dropped.

    A string where a list is expected (``stacks: "e4s"``, ``versions: "1.2.3"``,
    ``variants: "+pic"``) is read as a one-item list.
    """
    cols = [[] for _ in range(10)]
    flat_stacks: list[str] = []
    sizes: list = []
    dropped = 0
    for row in rows:
        if not isinstance(row, dict) or not _text(row.get("hash")):
            dropped += 1
            continue
        stacks = row.get("stacks")
        stacks = [] if stacks is None else stacks if isinstance(stacks, list) else [stacks]
        stacks = [_text(s) for s in stacks if _text(s)]
        values = (
            _text(row["hash"]),
            _join(row.get("versions", row.get("version")), ", "),
            normalize_compiler(_text(row.get("compiler")) or "none"),
            _text(row.get("os")),
            _text(row.get("platform")),
            _text(row.get("target")),
            _join(row.get("variants"), " "),
            ", ".join(stacks),
            len(stacks),
        )
        for col, value in zip(cols, values):
            col.append(value)
        sizes.append(row.get("size"))
        flat_stacks.extend(stacks)
    cols[9] = _sizes(sizes, warnings)
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
        A count that is not a number from 0 to :data:`MAX_INT` is reported
        as such and not compared.
    """
    out = []
    num = meta.get("num_specs")
    if num is not None and count(num) is None:
        out.append("meta.num_specs is not a count; ignored")
    elif num is not None and count(num) != num_specs:
        out.append(f"meta.num_specs is {num} but spec_details has {num_specs} records")
    by_stack = meta.get("num_specs_by_stack")
    if isinstance(by_stack, dict) and by_stack:
        loaded = Counter(flat_stacks)
        claimed = {str(k): v for k, v in by_stack.items()}
        bad = sorted(k for k, v in claimed.items() if count(v) is None)
        if bad:
            out.append(f"meta.num_specs_by_stack is not a count for {len(bad)} stack(s); ignored")
        for stack in sorted(claimed.keys() | loaded.keys()):
            if stack in bad:
                continue
            claim, have = count(claimed[stack]) if stack in claimed else None, loaded.get(stack, 0)
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
            warnings = list(page.warnings)
            rows = page.spec_details
            fast = _spec_columns_fast(rows, warnings) if rows else None
            cols, flat = fast if fast is not None else _spec_columns_slow(rows, warnings)
        except PageError as exc:
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 - never let one page stop the others
            error = f"cannot be read: {type(exc).__name__}: {str(exc)[:200]}"
        else:
            error = None
        if error is not None:
            row["error"] = error
            problem(page_id, path, "error", error)
            for name in PAGE_SCHEMA.names:
                pages[name].append(row[name])
            continue
        row["tag"] = page.tag or dir_tag
        row["package"] = page.title or dir_package
        if page.tag is None:
            warnings.append(f"no tag in categories; using folder name {dir_tag!r}")
        if page.title is None:
            warnings.append(f"no title; using folder name {dir_package!r}")
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
        row["meta_num_specs"] = count(num)
        for name in META_LIST_FIELDS:
            value = meta.get(name)
            row[f"meta_{name}"] = _join(value, ", ") if value is not None else None
        by_stack = meta.get("num_specs_by_stack")
        if isinstance(by_stack, dict):
            for stack, claim in by_stack.items():
                meta_stacks["page_id"].append(page_id)
                meta_stacks["stack"].append(str(stack))
                meta_stacks["num_specs"].append(count(claim))
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
