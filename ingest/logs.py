"""JSON logs (the pipeline's format, ``pipeline.logs``) plus what Cloud Logging and the edge
need: ``severity`` and the id of the request being served."""

from __future__ import annotations

import contextvars
import logging

from pipeline import logs as pipeline_logs

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


class _RequestContext(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.severity = record.levelname  # the field name Cloud Logging reads
        rid = request_id.get()
        if rid:
            record.request_id = rid
        return True


def configure(level: str = "INFO") -> None:
    """Every logger (uvicorn's too) to stderr as JSON lines."""
    pipeline_logs.configure(level)
    logging.getLogger().handlers[0].addFilter(_RequestContext())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
