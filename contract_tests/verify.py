"""Verify samples: run them through the pipeline and judge each against what was expected."""

from __future__ import annotations

from dataclasses import dataclass

from contract_tests import engine, registry
from contract_tests.engine import Outcome
from contract_tests.samples import Expectation, Sample
from pipeline import schema


@dataclass
class Result:
    """A sample, what the pipeline did with it, and whether that is what was expected."""

    sample: Sample
    outcome: Outcome
    expect_reject: bool
    problem: str | None = None
    warning: str | None = None
    landed: str | None = None  # end-to-end: where the stack put it ("events", "dead_letter ...")
    edge: str | None = None  # --endpoint: what the REST ingestion edge answered

    @property
    def passed(self) -> bool:
        return self.problem is None

    @property
    def accepted(self) -> bool:
        return self.outcome.accepted

    def add_problem(self, extra: str | None) -> None:
        """Add a further reason for failing (e.g. a disagreement of the stack or the edge)."""
        if extra:
            self.problem = f"{self.problem}; {extra}" if self.problem else extra

    def describe_outcome(self) -> str:
        o = self.outcome
        if o.accepted:
            return f"accepted as event_id={o.event_id!r}"
        if o.crashed:
            return f"CRASHED the pipeline in its {o.failed_step} step"
        text = f"rejected: {o.error_type} at {o.path}: {o.reason} (step {o.failed_step})"
        more = len(o.violations or ()) - 1
        return text + (f" and {more} more violation{'s' if more > 1 else ''}" if more > 0 else "")

    def other_violations(self) -> list[str]:
        """``path: reason`` of each violation after the first."""
        return [f"{path}: {reason}" for path, reason in (self.outcome.violations or [])[1:]]


def judge(outcome: Outcome, expect_reject: bool, expect: Expectation | None) -> str | None:
    """Why the outcome is a failure, or None when it is what was expected."""
    if outcome.crashed:  # neither accepted nor rejected: always a failure
        return outcome.reason
    if not expect_reject:
        return None if outcome.accepted else "the pipeline rejected the message"
    if outcome.accepted:
        wanted = f" ({expect.describe()})" if expect else ""
        return f"expected a rejection{wanted}, but the pipeline accepted the message"
    if expect is None:
        return None
    wrong = []
    if expect.error_type and outcome.error_type != expect.error_type:
        wrong.append(f"error_type {outcome.error_type!r} (expected {expect.error_type!r})")
    if expect.path and outcome.path != expect.path:
        wrong.append(f"path {outcome.path!r} (expected {expect.path!r})")
    if expect.message_contains and expect.message_contains not in (outcome.error_message or ""):
        wrong.append(f"a reason without {expect.message_contains!r}")
    return ("rejected for the wrong reason: " + ", ".join(wrong)) if wrong else None


def version_warning(outcome: Outcome) -> str | None:
    """The pipeline accepts any metadata.version; say so when it was never published."""
    version = (outcome.row or {}).get("schema_version")
    published = registry.published_versions()
    if version is None or version in published:
        return None
    return (
        f"metadata.version {version!r} is not a published contract version "
        f"({', '.join(published) or 'none'}); the pipeline validates against "
        f"{schema.CONTRACT_VERSION}"
    )


def verify(
    samples: list[Sample],
    attributes: dict[str, str] | None = None,
    expect_reject: bool = False,
    engine_name: str = "beam",
    max_event_bytes: int = schema.MAX_EVENT_BYTES,
    reference_file: str | None = None,
) -> list[Result]:
    """One :class:`Result` per sample. ``attributes`` are added to every sample's own."""
    payloads = [(s.data, {**(attributes or {}), **s.attributes}) for s in samples]
    outcomes = (
        engine.run(payloads, engine_name, max_event_bytes, reference_file) if samples else []
    )
    return [
        Result(s, o, expect_reject, judge(o, expect_reject, s.expect), version_warning(o))
        for s, o in zip(samples, outcomes, strict=True)
    ]
