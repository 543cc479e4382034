"""Resource names of the Storage APIs, split and checked: every project, dataset and table id
goes through the core's id checks (``ids``, BigQuery's rules and messages) before anything
looks it up, and stream ids must be what the emulator hands out."""

from __future__ import annotations

import re

from .. import ids
from ..errors import BigQueryError
from ..ids import shown
from .errors import invalid

_TABLE = re.compile(r"projects/([^/]+)/datasets/([^/]+)/tables/([^/]+)\Z", re.S)
_WRITE_STREAM = re.compile(r"(projects/[^/]+/datasets/[^/]+/tables/[^/]+)/streams/([^/]+)\Z", re.S)
_PROJECT = re.compile(r"projects/([^/]+)\Z", re.S)
# Write stream ids the emulator creates (uuid hex) and `_default`.
_STREAM_ID = re.compile(r"[A-Za-z0-9_-]{1,1024}\Z")
MAX_NAME_CHARS = 4096  # longer than any valid name: refused before it is parsed

DEFAULT_STREAM = "_default"


def _checked(check, value: str) -> str:
    try:
        return check(value)
    except BigQueryError as exc:
        raise invalid(exc.message) from None


def _matched(pattern: re.Pattern, name: str, what: str, expected: str) -> re.Match:
    match = pattern.match(name) if isinstance(name, str) and len(name) <= MAX_NAME_CHARS else None
    if match is None:
        raise invalid(f"Invalid {what} name: {shown(name)!r}; expected {expected}")
    return match


def table_ref(path: str, what: str = "table") -> tuple[str, str, str]:
    """(project, dataset, table) of `projects/p/datasets/d/tables/t`, each id checked."""
    match = _matched(
        _TABLE, path, what, "projects/{project}/datasets/{dataset}/tables/{table}"
    )
    project, dataset, table = match.groups()
    if "$" in table or "@" in table:
        raise invalid(f"Table decorators are not supported in {what} names: {shown(path)}")
    return (
        _checked(ids.project_id, project),
        _checked(ids.dataset_id, dataset),
        _checked(ids.table_id, table),
    )


def project_id(parent: str) -> str:
    match = _matched(_PROJECT, parent, "parent", "projects/{project}")
    return _checked(ids.project_id, match.group(1))


def write_stream(name: str) -> tuple[str, str]:
    """(table path, stream id) of `projects/p/datasets/d/tables/t/streams/s`."""
    match = _matched(
        _WRITE_STREAM, name, "write stream",
        "projects/{project}/datasets/{dataset}/tables/{table}/streams/{stream}",
    )  # fmt: skip
    table_ref(match.group(1))
    if not _STREAM_ID.match(match.group(2)):
        raise invalid(f"Invalid write stream id: {shown(match.group(2))!r}")
    return match.group(1), match.group(2)


def table_path(project: str, dataset: str, table: str) -> str:
    return f"projects/{project}/datasets/{dataset}/tables/{table}"
