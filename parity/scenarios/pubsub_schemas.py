"""Schemas: create, get, list, revisions, validate, topics with schema settings, bad publishes."""

import json

SERVICE = "pubsub"

AVRO = json.dumps(
    {
        "type": "record",
        "name": "Event",
        "fields": [{"name": "id", "type": "string"}, {"name": "n", "type": "long"}],
    }
)
AVRO_V2 = json.dumps(
    {
        "type": "record",
        "name": "Event",
        "fields": [
            {"name": "id", "type": "string"},
            {"name": "n", "type": "long"},
            {"name": "tag", "type": ["null", "string"], "default": None},
        ],
    }
)


def run(ctx):
    sc, p = ctx.schemas, ctx.publisher
    parent = f"projects/{ctx.project}"
    schema_id = ctx.name("schema")
    name = f"{parent}/schemas/{schema_id}"
    avro = {"type_": "AVRO", "definition": AVRO}
    shape = lambda x: {"name": x.name, "type": x.type_.name, "definition": x.definition}  # noqa: E731
    ctx.call(
        "create avro schema",
        sc.create_schema,
        request={"parent": parent, "schema": avro, "schema_id": schema_id},
        shape=shape,
    )
    ctx.cleanup(lambda: sc.delete_schema(name=name))
    ctx.call(
        "create again",
        sc.create_schema,
        request={"parent": parent, "schema": avro, "schema_id": schema_id},
    )
    ctx.call(
        "create invalid avro",
        sc.create_schema,
        request={
            "parent": parent,
            "schema": {"type_": "AVRO", "definition": "{nope"},
            "schema_id": ctx.name("bad"),
        },
    )
    ctx.call("get", sc.get_schema, name=name, shape=shape)
    ctx.call("get missing", sc.get_schema, name=f"{parent}/schemas/{ctx.name('missing')}")
    ctx.call(
        "list (this run's)",
        lambda: sorted(x.name for x in sc.list_schemas(parent=parent) if ctx.token in x.name),
    )
    ctx.call("validate schema", sc.validate_schema, parent=parent, schema=avro)
    ctx.call(
        "validate a good message",
        sc.validate_message,
        request={
            "parent": parent,
            "name": name,
            "encoding": "JSON",
            "message": b'{"id": "x", "n": 1}',
        },
    )
    ctx.call(
        "validate a bad message",
        sc.validate_message,
        request={"parent": parent, "name": name, "encoding": "JSON", "message": b'{"id": 1}'},
    )
    ctx.call(
        "commit a revision",
        sc.commit_schema,
        request={"name": name, "schema": {"name": name, "type_": "AVRO", "definition": AVRO_V2}},
        shape=shape,
    )
    version = {AVRO: "v1", AVRO_V2: "v2", "": "no definition"}
    ctx.call(
        "list revisions (FULL view)",
        lambda: sorted(
            version.get(x.definition, "other")
            for x in sc.list_schema_revisions(request={"name": name, "view": "FULL"})
        ),
    )
    ctx.call(
        "list revisions (default view)",
        lambda: sorted(
            version.get(x.definition, "other") for x in sc.list_schema_revisions(name=name)
        ),
    )
    ctx.call("get the latest", sc.get_schema, name=name, shape=lambda x: version.get(x.definition))

    topic = ctx.topic_path()
    settings = {"schema": name, "encoding": "JSON"}
    ctx.call(
        "create topic with schema",
        p.create_topic,
        request={"name": topic, "schema_settings": settings},
        shape=lambda t: {
            "schema": t.schema_settings.schema,
            "encoding": t.schema_settings.encoding.name,
        },
    )
    ctx.cleanup(lambda: p.delete_topic(topic=topic))
    ctx.publish(topic, b'{"id": "a", "n": 2}', label="publish a valid message")
    ctx.publish(topic, b'{"id": "a"}', label="publish a message missing a field")
    ctx.publish(topic, b"not json", label="publish garbage")
    ctx.call(
        "topic with a missing schema",
        p.create_topic,
        request={
            "name": ctx.topic_path(),
            "schema_settings": {
                "schema": f"{parent}/schemas/{ctx.name('gone')}",
                "encoding": "JSON",
            },
        },
    )
    ctx.call("delete schema", sc.delete_schema, name=name)
    ctx.call("delete schema again", sc.delete_schema, name=name)
