"""The environment spec: every committed environment loads; every mistake is one sentence naming
the file that made it and the key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from deploy import spec
from pipeline import schema


@pytest.fixture
def envdir(tmp_path) -> Path:
    """A copy of environments/ to break."""
    for path in spec.ENVIRONMENTS.glob("*.toml"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def errors(envdir: Path, name: str = "local", extra: str = "") -> list[str]:
    if extra:
        with open(envdir / f"{name}.toml", "a") as handle:
            handle.write("\n" + extra)
    with pytest.raises(spec.SpecError) as caught:
        spec.load(name, envdir)
    return caught.value.errors


@pytest.mark.parametrize("name", ["local", "staging", "prod"])
def test_every_committed_environment_loads(name):
    loaded = spec.load(name)
    assert loaded.name == name
    assert [t.name for t in loaded.topics] == ["events", "events-unprocessable"]
    assert loaded.files[0].endswith("defaults.toml")


def test_table_schemas_come_from_the_contract():
    loaded = spec.load("local")
    tables = {t.dotted: t for t in loaded.tables()}
    assert list(tables["analytics.events"].schema) == schema.events_table_schema()["fields"]
    assert list(tables["analytics.events_dlq"].schema) == \
        schema.dead_letter_table_schema()["fields"]
    assert tables["analytics.events"].derived_from == "events"


def test_environment_files_merge_with_the_defaults_by_name():
    local, staging = spec.load("local"), spec.load("staging")
    # local adds rows to the defaults' sources table and a key to the events topic
    sources = {t.name: t for t in local.tables()}["sources"]
    assert [r["source"] for r in sources.rows] == ["checkout", "web", "iot"]
    assert sources.schema[0]["name"] == "source"
    events = {t.name: t for t in local.topics}["events"]
    assert events.message_retention == 7 * 86400  # from defaults
    assert events.kms_key.endswith("/cryptoKeys/pubsub")  # from local.toml
    # staging overrides one key of the events table's partitioning table as a whole
    table = {t.name: t for t in staging.tables()}["events"]
    assert table.partitioning == {"type": "DAY", "field": "event_date", "expiration": 30 * 86400}
    assert table.clustering == ("source", "event_id")  # untouched default


def test_pipeline_args_match_the_harness_form():
    loaded = spec.load("local")
    assert loaded.pipeline_args()[:4] == [
        "--input_subscription=projects/local-project/subscriptions/events-pipeline",
        "--output_table=local-project:analytics.events",
        "--dead_letter_table=local-project:analytics.events_dlq",
        "--reference_table=local-project:analytics.sources",
    ]
    moved = loaded.with_project("p-test")
    assert moved.pipeline_args()[0] == "--input_subscription=projects/p-test/subscriptions/" \
                                       "events-pipeline"
    assert moved.key_ring.startswith("projects/p-test/")


def test_unknown_key_and_range_name_the_file_and_key(envdir):
    found = errors(envdir, extra='[[subscriptions]]\nname = "events-pipeline"\n'
                                 'ack_deadline_seconds = 5\nack_dedline = 3\n')
    local = str(envdir / "local.toml")
    assert f"{local}: subscriptions[events-pipeline].ack_dedline: unknown key." in found
    assert f"{local}: subscriptions[events-pipeline].ack_deadline_seconds: 5 is less than the " \
           "minimum of 10." in found
    assert len(found) == 2


def test_an_error_in_the_defaults_names_the_defaults_file(envdir):
    text = (envdir / "defaults.toml").read_text().replace('retry_max_backoff = "60s"',
                                                          'retry_max_backoff = "20m"')
    (envdir / "defaults.toml").write_text(text)
    assert errors(envdir) == [f"{envdir / 'defaults.toml'}: subscriptions[events-pipeline]."
                              "retry_max_backoff: '20m' is outside 0s..10m."]


@pytest.mark.parametrize("extra, expected", [
    ('[[subscriptions]]\nname = "orphan"\ntopic = "nope"\n',
     "subscriptions[orphan].topic: names no topic of this spec: 'nope'."),
    ('[[subscriptions]]\nname = "loop"\ntopic = "events"\ndead_letter_topic = "events"\n',
     "subscriptions[loop].dead_letter_topic: must differ from the subscription's own topic."),
    ('[[subscriptions]]\nname = "sub-two"\ntopic = "events"\nmax_delivery_attempts = 7\n',
     "subscriptions[sub-two].max_delivery_attempts: needs a dead_letter_topic."),
    ('[[subscriptions]]\nname = "sub-three"\ntopic = "events"\nmessage_retention = "8d"\n',
     "subscriptions[sub-three].message_retention: '8d' is outside 10m..7d."),
    ('[[subscriptions]]\nname = "sub-four"\ntopic = "events"\nexpiration = "2h"\n',
     "subscriptions[sub-four].expiration: must be at least 1d (or \"never\")."),
    ('[[datasets]]\nname = "analytics"\n[[datasets.tables]]\nname = "events"\n'
     'partitioning = { type = "DAY", field = "source" }\n',
     "datasets[analytics].tables[events].partitioning.field: 'source' is STRING; partitioning "
     "needs DATE, TIMESTAMP or DATETIME."),
    ('[[datasets]]\nname = "analytics"\n[[datasets.tables]]\nname = "events"\n'
     'clustering = ["data"]\n',
     "datasets[analytics].tables[events].clustering: 'data' is JSON, which cannot cluster."),
    ('[pipeline]\noutput_table = "analytics.sources"\n',
     "pipeline.output_table: must name a table with schema = \"events\" (the pipeline writes "
     "the contract's columns)."),
    ('[pipeline.options]\nlog_format = "xml"\n',
     "pipeline.options.log_format: invalid choice: 'xml' (choose from 'text', 'json')."),
    ('[pipeline.options]\nmax_event_bytes = "lots"\n',
     "pipeline.options.max_event_bytes: invalid int value: 'lots'."),
    ('[pipeline.options]\nmax_event_byte = 10\n',
     "pipeline.options.max_event_byte: is not one of the pipeline's options (create_tables, "),
    ('[pipeline.options]\noutput_table = "x.y"\n',
     "pipeline.options.output_table: is set by pipeline.output_table, not here."),
    ('[snapshots]\nevery = "6d"\n',
     "snapshots.every: plus max_backlog_age must stay within 7d"),
    ('[snapshots]\nevery = "90m"\n',
     "snapshots.every: must be whole minutes (under 1h), whole hours (under 1d) or whole days"),
    ('[[topics]]\nname = "events"\nkms_key = "bad key"\n',
     "topics[events].kms_key: 'bad key' is not a key name in the key ring (letters, digits, - "
     "and _)."),
    ('[[subscriptions]]\nname = "ab"\ntopic = "events"\n',
     "subscriptions[ab].name: 'ab' is not a valid Pub/Sub name (3 to 255 characters"),
    ('[[alerts]]\nname = "dead-letter-rate"\ncomparison = "about"\n',
     "alerts[dead-letter-rate].comparison: must be one of > >= < <= == !=."),
])
def test_each_mistake_is_one_sentence(envdir, extra, expected):
    found = errors(envdir, extra=extra)
    assert len(found) == 1, found
    assert found[0].startswith(f"{envdir / 'local.toml'}: {expected}"), found


@pytest.mark.parametrize("old, new, expected", [
    ('temp_bucket = "local-project-dataflow-temp"', 'temp_bucket = "nowhere"',
     "pipeline.dataflow.temp_bucket: names no bucket in [[buckets]]: 'nowhere'."),
    ('purpose = "temp"', 'purpose = "backups"',
     "pipeline.dataflow.temp_bucket: must name a bucket with purpose = \"temp\" "
     "('local-project-dataflow-temp' is \"backups\")."),
    ("[pipeline.dataflow]\n", "[pipeline.dataflow]\nuse_public_ips = false\n",
     "pipeline.dataflow.subnetwork: is required when use_public_ips = false (workers need a "
     "subnet with Private Google Access)."),
])
def test_dataflow_settings_are_checked(envdir, old, new, expected):
    text = (envdir / "local.toml").read_text()
    assert old in text
    (envdir / "local.toml").write_text(text.replace(old, new))
    found = errors(envdir)
    assert f"{envdir / 'local.toml'}: {expected}" in found, found


def test_private_ips_need_private_google_access(envdir):
    text = (envdir / "staging.toml").read_text().replace("private_google_access = true",
                                                          "private_google_access = false")
    (envdir / "staging.toml").write_text(text)
    assert errors(envdir, "staging") == [
        f"{envdir / 'staging.toml'}: network.private_google_access: must be true when "
        "pipeline.dataflow.use_public_ips = false: workers without public IPs reach Google APIs "
        "only through it."]


def test_a_kms_key_without_a_key_ring_is_refused(envdir):
    text = (envdir / "local.toml").read_text()
    start = text.index("[encryption]")
    end = text.index("[[topics]]")
    (envdir / "local.toml").write_text(text[:start] + text[end:])
    found = errors(envdir)
    assert f"{envdir / 'local.toml'}: topics[events].kms_key: kms_key 'pubsub' needs " \
           "[encryption] key_ring." in found


def test_alert_rules_are_validated_loosely(envdir):
    # a rule without a metric is the operations work's business: accepted as it is
    with open(envdir / "local.toml", "a") as handle:
        handle.write('\n[[alerts]]\nname = "drill-only"\nwebhook = "http://127.0.0.1:1/x"\n'
                     'anything = { nested = true }\n')
    loaded = spec.load("local", envdir)
    assert loaded.alerts[-1] == {"name": "drill-only", "webhook": "http://127.0.0.1:1/x",
                                 "anything": {"nested": True}}
    assert errors(envdir, extra='[[alerts]]\nthreshold = 3\n') == [
        f"{envdir / 'local.toml'}: alerts[1]: 'name' is a required property."]


def test_a_gcp_environment_needs_dataflow_and_template_settings(envdir):
    text = (envdir / "staging.toml").read_text()
    text = text.replace('job_name = "streambench-events"\n', "")
    start = text.index("[template]")
    (envdir / "staging.toml").write_text(text[:start])
    found = errors(envdir, "staging")
    staging = envdir / "staging.toml"
    assert found == [
        f"{staging}: pipeline.dataflow.job_name: is required for target = \"gcp\".",
        f"{staging}: template: [template] (image, spec_path) is required for target = \"gcp\".",
    ]


def test_unknown_environment_and_bad_toml(envdir):
    assert errors(envdir, "nowhere") == [
        f"{envdir / 'nowhere.toml'}: no such environment (known: local, prod, staging)."]
    (envdir / "broken.toml").write_text("[environment\n")
    found = errors(envdir, "broken")
    assert len(found) == 1 and found[0].startswith(f"{envdir / 'broken.toml'}: not valid TOML")


def test_durations():
    assert spec.parse_duration("600s") == 600
    assert spec.parse_duration("1d12h") == 129600
    assert spec.parse_duration(42) == 42
    assert spec.schedule_cron(6 * 3600) == "0 */6 * * *"
    assert spec.schedule_cron(15 * 60) == "*/15 * * * *"
    assert spec.schedule_cron(2 * 86400) == "0 0 */2 * *"
