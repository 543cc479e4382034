"""Resource names of the Storage APIs."""

from __future__ import annotations

import re

from .errors import invalid

_TABLE = re.compile(r"^projects/([^/]+)/datasets/([^/]+)/tables/([^/]+)$")
_WRITE_STREAM = re.compile(r"^(projects/[^/]+/datasets/[^/]+/tables/[^/]+)/streams/([^/]+)$")
_PROJECT = re.compile(r"^projects/([^/]+)$")

DEFAULT_STREAM = "_default"


def table_ref(path: str, what: str = "table") -> tuple[str, str, str]:
    """(project, dataset, table) of `projects/p/datasets/d/tables/t`."""
    match = _TABLE.match(path or "")
    if not match:
        raise invalid(
            f"Invalid {what} name: {path!r}; expected projects/{{project}}/datasets/{{dataset}}"
            "/tables/{table}"
        )
    project, dataset, table = match.groups()
    if "$" in table or "@" in table:
        raise invalid(f"Table decorators are not supported in {what} names: {path}")
    return project, dataset, table


def project_id(parent: str) -> str:
    match = _PROJECT.match(parent or "")
    if not match:
        raise invalid(f"Invalid parent: {parent!r}; expected projects/{{project}}")
    return match.group(1)


def write_stream(name: str) -> tuple[str, str]:
    """(table path, stream id) of `projects/p/datasets/d/tables/t/streams/s`."""
    match = _WRITE_STREAM.match(name or "")
    if not match:
        raise invalid(
            f"Invalid write stream name: {name!r}; expected projects/{{project}}/datasets/"
            "{dataset}/tables/{table}/streams/{stream}"
        )
    table_ref(match.group(1))
    return match.group(1), match.group(2)


def table_path(project: str, dataset: str, table: str) -> str:
    return f"projects/{project}/datasets/{dataset}/tables/{table}"
