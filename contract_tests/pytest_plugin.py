"""pytest plugin for producers' own test suites: the ``contract`` fixture.

    def test_order_placed_event(contract):
        row = contract.assert_accepted(build_order_placed_event(order))
        assert row["source"] == "checkout-service"

    def test_rejects_events_without_source(contract):
        contract.assert_rejected(event_without_source, error_type="schema_violation",
                                 path="$.metadata")

Messages run through the pipeline's own parse -> validate -> enrich code (the ``functions``
engine; ``pytest --contract-engine beam`` runs Beam's ProcessEvents instead).
"""

from __future__ import annotations

import json

import pytest

from contract_tests import engine
from contract_tests.engine import Outcome
from contract_tests.samples import from_message
from contract_tests.verify import Result, verify


class Contract:
    """Verify messages against the pipeline's contract, with readable assertion failures."""

    def __init__(self, engine_name: str = "functions"):
        self.engine = engine_name

    def verify(self, message: dict | bytes | str, attributes: dict | None = None) -> Result:
        """What the pipeline does with ``message`` (dict: JSON-encoded; bytes/str: as is)."""
        return verify([from_message(message)], attributes, engine_name=self.engine)[0]

    def assert_accepted(self, message, attributes: dict | None = None) -> dict:
        """Fail unless the pipeline accepts ``message``; returns the events-table row."""
        result = self.verify(message, attributes)
        if not result.accepted:
            o = result.outcome
            pytest.fail(
                "expected the message to be accepted, but the pipeline rejected it:\n"
                f"  error_type: {o.error_type}\n  path:       {o.path}\n"
                f"  reason:     {o.reason}\n  step:       {o.failed_step}\n"
                f"  message:    {_show(message)}",
                pytrace=False,
            )
        return result.outcome.row

    def assert_rejected(
        self,
        message,
        error_type: str | None = None,
        path: str | None = None,
        attributes: dict | None = None,
    ) -> Outcome:
        """Fail unless the pipeline rejects ``message`` (for ``error_type`` at ``path``)."""
        result = self.verify(message, attributes)
        o = result.outcome
        expected = " ".join(
            filter(None, [error_type or "a rejection", f"at {path}" if path else None])
        )
        if o.accepted:
            pytest.fail(
                f"expected {expected}, but the pipeline accepted the message:\n"
                f"  message: {_show(message)}\n  row:     {json.dumps(o.row)}",
                pytrace=False,
            )
        wrong = []
        if error_type is not None and o.error_type != error_type:
            wrong.append(f"  error_type: {o.error_type!r}, expected {error_type!r}")
        if path is not None and o.path != path:
            wrong.append(f"  path:       {o.path!r}, expected {path!r}")
        if wrong:
            pytest.fail(
                "the pipeline rejected the message for another reason:\n" + "\n".join(wrong)
                + f"\n  reason:     {o.reason}\n  message:    {_show(message)}",
                pytrace=False,
            )
        return o


def _show(message) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else (
        message if isinstance(message, str) else json.dumps(message, ensure_ascii=False))
    return text if len(text) <= 500 else text[:500] + "..."


def pytest_addoption(parser):
    parser.addoption(
        "--contract-engine", choices=engine.ENGINES, default="functions",
        help="contract fixture: run messages through the pipeline functions (default) or "
        "Beam's ProcessEvents on the DirectRunner",
    )


@pytest.fixture
def contract(request) -> Contract:
    """Check messages against the event pipeline's contract (see :class:`Contract`)."""
    return Contract(request.config.getoption("--contract-engine"))
