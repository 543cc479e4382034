"""Run samples through the production pipeline's own code and say what it did with each.

Two engines, same code under test:

* ``beam`` - :class:`pipeline.run.ProcessEvents` on Beam's DirectRunner (batch), the composite
  the streaming job runs, so DoFn wiring, coders and tagged outputs are exercised too;
* ``functions`` - ``parse_message -> validate_event -> to_row``, the functions those DoFns call,
  in-process and without Beam's start-up cost (used by the pytest fixture).

``message_id`` (``contract-<n>``) and ``publish_time`` (now) are synthetic: Pub/Sub sets them.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from dataclasses import dataclass

from pipeline import errors, schema
from pipeline.messages import DeadLetter, Message, utc_now

# The pipeline's transforms import Beam (a second to load); they are imported where used so the
# CLI can report usage errors and the pytest plugin can register without paying for it.
ENGINES = ("beam", "functions")
WHOLE_PAYLOAD = "$"
CRASH = "pipeline_crash"
"""``error_type`` of a message the pipeline raised on instead of dead-lettering it: in the
streaming job such a message fails its bundle again on every redelivery."""


@dataclass
class Outcome:
    """What the pipeline did with one message: an events-table row, or a dead letter."""

    row: dict | None = None
    error_type: str | None = None
    error_message: str | None = None
    failed_step: str | None = None
    event_id: str | None = None
    path: str | None = None
    reason: str | None = None
    #: Every contract violation of a ``schema_violation`` as ``(path, reason)``, the one above
    #: first (the pipeline's dead letter names only that one).
    violations: list[tuple[str, str]] | None = None

    @property
    def accepted(self) -> bool:
        return self.row is not None

    @property
    def crashed(self) -> bool:
        return self.error_type == CRASH

    @classmethod
    def of_crash(cls, step: str, exc: BaseException) -> Outcome:
        reason = (f"the pipeline raised {type(exc).__name__}: {exc} - not dead-lettered; the "
                  "streaming job would fail on this message at every redelivery")
        return cls(error_type=CRASH, error_message=reason, failed_step=step,
                   path=WHOLE_PAYLOAD, reason=reason)

    @classmethod
    def of_row(cls, row: dict) -> Outcome:
        return cls(row=row, event_id=row.get("event_id"))

    @classmethod
    def of_dead_letter(cls, dead: DeadLetter) -> Outcome:
        path, reason = split_error(dead)
        return cls(
            error_type=dead.error_type,
            error_message=dead.error_message,
            failed_step=dead.failed_step,
            event_id=dead.event_id,
            path=path,
            reason=reason,
            violations=all_violations(dead, (path, reason)),
        )


def all_violations(dead: DeadLetter, first: tuple[str, str]) -> list[tuple[str, str]] | None:
    """Every contract violation of a schema_violation dead letter, ``first`` first."""
    if dead.error_type != errors.SCHEMA_VIOLATION:
        return None
    from pipeline.validate import contract_violations

    try:
        found = contract_violations(json.loads(dead.message.data))
    except (ValueError, RecursionError):
        return [first]
    return [first] + [v for v in found if v != first]


def split_error(dead: DeadLetter) -> tuple[str, str]:
    """``(json_path, reason)`` of a dead letter's ``"<json path>: <reason>"`` message.

    Schema violations are split with :func:`pipeline.validate.contract_violation` itself, so a
    data key containing ``": "`` cannot shift the split. Errors about the payload as a whole
    (not JSON, oversize, ...) have no path in their message and get ``$``.
    """
    text = dead.error_message
    if dead.error_type == errors.SCHEMA_VIOLATION:
        from pipeline.validate import contract_violation

        try:
            violation = contract_violation(json.loads(dead.message.data))
        except (ValueError, RecursionError):
            violation = None
        if violation and text == f"{violation[0]}: {violation[1]}":
            return violation
    if text.startswith("$"):
        path, sep, reason = text.partition(": ")
        if sep:
            return path, reason
    return WHOLE_PAYLOAD, text


def messages_of(payloads: list[tuple[bytes, dict[str, str]]]) -> list[Message]:
    now = utc_now()
    return [
        Message(data, dict(attributes), f"contract-{i}", now)
        for i, (data, attributes) in enumerate(payloads, start=1)
    ]


def run(
    payloads: list[tuple[bytes, dict[str, str]]],
    engine: str = "beam",
    max_event_bytes: int = schema.MAX_EVENT_BYTES,
    reference_file: str | None = None,
) -> list[Outcome]:
    """One :class:`Outcome` per ``(data, attributes)``, in order.

    ``reference_file`` is the pipeline's ``--reference_file`` (JSON, NDJSON or CSV rows keyed
    by ``source``), so rows show the enrichment production would apply.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
    messages = messages_of(payloads)
    if engine == "beam":
        try:
            return run_beam(messages, max_event_bytes, reference_file)
        except Exception as exc:
            # A message made a DoFn raise and Beam failed the whole batch; the same functions
            # one message at a time show which message it was and why.
            logging.getLogger(__name__).warning(
                "the Beam run failed (%s: %s); verifying message by message", type(exc).__name__,
                exc)
    references = {}
    if reference_file:
        from pipeline.reference import keyed, read_reference_file

        references = dict(keyed(read_reference_file(reference_file)))
    return [run_functions(m, max_event_bytes, references) for m in messages]


