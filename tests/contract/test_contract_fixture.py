"""The ``contract`` fixture as a producer's own test suite uses it (run with pytester)."""

import pytest

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.slow

PRODUCER_TESTS = '''
import pytest

def order_placed(**overrides):
    event = {
        "event_id": "ord-1",
        "timestamp": "2024-05-06T07:08:09Z",
        "data": {"order_id": "O-1", "total": 10.5},
        "metadata": {"source": "checkout-service", "version": "1.0"},
    }
    event.update(overrides)
    return event

def test_accepted_returns_the_row(contract):
    row = contract.assert_accepted(order_placed(), attributes={"origin": "unit"})
    assert row["source"] == "checkout-service"
    assert row["event_timestamp"] == "2024-05-06T07:08:09.000000Z"
    assert row["attributes"] == '{"origin": "unit"}'

def test_bytes_and_verify(contract):
    result = contract.verify(b"not json")
    assert not result.accepted and result.outcome.error_type == "malformed_json"

def test_rejected_with_reason(contract):
    contract.assert_rejected(order_placed(timestamp="soon"), error_type="invalid_timestamp",
                             path="$.timestamp")

def test_fails_when_rejected(contract):
    contract.assert_accepted(order_placed(event_id=""))

def test_fails_when_accepted(contract):
    contract.assert_rejected(order_placed(), error_type="schema_violation")

def test_fails_for_the_wrong_reason(contract):
    contract.assert_rejected(order_placed(data=[1]), error_type="schema_violation",
                             path="$.metadata")
'''


@pytest.fixture
def producer_suite(pytester, monkeypatch):
    # Load exactly this plugin, whether or not its entry point is installed.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makepyfile(test_producer=PRODUCER_TESTS)
    return pytester


@pytest.mark.parametrize("engine", ["functions", "beam"])
def test_fixture_in_a_producer_suite(producer_suite, engine):
    result = producer_suite.runpytest("-p", "contract_tests.pytest_plugin",
                                      "--contract-engine", engine)
    result.assert_outcomes(passed=3, failed=3)
    result.stdout.fnmatch_lines([
        "*expected the message to be accepted, but the pipeline rejected it:*",
        "*error_type: schema_violation*",
        "*path:       $.event_id*",
        "*expected schema_violation, but the pipeline accepted the message:*",
        "*the pipeline rejected the message for another reason:*",
        "*path:       '$.data', expected '$.metadata'*",
    ])
