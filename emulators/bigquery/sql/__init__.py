"""BigQuery Standard SQL -> DuckDB translation for the BigQuery emulator.

``translate(sql, default_project=..., default_dataset=..., resolve_table=..., params=...)``
returns a :class:`Statement`; anything untranslatable raises :class:`SqlError`.
"""

from .errors import SqlError
from .statements import Statement
from .translate import translate

__all__ = ["SqlError", "Statement", "translate"]
