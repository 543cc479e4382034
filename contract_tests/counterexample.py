"""Property check behind the compat rules: search for a message OLD accepts and NEW rejects."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, Phase, find, settings
from hypothesis.errors import NoSuchExample, Unsatisfiable

from contract_tests.compat import Break, structural_breaks
from contract_tests.generate import valid_messages, validator

DEFAULT_EXAMPLES = 300


@dataclass(frozen=True)
class Counterexample:
    """A message the old schema accepts and the new one rejects, with the new schema's reason."""

    message: object
    path: str
    reason: str


def find_counterexample(
    old: dict, new: dict, max_examples: int = DEFAULT_EXAMPLES
) -> Counterexample | None:
    """The simplest counterexample Hypothesis finds (deterministically), or None."""
    new_validator = validator(new)
    config = settings(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=(Phase.generate, Phase.shrink),  # no "explain": it re-runs the shrunk case a lot
        suppress_health_check=list(HealthCheck),
    )
    try:
        message = find(valid_messages(old), lambda m: not new_validator.is_valid(m),
                       settings=config)
    except (NoSuchExample, Unsatisfiable):
        return None
    errors = sorted(new_validator.iter_errors(message), key=lambda e: e.json_path)
    first = errors[0]
    return Counterexample(message, first.json_path, first.message)


@dataclass
class CompatReport:
    """Structural reasons and, when found, a concrete message that shows the break."""

    breaks: list[Break]
    counterexample: Counterexample | None
    examples: int

    @property
    def breaking(self) -> bool:
        return bool(self.breaks) or self.counterexample is not None


def check(old: dict, new: dict, examples: int = 300) -> CompatReport:
    """Structural rules plus a Hypothesis search for a counterexample (``examples=0``: rules only)."""
    found = find_counterexample(old, new, examples) if examples else None
    return CompatReport(structural_breaks(old, new), found, examples)
