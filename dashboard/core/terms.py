"""The dashboard's vocabulary, shared by the served app, the notebook and the export:
selector dimensions and their labels, the table's columns, the heatmaps, the
stack order and number formats.  Change a word here and every view follows.
Pure Python.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Selector dimensions, in sidebar order (``stack`` is looked up in ``spec_stacks``).
DIMENSIONS = ("tag", "stack", "os", "target", "version")
#: What each selector is called.
LABELS = {"tag": "Tag (mirror)", "stack": "Stack", "os": "OS", "target": "Target", "version": "Version"}
#: The stack every spec of a tag is in: the tag's top-level mirror, the union of all stacks.
ROOT_STACK = "root"
#: What the headline's stack count is called (see :func:`dashboard.domain.query.headline`).
STACKS_LABEL = "Stacks (excl. root)"
#: Headline numbers: ``dashboard.domain.query.headline`` key -> title.
HEADLINE = {"packages": "Packages", "specs": "Specs", "stacks": STACKS_LABEL, "tags": "Tags"}
#: What a load is doing, by the ``unit`` its progress callback is given.
PROGRESS = {"page": "Parsing pages", "mirror": "Checking mirrors", "B": "Downloading an index (bytes)",
            "manifest": "Reading spec manifests for sizes", "signature": "Checking signatures"}
#: Columns of the spec table, in order.
TABLE_COLUMNS = ["hash", "package", "version", "compiler", "os", "target", "variants", "stacks", "size", "n_deps", "tag"]
#: Column a spec table has when signatures were checked (``--verify``), after ``tag``.
SIGNATURE_COLUMN = "signature"
#: Signature statuses shown in red: the text changed after signing, or a key nobody has signed it.
ALARMING_SIGNATURES = ("bad signature", "unknown key")


def table_columns(columns) -> list[str]:
    """The spec table's columns for specs with ``columns``: :data:`TABLE_COLUMNS`, and
    :data:`SIGNATURE_COLUMN` when the specs carry it."""
    return TABLE_COLUMNS + ([SIGNATURE_COLUMN] if SIGNATURE_COLUMN in columns else [])


#: Columns of :data:`TABLE_COLUMNS` that hold numbers (right-aligned, "-" when unknown).
NUMBER_COLUMNS = ("size", "n_deps")
#: Table titles of :data:`NUMBER_COLUMNS`: the column names, as in CSV and JSON.
NUMBER_TITLES = {"size": "size", "n_deps": "n_deps"}
#: An Underscore template (Bokeh ``HTMLTemplateFormatter``, also in Tabulator) showing a
#: byte count as :func:`human_bytes` does, the exact bytes on hover; ``-`` when unknown.
#: The cell's value stays the number: the column sorts by bytes.
SIZE_TEMPLATE = (
    "<% if (value === null || value === undefined || value !== value || value === '') { %>-<% } else { "
    "var n = Number(value), u = ['B','KiB','MiB','GiB','TiB','PiB','EiB'], i = 0, v = Math.abs(n); "
    "if (v < 1024) { %><span title=\"<%- n %> bytes\"><%- n %> B</span><% } else { "
    "while (v >= 1024 && i < 6) { v = v / 1024; i++; } var t = v.toFixed(1); "
    "if (t === '1024.0' && i < 6) { t = '1.0'; i++; } "
    "%><span title=\"<%- n.toLocaleString('en-US') %> bytes\"><%- (n < 0 ? '-' : '') + t + ' ' + u[i] %></span><% } } %>"
)
#: Number format of counts and sizes in tables (Numbro, as Bokeh and Tabulator use it).
COUNT_FORMAT = "0,0"
#: Explains ``root`` wherever stacks are shown.
ROOT_NOTE = (
    "root is the tag's top-level mirror: it holds every spec of the tag, so its cells are the "
    "brightest. The other stacks (e4s, ml-linux-x86_64-cuda, ...) are the per-environment mirrors "
    "under it; the Stacks number counts those, not root."
)
#: :data:`ROOT_NOTE` for data without named stacks (mirrors and registries: each is one tag).
ROOT_ONLY_NOTE = (
    "root is the whole mirror: mirrors and registries name no stacks, so every binary is in "
    "root and the Stacks number is 0."
)


def root_note(stacks) -> str:
    """:data:`ROOT_NOTE`, or :data:`ROOT_ONLY_NOTE` when ``stacks`` (the stack names
    loaded) hold nothing but :data:`ROOT_STACK`."""
    return ROOT_NOTE if any(str(s) != ROOT_STACK for s in stacks) else ROOT_ONLY_NOTE


@dataclass(frozen=True)
class Heatmap:
    """One heatmap view: its name on the view picker, title, and which result of
    :func:`dashboard.domain.query.compute` it draws (long frame ``x``, ``y``, ``count``)."""

    name: str
    title: str
    result: str
    x: str
    y: str


#: The heatmap views, in view-picker order.
HEATMAPS = (
    Heatmap("Package x stack", "Specs per package and stack", "package_stack", "stack", "package"),
    Heatmap("OS x target", "Specs per OS and target", "os_target", "target", "os"),
    Heatmap("Stack x tag", "Specs per stack and tag", "stack_tag", "tag", "stack"),
)


def stack_order(stacks) -> list[str]:
    """Stacks sorted by name, with :data:`ROOT_STACK` (the union of all stacks) last."""
    return sorted(set(stacks), key=lambda s: (s == ROOT_STACK, s))


#: The views of the main area (URL ``view=``) and their tab titles.
VIEWS = {"overview": "Overview", "runs-here": "Runs here?", "compare": "What changed?", "why": "Why rebuilt?", "storage": "Storage", "find": "Find my spec"}


#: IEC units of :func:`human_bytes`, each 1024 times the one before.
SIZE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def human_bytes(n) -> str:
    """A byte count for people, in IEC units with one decimal (``44406326`` ->
    ``"42.4 MiB"``, ``512`` -> ``"512 B"``); ``"unknown"`` for a missing value.
    Rounded to nearest, as ``numfmt --to=iec-i --round=nearest --format=%.1f``."""
    try:
        if n is None or n != n:  # None, NaN
            return "unknown"
        n = int(n)
    except (TypeError, ValueError):
        return "unknown"
    if abs(n) < 1024:
        return f"{n} B"
    value, unit = float(abs(n)), 0
    while value >= 1024 and unit < len(SIZE_UNITS) - 1:
        value /= 1024
        unit += 1
    text = f"{value:.1f}"
    if text == "1024.0" and unit < len(SIZE_UNITS) - 1:  # 1023.95 MiB reads 1.0 GiB
        text, unit = "1.0", unit + 1
    return f"{'-' if n < 0 else ''}{text} {SIZE_UNITS[unit]}"


def cell_size_text(nbytes, sized: int, specs: int) -> str:
    """The size of a group of ``specs`` binaries of which ``sized`` have a known size
    summing to ``nbytes`` bytes, for people: ``"412.0 MiB"``, ``"412.0 MiB + 3
    unknown"``, or ``"unknown"`` when none is known (see :func:`human_bytes`)."""
    if not sized:
        return "unknown"
    unknown = int(specs) - int(sized)
    return human_bytes(nbytes) + (f" + {unknown:,} unknown" if unknown > 0 else "")
