"""Resource ids as BigQuery accepts them, checked where they enter (request paths and bodies),
with BigQuery's error messages."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from .errors import Invalid

_DATASET = re.compile(r"[A-Za-z0-9_]{1,1024}\Z")
_JOB = re.compile(r"[A-Za-z0-9_-]{1,1024}\Z")
_ROUTINE = re.compile(r"[A-Za-z0-9_]{1,256}\Z")
# Project ids are lowercase letters, digits and dashes (6-30), optionally behind a domain and a
# colon; the emulator accepts any project id made of those characters (tests use short ones).
_PROJECT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z")
# Partition decorators of tables.get/insertAll/tabledata.list (`events$20240101`).
_DECORATOR = re.compile(r"(\d{4}|\d{6}|\d{8}|\d{10}|__NULL__|__UNPARTITIONED__)\Z")
# Unicode categories of table ids: letters, marks, numbers, connectors, dashes, spaces.
_TABLE_CATEGORIES = ("L", "M", "N", "Pc", "Pd", "Zs")
MAX_TABLE_ID_BYTES = 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _matching(pattern: re.Pattern, noun: str, rule: str) -> Callable[[object], str]:
    def check(value: object) -> str:
        if not isinstance(value, str) or not pattern.match(value):
            raise Invalid(f'Invalid {noun} ID "{shown(value)}". {rule}')
        return value

    check.__doc__ = f"A {noun} id, or Invalid with BigQuery's message."
    return check


project_id = _matching(
    _PROJECT,
    "project",
    "Project IDs must contain 6-63 lowercase letters, digits, or dashes. Some project IDs also "
    "include domain name separated by a colon. IDs must start with a letter and may not end "
    "with a dash.",
)
dataset_id = _matching(
    _DATASET,
    "dataset",
    "Dataset IDs must be alphanumeric (plus underscores) and must be at most 1024 characters long.",
)
job_id = _matching(
    _JOB,
    "job",
    "Job IDs must be alphanumeric (plus underscores and dashes) and must be at most 1024 "
    "characters long.",
)
routine_id = _matching(
    _ROUTINE,
    "routine",
    "Routine IDs must be alphanumeric (plus underscores) and must be at most 256 characters long.",
)


def table_id(value: object, *, decorator: bool = False) -> str:
    """A table id; with ``decorator``, a partition decorator (``$20240101``) may follow."""
    base = value
    if decorator and isinstance(value, str) and "$" in value:
        base, _, suffix = value.partition("$")
        if not _DECORATOR.match(suffix):
            base = value  # reported whole
    if not (
        isinstance(base, str)
        and base
        and len(base.encode("utf-8", "surrogatepass")) <= MAX_TABLE_ID_BYTES
        and all(unicodedata.category(c).startswith(_TABLE_CATEGORIES) for c in base)
    ):
        raise Invalid(
            f'Invalid table ID "{shown(value)}". Table IDs must be alphanumeric (plus '
            "underscores) and must be at most 1024 characters long. Also, Table decorators "
            "cannot be used."
        )
    return value  # type: ignore[return-value]


# Path parameter -> its check (tables may carry a partition decorator in a path).
PATH_PARAMS = {
    "project": project_id,
    "dataset": dataset_id,
    "table": lambda v: table_id(v, decorator=True),
    "job": job_id,
    "routine": routine_id,
}


def check_path(params: dict) -> None:
    """Every id in a request path, checked; raises Invalid for the first bad one."""
    for name, value in params.items():
        check = PATH_PARAMS.get(name)
        if check is not None:
            check(value)


def shown(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)  # NUL and friends visible
    return text if len(text) <= 200 else text[:200] + "..."
