"""Normalisation takes out what always differs, and nothing else."""

from parity.normalise import normalise, normalise_steps


def test_run_token_and_project_become_placeholders():
    value = {"name": "projects/my-proj/topics/topic_r1a2b3c4_1", "ref": "my-proj:ds_r1a2b3c4_2.t"}
    assert normalise(value, "r1a2b3c4", "my-proj") == {
        "name": "projects/<project>/topics/topic_<run>_1",
        "ref": "<project>:ds_<run>_2.t",
    }


def test_project_is_replaced_only_as_a_whole_word():
    assert (
        normalise("projects/p/topics/p-topic", project="p") == "projects/<project>/topics/p-topic"
    )


def test_server_assigned_values_are_masked_but_their_presence_is_kept():
    value = {"message_id": "123", "ack_id": "x", "publish_time": "t", "etag": "e", "data": "keep"}
    assert normalise(value) == {
        "message_id": "<message_id>",
        "ack_id": "<ack_id>",
        "publish_time": "<publish_time>",
        "etag": "<etag>",
        "data": "keep",
    }
    assert normalise({"message_id": ""}) == {"message_id": ""}  # absent stays visibly absent


def test_user_columns_named_id_are_not_masked():
    assert normalise([{"id": 1, "s": "a"}]) == [{"id": 1, "s": "a"}]


def test_timestamps_in_text_and_dropped_keys():
    value = {"t": "at 2024-01-02T03:04:05.123456Z ok", "statistics": {"x": 1}, "kind": "k"}
    assert normalise(value) == {"t": "at <time> ok"}


def test_steps_keep_labels_and_normalise_notes():
    steps = [{"label": "create", "value": {"error": "NOT_FOUND"}, "note": "no topic_tok_1"}]
    assert normalise_steps(steps, "tok", None) == [
        {"label": "create", "value": {"error": "NOT_FOUND"}, "note": "no topic_<run>_1"}
    ]


def test_values_that_matter_still_differ_after_normalisation():
    a = normalise({"delivery_attempt": 1, "data": "x"}, "t1", "p")
    b = normalise({"delivery_attempt": 2, "data": "x"}, "t2", "p")
    assert a != b
