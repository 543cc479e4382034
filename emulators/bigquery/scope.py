"""What a statement can name besides catalog tables: user-defined functions (persistent ones
from the routine store, temporary ones of the query), system variables (``@@project_id`` ...),
and, in a script (``scripting.Session``), variables and temporary tables.

Each query context has one ``Scope``; the translator asks it (``translate(..., scope=...)``).
A scope that answered with a routine or a variable marks its translation as not cacheable
(the answer may differ next time). JavaScript functions of the query are registered with the
JavaScript runtime for as long as the scope lives (``close``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from .catalog import Table
from .errors import Duplicate, InvalidQuery, NotFound

STRING = {"typeKind": "STRING"}
INT64 = {"typeKind": "INT64"}
TIMESTAMP = {"typeKind": "TIMESTAMP"}
STACK_TRACE = {"typeKind": "ARRAY", "arrayElementType": {"typeKind": "STRUCT", "structType": {
    "fields": [{"name": "line", "type": INT64}, {"name": "column", "type": INT64},
               {"name": "filename", "type": STRING}, {"name": "location", "type": STRING}]}}}
SYSTEM_TYPES = {
    "current_job_id": STRING, "dataset_id": STRING, "dataset_project_id": STRING,
    "last_job_id": STRING, "location": STRING, "project_id": STRING, "query_label": STRING,
    "reservation": STRING, "row_count": INT64, "session_id": STRING, "time_zone": STRING,
    "script.bytes_billed": INT64, "script.bytes_processed": INT64,
    "script.creation_time": TIMESTAMP, "script.job_id": STRING, "script.num_child_jobs": INT64,
    "script.slot_ms": INT64, "error.formatted_stack_trace": STRING, "error.message": STRING,
    "error.stack_trace": STACK_TRACE, "error.statement_text": STRING,
}  # fmt: skip


class Scope:
    """The names one query (or one script) may use beyond the catalog's tables."""

    cacheable = True  # translations made in this scope may be reused by other queries

    def __init__(self, routines: Any, project: str, default_project: str,
                 default_dataset: str | None, job_id: str | None = None) -> None:  # fmt: skip
        self.routine_store = routines  # RoutineStore or None
        self.project = project
        self.default_project = default_project
        self.default_dataset = default_dataset
        self.job_id = job_id
        self.temp_routines: dict[str, dict] = {}  # name (lower case) -> REST resource
        self.system: dict[str, Any] = {
            "project_id": project, "current_job_id": job_id, "time_zone": "UTC",
            "location": "US", "dataset_id": default_dataset,
            "dataset_project_id": default_project if default_dataset else None,
        }  # fmt: skip
        self.dynamic = False
        self.stopped: Any = None  # () -> the reason the query was stopped, or None
        self._js_handles: list[str] = []

    # ------------------------------------------------------------------ the translator's hooks

    def variable(self, name: str) -> tuple[Any, dict] | None:
        return None

    def system_variable(self, name: str) -> tuple[Any, dict] | None:
        kind = SYSTEM_TYPES.get(name)
        if kind is None:
            return None
        self.dynamic = True
        return self.system.get(name), kind

    def routine(self, parts: list[str], table: bool) -> Any:
        from .sql.routines import from_resource

        resource = None
        if len(parts) == 1:
            resource = self.temp_routines.get(parts[0].lower())
        elif self.routine_store is not None and len(parts) in (2, 3):
            project, dataset_id, routine_id = (
                parts if len(parts) == 3 else [self.default_project, *parts]
            )
            resource = self.routine_store.find(project, dataset_id, routine_id)
        if resource is None:
            return None
        self.dynamic = True
        return from_resource(resource, ".".join(parts))

    def js_handle(self, routine: Any) -> str:
        from .sql.jsudf import REGISTRY, JsFunction

        arguments = [(a.name, a.type) for a in routine.arguments]
        function = JsFunction(routine.name, arguments, routine.return_type, routine.body,
                              stopped=self.stopped)  # fmt: skip
        handle = REGISTRY.add(function)
        self._js_handles.append(handle)
        self.dynamic = True
        return handle

    def is_temp_table(self, name: str) -> bool:
        return False

    # ------------------------------------------------------------------ for the engine

    def temp_table(self, name: str) -> Table | None:
        """The temporary table of that name (None outside a script)."""
        return None

    def temp_table_ddl(self, ctx: Any, st: Any, params: list) -> Any:
        """CREATE TEMP TABLE / DROP of a temporary table: only a script has them."""
        if st.kind in ("DROP_TABLE", "DROP_VIEW"):
            raise NotFound(f"Not found: Table {st.target[0]}:_SESSION.{st.target[2]}")
        raise InvalidQuery("Use of CREATE TEMPORARY TABLE requires a script or session")

    def temp_routine_ddl(self, st: Any) -> str:
        """CREATE TEMP FUNCTION / PROCEDURE, DROP of one; returns the DDL operation."""
        from .routines import check_body
        from .sql import SqlError
        from .sql.routines import PROCEDURE

        name = st.target[2]
        existing = self.temp_routines.get(name.lower())
        if st.routine is None:
            wanted = "PROCEDURE" if st.kind == "DROP_PROCEDURE" else None
            if existing is not None and (wanted is None) == (existing["routineType"] != PROCEDURE):
                del self.temp_routines[name.lower()]
                return "DROP"
            if st.if_exists:
                return "SKIP"
            raise NotFound(f"Not found: {'Procedure' if wanted else 'Function'} {name}")
        if existing is not None and not st.or_replace:
            if st.if_not_exists:
                return "SKIP"
            raise Duplicate(f"Already Exists: Function {name}")
        try:
            check_body(st.routine)
        except SqlError as error:
            raise InvalidQuery(error.message) from None
        self.temp_routines[name.lower()] = {
            **st.routine, "routineReference": {"routineId": name},
        }  # fmt: skip
        return "REPLACE" if existing is not None else "CREATE"

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc)

    def close(self) -> None:
        """Release what the query held (its JavaScript functions and their V8 isolates)."""
        from .sql.jsudf import REGISTRY

        for handle in self._js_handles:
            REGISTRY.remove(handle)
        self._js_handles.clear()
