"""Persistent routines: the ``routines`` REST resource (insert/get/list/update/delete) and the
functions and procedures that CREATE FUNCTION / TABLE FUNCTION / PROCEDURE statements make.

Routines are stored as their REST resources, as catalog rows of kind ``routine`` in the same
DuckDB table as datasets and tables (so ``--data-dir`` keeps them), and belong to a dataset: a
dataset holding routines is in use, and ``deleteContents`` drops them with it. Bodies are
checked when a routine is stored (SQL is parsed; procedure bodies must be one BEGIN...END
block); they run when called, through the translator like any other SQL.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from . import ids
from .catalog import Catalog, _etag, now_ms
from .errors import Duplicate, Invalid, InvalidQuery, NotFound, PreconditionFailed
from .storage import Storage

# Fields routines.list returns (BigQuery's documented subset, without a readMask).
_LIST_FIELDS = ("etag", "routineReference", "routineType", "creationTime", "lastModifiedTime",
                "language")  # fmt: skip


def _key(project: str, dataset_id: str, routine_id: str) -> str:
    return f"routine:{project}:{dataset_id}:{routine_id}"


def check_body(resource: dict) -> None:
    """Raise SqlError if the routine's body does not parse as its kind demands."""
    from .sql import SqlError
    from .sql import routines as sql_routines
    from .sql.script import Block, parse
    from .sql.syntax import parse as parse_sql

    body = resource["definitionBody"]
    kind = resource["routineType"]
    if resource["language"] == "JAVASCRIPT":
        return
    if kind == sql_routines.PROCEDURE:
        nodes = parse(body if body.lstrip().upper().startswith("BEGIN") else
                      f"BEGIN\n{body}\nEND")  # fmt: skip
        if len(nodes) != 1 or not isinstance(nodes[0], Block):
            raise SqlError("A procedure's body must be one BEGIN ... END block")
    elif kind == sql_routines.TABLE_FUNCTION:
        parse_sql(body)
    else:
        parse_sql(f"SELECT ({body})")


def checked(resource: Any, *, statement: bool = False) -> dict:
    """The settable fields of a routine resource from a request (errors ``invalid``) or a
    DDL statement (``statement``: errors ``invalidQuery``)."""
    from .sql import SqlError
    from .sql.routines import check_resource

    try:
        settable = check_resource(resource)
        check_body(settable)
    except SqlError as error:
        raise (InvalidQuery if statement else Invalid)(error.message) from None
    return settable


