"""The published schema tells producers the truth: the pipeline accepts exactly what it allows."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract_tests import engine, registry
from contract_tests.generate import valid_messages, validator
from pipeline import schema
from pipeline.messages import Message

PUBLISHED = registry.load(schema.CONTRACT_VERSION)
CHECK = validator(PUBLISHED)
SETTINGS = settings(max_examples=150, derandomize=True, database=None, deadline=None,
                    suppress_health_check=list(HealthCheck))


def outcome(event):
    return engine.run_functions(Message(json.dumps(event).encode(), {}, "m-1"))


@SETTINGS
@given(valid_messages(PUBLISHED))
def test_every_message_the_published_schema_allows_is_accepted(event):
    result = outcome(event)
    assert result.accepted, (result.error_type, result.error_message)


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=6),
                    st.floats(allow_nan=False, allow_infinity=False))
timestamps = st.one_of(st.sampled_from(["2024-05-06T07:08:09Z", "2024-05-06T07:08:09",
                                        "2024-13-01T00:00:00Z", "yesterday", ""]), scalars)
loose_data = st.recursive(scalars, lambda inner: st.lists(inner, max_size=2)
                          | st.dictionaries(st.text(max_size=3), inner, max_size=3), max_leaves=6)
loose_metadata = st.dictionaries(st.sampled_from(["source", "version", "region"]),
                                 st.one_of(st.text(max_size=4), scalars), max_size=3)
loose_events = st.fixed_dictionaries(
    {},
    optional={"event_id": st.one_of(st.text(max_size=4), scalars), "timestamp": timestamps,
              "data": loose_data, "metadata": loose_metadata, "extra": scalars},
)


# A valid event with one field replaced or added: near misses are where contracts drift.
near_misses = st.builds(
    lambda event, key, value: {**event, key: value},
    valid_messages(PUBLISHED),
    st.sampled_from(["event_id", "timestamp", "data", "metadata", "extra"]),
    st.one_of(timestamps, loose_data, loose_metadata),
)


@SETTINGS
@given(st.one_of(loose_events, near_misses))
def test_the_pipeline_rejects_what_the_published_schema_rejects(event):
    result = outcome(event)
    assert not result.crashed, result.reason
    assert result.accepted == CHECK.is_valid(event), (result.error_message, event)
