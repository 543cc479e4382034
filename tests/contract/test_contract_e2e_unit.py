"""The e2e leg's logic that needs no stack: naming, SQL, and judging where samples landed."""

from contract_tests.e2e import DEAD_LETTER, EVENTS, Endpoints, Landing, in_list_sql, merge
from contract_tests.engine import Outcome
from contract_tests.samples import Sample
from contract_tests.verify import Result

ENDPOINTS = Endpoints("proj", "events", "ds.events", "other:ds.dead_letters")


def test_names():
    assert ENDPOINTS.topic_path() == "projects/proj/topics/events"
    assert ENDPOINTS.table_id(ENDPOINTS.table) == "proj.ds.events"
    assert ENDPOINTS.table_id(ENDPOINTS.dead_letter_table) == "other.ds.dead_letters"


def test_endpoints_of_the_harness_stack():
    class Stack:  # the attributes harness.pytest_plugin.ProvisionedStack offers
        project, topic = "p1", "projects/p1/topics/events"
        events_table, dead_letter_table = "p1.analytics.events", "p1.analytics.events_dlq"

        class endpoints:
            pubsub, bigquery = "127.0.0.1:1", "http://127.0.0.1:2"

    endpoints = Endpoints.of_stack(Stack)
    assert endpoints.topic_path() == "projects/p1/topics/events"
    assert endpoints.table_id(endpoints.dead_letter_table) == "p1.analytics.events_dlq"
    assert (endpoints.pubsub_host, endpoints.bigquery_host) == ("127.0.0.1:1", "http://127.0.0.1:2")


def test_sql_quotes_message_ids():
    sql = in_list_sql("p.d.t", "message_id", ["1", "it's"])
    assert sql == "SELECT message_id FROM `p.d.t` WHERE message_id IN ('1', 'it\\'s')"


def _result(accepted: bool, error_type=None):
    outcome = Outcome(row={"event_id": "e"}) if accepted else Outcome(error_type=error_type)
    return Result(Sample("s", b"{}"), outcome, expect_reject=False)


def test_merge_flags_disagreements_only():
    results = [_result(True), _result(False, "schema_violation"), _result(True),
               _result(False, "schema_violation"), _result(False, "malformed_json")]
    landings = [Landing(r.sample, str(i)) for i, r in enumerate(results)]
    landings[0].table = EVENTS
    landings[1].table, landings[1].error_type = DEAD_LETTER, "schema_violation"
    landings[2].table, landings[2].error_type = DEAD_LETTER, "bigquery_insert_failed"
    landings[4].table, landings[4].error_type = DEAD_LETTER, "invalid_utf8"
    merge(results, landings)
    problems = [r.problem for r in results]
    assert problems[0] is None
    assert problems[1] is None  # rejected locally and dead-lettered for the same reason
    assert "dead-lettered by the stack (bigquery_insert_failed)" in problems[2]
    assert "reached neither" in problems[3]
    assert "dead-lettered as invalid_utf8, locally as malformed_json" in problems[4]
    assert results[1].landed == "dead_letter table as schema_violation (message_id 1)"
    assert results[3].landed == "nowhere (message_id 3)"