def run_functions(
    message: Message, max_event_bytes: int = schema.MAX_EVENT_BYTES, references=None
) -> Outcome:
    from pipeline.enrich import STEP as ENRICH_STEP
    from pipeline.enrich import to_row
    from pipeline.parse import parse_message
    from pipeline.validate import validate_event

    try:
        parsed = parse_message(message)
    except Exception as exc:  # the pipeline's contract is "never raises"
        return Outcome.of_crash("parse", exc)
    if isinstance(parsed, DeadLetter):
        return Outcome.of_dead_letter(parsed)
    try:
        valid = validate_event(parsed, max_event_bytes)
    except Exception as exc:
        return Outcome.of_crash("validate", exc)
    if isinstance(valid, DeadLetter):
        return Outcome.of_dead_letter(valid)
    try:
        return Outcome.of_row(to_row(valid, references or {}, utc_now()))
    except Exception as exc:  # mirrors EnrichEvents: a failing enrich is a dead letter
        dead = DeadLetter(
            message, errors.ENRICH_FAILED, f"{type(exc).__name__}: {exc}", ENRICH_STEP,
            valid.event.get("event_id"),
        )
        return Outcome.of_dead_letter(dead)


# Beam's in-process runner calls these collectors in this process; results are keyed by a
# per-run token so concurrent runs cannot mix.
_RESULTS: dict[int, dict[str, Outcome]] = {}
_TOKENS = itertools.count()
_LOCK = threading.Lock()


class _Collect:
    def __init__(self, token: int):
        self.token = token

    def __call__(self, item) -> None:
        if isinstance(item, DeadLetter):
            key, outcome = item.message.message_id, Outcome.of_dead_letter(item)
        else:
            key, outcome = item["message_id"], Outcome.of_row(item)
        with _LOCK:
            _RESULTS[self.token].setdefault(key, outcome)


def run_beam(
    messages: list[Message],
    max_event_bytes: int = schema.MAX_EVENT_BYTES,
    reference_file: str | None = None,
) -> list[Outcome]:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.reference import LoadReference
    from pipeline.run import ProcessEvents

    token = next(_TOKENS)
    _RESULTS[token] = {}
    try:
        options = PipelineOptions(flags=[], runner="DirectRunner", direct_num_workers=1)
        with beam.Pipeline(options=options) as p:
            references = None
            if reference_file:
                references = p | "Reference" >> LoadReference(path=reference_file)
            rows, dead = (
                p
                | "Samples" >> beam.Create(messages, reshuffle=False)
                | "Process" >> ProcessEvents(references, max_event_bytes)
            )
            _ = rows | "CollectRows" >> beam.Map(_Collect(token))
            _ = dead | "CollectDeadLetters" >> beam.Map(_Collect(token))
        found = _RESULTS[token]
    finally:
        _RESULTS.pop(token, None)
    lost = Outcome(
        error_type="lost", error_message="the pipeline produced no output", path="$",
        reason="the pipeline produced no output",
    )
    return [found.get(m.message_id, lost) for m in messages]