class RoutineStore:
    """Every persistent routine, by (project, dataset, routine id)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.storage: Storage = catalog.storage
        self._routines: dict[tuple[str, str, str], dict] = {}
        self._lock = threading.RLock()
        for _, kind, record in self.storage.load_catalog():
            if kind == "routine":
                ref = record["routineReference"]
                self._routines[(ref["projectId"], ref["datasetId"], ref["routineId"])] = record
        catalog.has_members = self.has_routines
        catalog.drop_members = self._drop_dataset

    # ------------------------------------------------------------------ lookups

    def find(self, project: str, dataset_id: str, routine_id: str) -> dict | None:
        with self._lock:
            return self._routines.get((project, dataset_id, routine_id))

    def get(self, project: str, dataset_id: str, routine_id: str) -> dict:
        found = self.find(project, dataset_id, routine_id)
        if found is None:
            self.catalog.get_dataset(project, dataset_id)
            raise NotFound(f"Not found: Routine {project}:{dataset_id}.{routine_id}")
        return copy.deepcopy(found)

    def list(self, project: str, dataset_id: str) -> list[dict]:
        self.catalog.get_dataset(project, dataset_id)
        with self._lock:
            found = [r for (p, d, _), r in self._routines.items() if (p, d) == (project, dataset_id)]
        found.sort(key=lambda r: r["routineReference"]["routineId"])
        return [{k: copy.deepcopy(r[k]) for k in _LIST_FIELDS if k in r} for r in found]

    def resources(self, project: str, dataset_id: str | None = None) -> list[dict]:
        """Copies of the routines of a dataset, or of a project (INFORMATION_SCHEMA)."""
        with self._lock:
            return [copy.deepcopy(r) for (p, d, _), r in self._routines.items()
                    if p == project and dataset_id in (None, d)]  # fmt: skip

    def has_routines(self, project: str, dataset_id: str) -> bool:
        with self._lock:
            return any((p, d) == (project, dataset_id) for p, d, _ in self._routines)

    # ------------------------------------------------------------------ changes

    def insert(self, project: str, dataset_id: str, body: dict, *, replace: bool = False,
               if_not_exists: bool = False, statement: bool = False) -> tuple[dict, str]:  # fmt: skip
        """routines.insert (and, with ``statement``, CREATE [OR REPLACE] ... [IF NOT
        EXISTS]); returns the stored resource and the DDL operation (CREATE, REPLACE, SKIP)."""
        if not isinstance(body, dict):
            raise Invalid("Invalid routine resource: expected an object.")
        ref = body.get("routineReference")
        if not isinstance(ref, dict):
            raise Invalid("Required parameter is missing: routineReference")
        routine_id = ids.routine_id(ref.get("routineId"))
        if ref.get("projectId") not in (None, project) or ref.get("datasetId") not in (
            None, dataset_id
        ):  # fmt: skip
            raise Invalid("The routine reference does not match the request path.")
        settable = checked(body, statement=statement)
        key = (project, dataset_id, routine_id)
        with self.storage.lock, self._lock:
            self.catalog.get_dataset(project, dataset_id)
            existing = self._routines.get(key)
            if existing is not None and not replace:
                if if_not_exists:
                    return copy.deepcopy(existing), "SKIP"
                raise Duplicate(f"Already Exists: Routine {project}:{dataset_id}.{routine_id}")
            created = existing["creationTime"] if existing and replace else str(now_ms())
            resource = self._stored(key, settable, created)
            operation = "REPLACE" if existing is not None else "CREATE"
            return copy.deepcopy(resource), operation

    def update(self, project: str, dataset_id: str, routine_id: str, body: dict,
               etag: str | None = None) -> dict:  # fmt: skip
        """routines.update (PUT). BigQuery replaces the whole resource; the client sends only
        the fields it was told to change, so fields left out keep their values (a field sent
        as null is removed)."""
        if not isinstance(body, dict):
            raise Invalid("Invalid routine resource: expected an object.")
        ref = body.get("routineReference") or {}
        if ref and (ref.get("projectId"), ref.get("datasetId"), ref.get("routineId")) != (
            project, dataset_id, routine_id
        ):  # fmt: skip
            raise Invalid("The routine reference does not match the request path.")
        key = (project, dataset_id, routine_id)
        with self.storage.lock, self._lock:
            existing = self._routines.get(key)
            if existing is None:
                self.get(project, dataset_id, routine_id)  # raises NotFound
            if etag and etag not in ("*", existing["etag"]):
                raise PreconditionFailed("Precondition check failed.")
            merged = {**existing, **body}
            settable = checked({k: v for k, v in merged.items() if v is not None})
            return copy.deepcopy(self._stored(key, settable, existing["creationTime"]))

    def delete(self, project: str, dataset_id: str, routine_id: str, *,
               if_exists: bool = False) -> bool:  # fmt: skip
        """routines.delete (and DROP); False when absent and ``if_exists``."""
        key = (project, dataset_id, routine_id)
        with self.storage.lock, self._lock:
            if key not in self._routines:
                if if_exists:
                    self.catalog.get_dataset(project, dataset_id)
                    return False
                self.get(project, dataset_id, routine_id)  # raises NotFound
            with self.storage.transaction() as con:
                Storage.delete_record(con, _key(*key))
            self._routines.pop(key, None)
            return True

    def _stored(self, key: tuple[str, str, str], settable: dict, created: str) -> dict:
        project, dataset_id, routine_id = key
        resource = {
            "routineReference": {"projectId": project, "datasetId": dataset_id,
                                 "routineId": routine_id},
            **settable,
            "creationTime": created,
            "lastModifiedTime": str(now_ms()),
        }  # fmt: skip
        resource["etag"] = _etag(resource)
        with self.storage.transaction() as con:
            Storage.put_record(con, _key(*key), "routine", resource)
        self._routines[key] = resource
        return resource

    def _drop_dataset(self, con: Any, project: str, dataset_id: str) -> None:
        with self._lock:
            doomed = [k for k in self._routines if k[:2] == (project, dataset_id)]
            for key in doomed:
                Storage.delete_record(con, _key(*key))
                self._routines.pop(key, None)
