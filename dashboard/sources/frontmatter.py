"""Reading one cache.spack.io page: the Jekyll front matter between ``---`` lines,
into a :class:`Page` of Python objects.

Fast path: one ``key: value`` line per field with one-line JSON values (every
real page).  Anything else is read by PyYAML's safe loader, after checks that
keep it bounded: size (:data:`MAX_PAGE_BYTES`), nesting (:data:`MAX_DEPTH`),
no anchors or aliases, no key written twice.  Floats, booleans and dates
stay the text written, as JSON numbers are read (``versions: [1.10]`` is
``"1.10"``), so both paths agree on every page PyYAML reads.  Bad input raises
:class:`PageError` with the reason; nothing here knows about files in bulk,
Arrow or pandas (:mod:`dashboard.sources.parse` turns pages into tables).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Union

import msgspec
import yaml

from dashboard.sources import limits

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


#: JSON as ``json.loads`` reads it, floats kept as their text, ~2x faster.
_FAST_JSON = msgspec.json.Decoder(float_hook=str)


def _json(text: str):
    """JSON keeping floats as their text (``msgspec``); what msgspec refuses and
    ``json.loads`` reads (``NaN``, lone surrogate escapes, integers beyond its range)
    is read by ``json.loads``, where an integer Python refuses (over 4,300 digits) is
    kept as text, on a second try (no per-int callback on the fast path: it costs
    ~10% of a cold load).

    Raises:
        ValueError: not JSON.  RecursionError: nested too deep.
    """
    try:
        return _FAST_JSON.decode(text)
    except (msgspec.DecodeError, msgspec.ValidationError):
        pass
    try:
        return json.loads(text, parse_float=str)
    except ValueError as exc:
        if "digits" not in str(exc):
            raise
        return json.loads(text, parse_float=str, parse_int=_json_int)


def _json_int(text: str):
    """A JSON int as ``int``, or its text when it has over 19 digits (beyond
    ``int64``, and Python refuses over 4,300): never a reason to drop a page."""
    return int(text) if len(text) <= 20 else text


for _tag in ("float", "bool", "timestamp"):
    _YamlLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _as_text)
_YamlLoader.add_constructor("tag:yaml.org,2002:int", _int_or_text)

#: Largest page parsed (bytes) and deepest nesting accepted: :mod:`dashboard.sources.limits`.
MAX_PAGE_BYTES, MAX_DEPTH = limits.MAX_PAGE_BYTES, limits.MAX_PAGE_DEPTH
#: Largest count or size kept (Arrow ``int64``); larger numbers are reported, not loaded.
MAX_INT = 2**63 - 1
#: A JSON escape of a lone UTF-16 surrogate: only these make text Arrow cannot store.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
#: Quoted strings (skipped) and brackets (counted) for the depth check.
_DEPTH_TOKENS = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\n]|\'\')*\'|[\[\]{}]')
#: A YAML anchor or alias (``&name`` / ``*name``) outside quotes.
_ANCHOR = re.compile(r"(?:^|[\s\[{,:])[&*][^\s,\]}]")
_TOP_KEY = re.compile(r"^([^\s#:\-\[{'\"][^:\n]*?)\s*:(?:\s|$)", re.MULTILINE)


_YAML_INDICATORS = "[{&*!|>%@`#,?:-"
_YAML_NULLS = {"~", "null", "Null", "NULL"}


class PageError(ValueError):
    """A page that cannot be loaded at all; ``str(err)`` says why (no path)."""


class SpecRecord(msgspec.Struct, gc=False):
    """One ``spec_details`` record as the real pages write it (every field there,
    of its type; other fields are not read).  Pages whose records all fit are read
    into these, ~2x faster than into dicts; any other page is read as dicts."""

    hash: str
    versions: list[str]
    compiler: str
    os: str
    platform: str
    target: str
    variants: list[str]
    stacks: list[str]
    size: Union[int, str]


#: ``spec_details`` when every record is a well-formed :class:`SpecRecord`.
_SPEC_RECORDS = msgspec.json.Decoder(list[SpecRecord])


@dataclass
class Page:
    """The front matter of one page, as Python objects.

    ``spec_details`` is a list of :class:`SpecRecord` when every record is a
    well-formed one (the common case), else a list of what each record is
    (``dict`` for a record, anything else as written)."""

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
        if key == "spec_details" and "\\u" not in value:  # no escapes to check: typed records, or
            try:
                fields[key] = _SPEC_RECORDS.decode(value)
                continue
            except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
                pass  # read below as plain JSON
        if key in ("meta", "spec_details"):
            try:
                fields[key] = _json(value)
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
            value = fields.get(key)
            if not (isinstance(value, list) and value and type(value[0]) is SpecRecord):  # typed: its line had no escape
                _check_text(value, key)
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


def _read_bytes(path: str | os.PathLike) -> bytes:
    """A page's bytes, at most ``MAX_PAGE_BYTES + 1`` (one more tells it is too large).

    The first read asks for what ``fstat`` says is there plus one byte (which shows
    growth): asking for the limit itself would allocate (and map) 64 MiB for every
    5 kB page.  Then it reads on, 1 MiB at a time, until the end of the file or the
    limit (short reads, a file that grew, a size ``fstat`` does not know).  Plain
    ``os`` calls, no file object: ~5 us a page less, 0.7 s of a 145,000-page load.

    Raises:
        OSError: it cannot be opened or read.
    """
    limit = MAX_PAGE_BYTES + 1
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        size = os.fstat(fd).st_size
        step = size + 1 if 0 < size < limit else 2**20
        parts, got = [], 0
        while got < limit:
            chunk = os.read(fd, min(step, limit - got))
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
            step = 2**20
        return b"".join(parts)
    finally:
        os.close(fd)


def read_page(path: str | os.PathLike) -> Page:
    """Read and parse one ``specs.md`` page (at most :data:`MAX_PAGE_BYTES`).

    Raises:
        PageError: unreadable, too large, not UTF-8, empty, truncated, or malformed.
    """
    try:
        raw = _read_bytes(path)
    except OSError as exc:
        raise PageError(f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_PAGE_BYTES:
        raise PageError(f"larger than {MAX_PAGE_BYTES // 2**20} MiB: not parsed")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PageError(f"not UTF-8: byte 0x{raw[exc.start]:02x} at offset {exc.start}") from None
    return parse_front_matter(split_front_matter(text))
