"""The environment spec: ``environments/defaults.toml`` merged with ``environments/NAME.toml``.

Loading validates the merged document against ``spec.schema.json`` (jsonschema: shapes, types,
ranges, unknown keys) and then checks what a schema cannot say (references between sections,
Pub/Sub's duration limits, partitioning columns, the pipeline's own options through its real
argument parser, no service-account keys). Every problem is one sentence naming the file and the
key; :class:`SpecError` carries them all.

Merging: tables merge key by key; lists of tables that all have a ``name`` (topics,
subscriptions, datasets and their tables, buckets, producers, alerts) merge by name, an entry of
the environment file overriding the keys it sets; any other value is replaced.
"""

from __future__ import annotations

import argparse
import json
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from deploy import alerts
from pipeline import schema as contract

ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENTS = ROOT / "environments"
DEFAULTS_FILE = "defaults.toml"
SCHEMA_FILE = Path(__file__).resolve().parent / "spec.schema.json"

MANAGED_BY = ("managed-by", "streambench")
"""The label every resource ``apply`` creates carries (with ``environment``): how ``plan`` tells
what it owns (and may delete) from what it does not, without a state file."""

DERIVED_SCHEMAS = {
    "events": contract.events_table_schema,
    "dead_letter": contract.dead_letter_table_schema,
}
#: Field names that would ask for a service-account key (refused: attached accounts only).
KEY_FIELDS = ("key", "keys", "create_key", "key_file", "private_key", "key_algorithm")
#: Pipeline options the spec sets from its own sections, so ``[pipeline.options]`` may not.
SPEC_SET_OPTIONS = ("input_subscription", "output_table", "dead_letter_table", "reference_table")

_DURATION_PART = re.compile(r"([0-9]+)([smhd])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MIN_RETENTION = 600
MAX_TOPIC_RETENTION = 31 * 86400
MAX_SUBSCRIPTION_RETENTION = 7 * 86400
MAX_BACKOFF = 600
SNAPSHOT_LIFETIME = 7 * 86400
PARTITION_TYPES = {"DATE", "TIMESTAMP", "DATETIME"}
UNCLUSTERABLE = {"JSON", "RECORD", "STRUCT", "FLOAT", "FLOAT64", "GEOGRAPHY"}


class SpecError(ValueError):
    """The spec is invalid; ``errors`` holds one sentence per problem."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("\n".join(errors))


def parse_duration(value: int | str) -> int:
    """``600``, ``"600s"``, ``"10m"``, ``"1d12h"`` -> seconds."""
    if isinstance(value, int):
        return value
    return sum(int(n) * _UNIT[unit] for n, unit in _DURATION_PART.findall(value))


def schedule_cron(every: int) -> str:
    """A Cloud Scheduler schedule for "every N seconds" (whole minutes, hours or days)."""
    if every % 86400 == 0:
        return f"0 0 */{every // 86400} * *"
    if every % 3600 == 0 and every < 86400:
        return f"0 */{every // 3600} * * *"
    if every % 60 == 0 and every < 3600:
        return f"*/{every // 60} * * * *"
    raise ValueError(f"cannot schedule every {every}s: use whole minutes, hours or days")


# -- the model: plain objects, full names resolved ------------------------------------------


@dataclass(frozen=True)
class Topic:
    name: str
    message_retention: int | None = None
    kms_key: str | None = None
    labels: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Subscription:
    name: str
    topic: str
    ack_deadline_seconds: int = 10
    message_retention: int | None = None
    retain_acked_messages: bool = False
    dead_letter_topic: str | None = None
    max_delivery_attempts: int = 5
    retry_min_backoff: int | None = None
    retry_max_backoff: int | None = None
    filter: str = ""
    enable_message_ordering: bool = False
    enable_exactly_once_delivery: bool = False
    expiration: int | None = None  # seconds; 0 = never expires; None = Pub/Sub's default (31 d)
    labels: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Table:
    dataset: str
    name: str
    schema: tuple[dict, ...]
    derived_from: str | None = None  # "events" / "dead_letter": from pipeline/schema.py
    description: str = ""
    partitioning: dict | None = None  # {"type", "field"?, "expiration"? (seconds)}
    clustering: tuple[str, ...] = ()
    require_partition_filter: bool = False
    kms_key: str | None = None
    labels: dict = field(default_factory=dict)
    rows: tuple[dict, ...] = ()

    @property
    def dotted(self) -> str:
        return f"{self.dataset}.{self.name}"


@dataclass(frozen=True)
class Dataset:
    name: str
    location: str = "US"
    description: str = ""
    default_table_expiration: int | None = None
    kms_key: str | None = None
    labels: dict = field(default_factory=dict)
    tables: tuple[Table, ...] = ()


@dataclass(frozen=True)
class Bucket:
    name: str
    purpose: str
    location: str = "US"
    kms_key: str | None = None
    delete_after_days: int | None = None
    versioning: bool = False
    labels: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceAccount:
    role: str  # the spec's name for it: "pipeline", "ingest", ...
    account_id: str
    display_name: str = ""
    description: str = ""

    def email(self, project: str) -> str:
        return f"{self.account_id}@{project}.iam.gserviceaccount.com"


@dataclass(frozen=True)
class Pipeline:
    service_account: str
    input_subscription: str
    output_table: str
    dead_letter_table: str
    reference_table: str | None = None
    options: dict = field(default_factory=dict)
    dataflow: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Ingest:
    service_account: str
    topic: str
    dead_letter_topic: str | None = None


@dataclass(frozen=True)
class Producer:
    name: str
    member: str
    topic: str


@dataclass(frozen=True)
class Snapshots:
    subscription: str
    every: int
    service_account: str
    max_backlog_age: int = 0


class ProjectPaths:
    """Full resource names from short ones, for anything with a ``project`` (the deploy spec, the
    harness file)."""

    project: str

    def topic_path(self, name: str) -> str:
        return f"projects/{self.project}/topics/{name}"

    def subscription_path(self, name: str) -> str:
        return f"projects/{self.project}/subscriptions/{name}"

    def table_ref(self, dotted: str) -> str:
        """``dataset.table`` -> ``project:dataset.table`` (Beam's form)."""
        return f"{self.project}:{dotted}"


@dataclass(frozen=True)
class Spec(ProjectPaths):
    """One environment, validated; names are short (``events``), paths come from methods."""

    name: str
    target: str  # "emulators" | "gcp"
    project: str
    project_number: int
    region: str = "us-central1"
    protected: bool = False
    labels: dict = field(default_factory=dict)
    key_ring: str | None = None
    service_accounts: dict[str, ServiceAccount] = field(default_factory=dict)
    topics: tuple[Topic, ...] = ()
    subscriptions: tuple[Subscription, ...] = ()
    datasets: tuple[Dataset, ...] = ()
    buckets: tuple[Bucket, ...] = ()
    pipeline: Pipeline | None = None
    ingest: Ingest | None = None
    producers: tuple[Producer, ...] = ()
    snapshots: Snapshots | None = None
    audit_data_access: tuple[str, ...] = ()
    network: dict = field(default_factory=dict)
    template: dict = field(default_factory=dict)
    alerts: tuple[dict, ...] = ()
    files: tuple[str, ...] = ()

    # -- names --

    def kms_key_name(self, key: str | None) -> str | None:
        return f"{self.key_ring}/cryptoKeys/{key}" if key else None

    def service_account_email(self, role: str) -> str:
        return self.service_accounts[role].email(self.project)

    def pubsub_service_agent(self) -> str:
        return f"service-{self.project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"

    def managed_labels(self) -> dict[str, str]:
        return {MANAGED_BY[0]: MANAGED_BY[1], "environment": self.name}

    def resource_labels(self, own: dict) -> dict[str, str]:
        """What a resource carries: the project's labels, its own, then the managed pair."""
        return {**self.labels, **own, **self.managed_labels()}

    def tables(self) -> list[Table]:
        return [t for d in self.datasets for t in d.tables]

    def bucket(self, purpose: str) -> Bucket | None:
        return next((b for b in self.buckets if b.purpose == purpose), None)

    def with_project(self, project: str | None) -> Spec:
        """The same environment under another project id (per-test isolation, ``--project``)."""
        if not project or project == self.project:
            return self
        key_ring = self.key_ring.replace(f"projects/{self.project}/", f"projects/{project}/", 1) \
            if self.key_ring else None
        return replace(self, project=project, key_ring=key_ring)

    def pipeline_args(self) -> list[str]:
        """The ``python -m pipeline`` arguments of this environment (its own options only)."""
        p = self.pipeline
        args = [
            f"--input_subscription={self.subscription_path(p.input_subscription)}",
            f"--output_table={self.table_ref(p.output_table)}",
            f"--dead_letter_table={self.table_ref(p.dead_letter_table)}",
        ]
        if p.reference_table:
            args.append(f"--reference_table={self.table_ref(p.reference_table)}")
        args += [f"--{k}={_option_text(v)}" for k, v in sorted(p.options.items())]
        return args


def _option_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


# -- loading ---------------------------------------------------------------------------------


def available(root: Path = ENVIRONMENTS) -> list[str]:
    """The environment names in ``root`` (every ``*.toml`` but the defaults)."""
    return sorted(p.stem for p in root.glob("*.toml") if p.name != DEFAULTS_FILE)


def load(name: str, root: str | Path = ENVIRONMENTS, project: str | None = None) -> Spec:
    """Load, merge and validate environment ``name``; ``project`` overrides its project id."""
    root = Path(root)
    env_file = root / f"{name}.toml"
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", name) or not env_file.is_file():
        known = ", ".join(available(root)) or "none"
        raise SpecError([f"{env_file}: no such environment (known: {known})."])
    origins: dict[tuple, str] = {}
    merged: dict = {}
    files = []
    for path in (root / DEFAULTS_FILE, env_file):
        if not path.is_file():
            continue
        try:
            raw = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise SpecError([f"{path}: not valid TOML: {exc}."]) from None
        merged = _merge(merged, raw, origins, str(path), ())
        files.append(str(path))
    checker = _Checker(merged, origins, str(env_file))
    checker.check()
    if checker.errors:
        raise SpecError(checker.errors)
    return _build(name, merged, tuple(files)).with_project(project)


def _named(items: Any) -> bool:
    return isinstance(items, list) and all(isinstance(i, dict) and "name" in i for i in items)


def _merge(base: Any, override: Any, origins: dict, source: str, path: tuple) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for key, value in override.items():
            out[key] = _merge(base.get(key), value, origins, source, path + (key,))
        return out
    if _named(base) and _named(override):
        out = list(base)
        index = {item["name"]: i for i, item in enumerate(out)}
        for item in override:
            at = index.get(item["name"])
            merged = _merge(out[at] if at is not None else None, item, origins, source,
                            path + (item["name"],))
            if at is None:
                out.append(merged)
            else:
                out[at] = merged
        return out
    origins[path] = source
    _mark(override, origins, source, path)
    return override


def _mark(value: Any, origins: dict, source: str, path: tuple) -> None:
    """Record ``source`` for every key under a replaced value."""
    if isinstance(value, dict):
        for key, child in value.items():
            origins[path + (key,)] = source
            _mark(child, origins, source, path + (key,))
    elif _named(value):
        for item in value:
            origins[path + (item["name"],)] = source
            _mark(item, origins, source, path + (item["name"],))


def _schema() -> dict:
    return json.loads(SCHEMA_FILE.read_text())


class _Checker:
    """Collects one sentence per problem, each naming the file that set the key."""

    def __init__(self, doc: dict, origins: dict, env_file: str):
        self.doc = doc
        self.origins = origins
        self.env_file = env_file
        self.errors: list[str] = []

    def error(self, path: tuple, message: str) -> None:
        source = self.env_file
        for end in range(len(path), 0, -1):
            if path[:end] in self.origins:
                source = self.origins[path[:end]]
                break
        where = _display(path)
        sentence = f"{source}: {where}: {message}" if where else f"{source}: {message}"
        self.errors.append(sentence if sentence.endswith(".") else sentence + ".")

    def check(self) -> None:
        self._keys()
        self._shape()
        if not self.errors:
            self._references()

    def _keys(self) -> None:
        for role, account in (self.doc.get("service_accounts") or {}).items():
            for key in account if isinstance(account, dict) else ():
                if key in KEY_FIELDS:
                    self.error(("service_accounts", role, key),
                               "service-account keys are not allowed: the pipeline runs as an "
                               "attached service account and CI uses workload identity "
                               "federation (deploy/SECURITY.md)")

    def _shape(self) -> None:
        import jsonschema

        validator = jsonschema.Draft202012Validator(_schema())
        for err in sorted(validator.iter_errors(self.doc), key=lambda e: list(map(str, e.path))):
            path = _named_path(self.doc, list(err.absolute_path))
            if err.validator == "additionalProperties":
                extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
                if path[:1] == ("service_accounts",):
                    extra = [key for key in extra if key not in KEY_FIELDS]  # refused in _keys
                for key in extra:
                    self.error(path + (key,), "unknown key")
                continue
            if err.validator == "pattern" and "x-message" in err.schema:
                self.error(path, f"{err.instance!r} is not {err.schema['x-message']}")
                continue
            self.error(path, err.message)

    # -- what a schema cannot say --

    def _references(self) -> None:
        doc = self.doc
        topics = self._unique(("topics",))
        subs = self._unique(("subscriptions",))
        accounts = set(doc.get("service_accounts") or {})
        tables: dict[str, dict] = {}
        for ds in doc.get("datasets", []):
            self._unique(("datasets", ds["name"], "tables"), ds.get("tables", []))
            for t in ds.get("tables", []):
                tables[f"{ds['name']}.{t['name']}"] = t
                self._table(("datasets", ds["name"], "tables", t["name"]), t)
        self._unique(("datasets",))
        buckets = {b["name"]: b for b in doc.get("buckets", [])}
        self._unique(("buckets",))
        self._unique(("producers",))
        self._unique(("alerts",))
        for rule in doc.get("alerts", []):
            for key, why in alerts.problems(rule):
                self.error(("alerts", rule["name"], key), why)
        has_keys = "encryption" in doc
        for path, key in _kms_keys(doc):
            if not has_keys:
                self.error(path, f"kms_key {key!r} needs [encryption] key_ring")

        for t in doc.get("topics", []):
            self._range(("topics", t["name"], "message_retention"), t.get("message_retention"),
                        MIN_RETENTION, MAX_TOPIC_RETENTION)
        for s in doc.get("subscriptions", []):
            path = ("subscriptions", s["name"])
            self._ref(path + ("topic",), s["topic"], topics, "topic")
            dlt = s.get("dead_letter_topic")
            if dlt:
                self._ref(path + ("dead_letter_topic",), dlt, topics, "topic")
                if dlt == s["topic"]:
                    self.error(path + ("dead_letter_topic",),
                               "must differ from the subscription's own topic")
            elif "max_delivery_attempts" in s:
                self.error(path + ("max_delivery_attempts",), "needs a dead_letter_topic")
            retention = s.get("message_retention")
            self._range(path + ("message_retention",), retention, MIN_RETENTION,
                        MAX_SUBSCRIPTION_RETENTION)
            low, high = s.get("retry_min_backoff"), s.get("retry_max_backoff")
            self._range(path + ("retry_min_backoff",), low, 0, MAX_BACKOFF)
            self._range(path + ("retry_max_backoff",), high, 0, MAX_BACKOFF)
            if low is not None and high is not None and parse_duration(low) > parse_duration(high):
                self.error(path + ("retry_min_backoff",), "is longer than retry_max_backoff")
            expiration = s.get("expiration")
            if expiration not in (None, "never"):
                ttl = parse_duration(expiration)
                if ttl < 86400:
                    self.error(path + ("expiration",), "must be at least 1d (or \"never\")")
                elif retention is not None and ttl < parse_duration(retention):
                    self.error(path + ("expiration",), "must not be shorter than message_retention")

        pipeline = doc.get("pipeline")
        if pipeline:
            self._pipeline(pipeline, subs, tables, buckets, accounts)
        ingest = doc.get("ingest")
        if ingest:
            self._ref(("ingest", "service_account"), ingest["service_account"], accounts,
                      "service account")
            self._ref(("ingest", "topic"), ingest["topic"], topics, "topic")
            if ingest.get("dead_letter_topic"):
                self._ref(("ingest", "dead_letter_topic"), ingest["dead_letter_topic"], topics,
                          "topic")
        for p in doc.get("producers", []):
            self._ref(("producers", p["name"], "topic"), p["topic"], topics, "topic")
        snapshots = doc.get("snapshots")
        if snapshots:
            self._ref(("snapshots", "subscription"), snapshots["subscription"], subs,
                      "subscription")
            self._ref(("snapshots", "service_account"), snapshots["service_account"], accounts,
                      "service account")
            every = parse_duration(snapshots["every"])
            backlog = parse_duration(snapshots.get("max_backlog_age", 0))
            if every < 600:
                self.error(("snapshots", "every"), "must be at least 10m")
            elif not _schedulable(every):
                self.error(("snapshots", "every"), "must be whole minutes (under 1h), whole "
                           "hours (under 1d) or whole days, to be a Cloud Scheduler schedule")
            elif every + backlog > SNAPSHOT_LIFETIME:
                self.error(("snapshots", "every"),
                           "plus max_backlog_age must stay within 7d: a Pub/Sub snapshot expires "
                           "7 days after the oldest unacknowledged message it holds")
        if doc["environment"]["target"] == "gcp":
            self._gcp_only()

    def _pipeline(self, p: dict, subs: set, tables: dict, buckets: dict, accounts: set) -> None:
        self._ref(("pipeline", "service_account"), p["service_account"], accounts,
                  "service account")
        self._ref(("pipeline", "input_subscription"), p["input_subscription"], subs,
                  "subscription")
        for key in ("output_table", "dead_letter_table", "reference_table"):
            if p.get(key):
                self._ref(("pipeline", key), p[key], set(tables), "table")
        for key in ("output_table", "dead_letter_table"):
            derived = {"output_table": "events", "dead_letter_table": "dead_letter"}[key]
            table = tables.get(p[key])
            if table is not None and table.get("schema") != derived:
                self.error(("pipeline", key), f"must name a table with schema = \"{derived}\" "
                           "(the pipeline writes the contract's columns)")
        options = p.get("options") or {}
        for key in options:
            if key in SPEC_SET_OPTIONS:
                self.error(("pipeline", "options", key), f"is set by pipeline.{key}, not here")
        for key, problem in check_pipeline_options({k: v for k, v in options.items()
                                                    if k not in SPEC_SET_OPTIONS}):
            self.error(("pipeline", "options") + ((key,) if key else ()), problem)
        dataflow = p.get("dataflow") or {}
        for key, purpose in (("temp_bucket", "temp"), ("staging_bucket", "staging")):
            name = dataflow.get(key)
            if name is None:
                continue
            if name not in buckets:
                self.error(("pipeline", "dataflow", key), f"names no bucket in [[buckets]]: {name!r}")
            elif buckets[name]["purpose"] != purpose:
                self.error(("pipeline", "dataflow", key), f"must name a bucket with purpose = "
                           f"\"{purpose}\" ({name!r} is \"{buckets[name]['purpose']}\")")
        if dataflow.get("use_public_ips") is False:
            if not dataflow.get("subnetwork"):
                self.error(("pipeline", "dataflow", "subnetwork"),
                           "is required when use_public_ips = false (workers need a subnet with "
                           "Private Google Access)")
            if not (self.doc.get("network") or {}).get("private_google_access"):
                self.error(("network", "private_google_access"),
                           "must be true when pipeline.dataflow.use_public_ips = false: workers "
                           "without public IPs reach Google APIs only through it")

    def _gcp_only(self) -> None:
        """What a real project needs that the emulators do not."""
        p = self.doc.get("pipeline") or {}
        dataflow = p.get("dataflow") or {}
        for key in ("temp_bucket", "job_name"):
            if p and not dataflow.get(key):
                self.error(("pipeline", "dataflow", key), "is required for target = \"gcp\"")
        if p and "template" not in self.doc:
            self.error(("template",), "[template] (image, spec_path) is required for target = "
                       "\"gcp\"")

    def _table(self, path: tuple, table: dict) -> None:
        fields = _resolve_schema(table["schema"])
        types = {f["name"]: f["type"] for f in fields}
        part = table.get("partitioning")
        if part and part.get("field"):
            kind = types.get(part["field"])
            if kind is None:
                self.error(path + ("partitioning", "field"), f"{part['field']!r} is not a column")
            elif kind not in PARTITION_TYPES:
                self.error(path + ("partitioning", "field"),
                           f"{part['field']!r} is {kind}; partitioning needs DATE, TIMESTAMP or "
                           "DATETIME")
        if table.get("require_partition_filter") and not part:
            self.error(path + ("require_partition_filter",), "needs partitioning")
        for name in table.get("clustering", []):
            kind = types.get(name)
            if kind is None:
                self.error(path + ("clustering",), f"{name!r} is not a column")
            elif kind in UNCLUSTERABLE:
                self.error(path + ("clustering",), f"{name!r} is {kind}, which cannot cluster")

    def _unique(self, path: tuple, items: list | None = None) -> set:
        if items is None:
            items = self.doc.get(path[0], [])
        seen: set = set()
        for item in items:
            if item["name"] in seen:
                self.error(path + (item["name"],), "is defined twice")
            seen.add(item["name"])
        return seen

    def _ref(self, path: tuple, value: str, known: set, what: str) -> None:
        if value not in known:
            self.error(path, f"names no {what} of this spec: {value!r}")

    def _range(self, path: tuple, value, low: int, high: int) -> None:
        if value is None:
            return
        seconds = parse_duration(value)
        if not low <= seconds <= high:
            self.error(path, f"{value!r} is outside {_human(low)}..{_human(high)}")


def _schedulable(every: int) -> bool:
    try:
        schedule_cron(every)
    except ValueError:
        return False
    return True


def _human(seconds: int) -> str:
    for unit in ("d", "h", "m"):
        if seconds and seconds % _UNIT[unit] == 0:
            return f"{seconds // _UNIT[unit]}{unit}"
    return f"{seconds}s"


def _named_path(doc: Any, raw: list) -> tuple:
    """A jsonschema path with list indices of named tables replaced by the names."""
    out: list = []
    node = doc
    for part in raw:
        if isinstance(part, int) and isinstance(node, list):
            item = node[part] if part < len(node) else None
            out.append(item["name"] if isinstance(item, dict) and "name" in item else part)
            node = item
        else:
            out.append(part)
            node = node.get(part) if isinstance(node, dict) else None
    return tuple(out)


_LISTS = {"topics", "subscriptions", "datasets", "tables", "buckets", "producers", "alerts"}


def _display(path: tuple) -> str:
    """``("subscriptions", "s", "topic")`` -> ``subscriptions[s].topic``."""
    text = ""
    previous = None
    for part in path:
        if previous in _LISTS:
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
        previous = part
    return text


def _kms_keys(doc: dict):
    for t in doc.get("topics", []):
        if t.get("kms_key"):
            yield ("topics", t["name"], "kms_key"), t["kms_key"]
    for d in doc.get("datasets", []):
        if d.get("kms_key"):
            yield ("datasets", d["name"], "kms_key"), d["kms_key"]
        for t in d.get("tables", []):
            if t.get("kms_key"):
                yield ("datasets", d["name"], "tables", t["name"], "kms_key"), t["kms_key"]
    for b in doc.get("buckets", []):
        if b.get("kms_key"):
            yield ("buckets", b["name"], "kms_key"), b["kms_key"]
    dataflow = (doc.get("pipeline") or {}).get("dataflow") or {}
    if dataflow.get("kms_key"):
        yield ("pipeline", "dataflow", "kms_key"), dataflow["kms_key"]


def _resolve_schema(value: str | list) -> list[dict]:
    if isinstance(value, str):
        return DERIVED_SCHEMAS[value]()["fields"]
    return [{"mode": "NULLABLE", **f} for f in value]


class _OptionError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse would exit; the spec wants a sentence
        raise _OptionError(message)


def pipeline_option_parser() -> argparse.ArgumentParser:
    """The pipeline's own options (``pipeline/options.py``) on a parser that raises."""
    from pipeline.options import EventPipelineOptions

    parser = _Parser(prog="pipeline", add_help=False)
    EventPipelineOptions._add_argparse_args(parser)
    return parser


def check_pipeline_options(options: dict) -> list[tuple[str | None, str]]:
    """``(option, why)`` for each of ``options`` the pipeline's own parser would refuse."""
    known = {a.dest for a in pipeline_option_parser()._actions}
    out: list[tuple[str | None, str]] = [
        (key, f"is not one of the pipeline's options ({', '.join(sorted(known))})")
        for key in sorted(set(options) - known)
    ]
    for key in sorted(set(options) & known):
        try:
            pipeline_option_parser().parse_args([f"--{key}={_option_text(options[key])}"])
        except _OptionError as exc:
            out.append((key, str(exc).replace(f"argument --{key}: ", "")))
    return out


# -- building the model ------------------------------------------------------------------------


def _build(name: str, doc: dict, files: tuple[str, ...]) -> Spec:
    project = doc["project"]
    key_ring = (doc.get("encryption") or {}).get("key_ring")

    def kms(key):
        return f"{key_ring}/cryptoKeys/{key}" if key else None

    def seconds(value):
        return None if value is None else parse_duration(value)

    topics = tuple(
        Topic(t["name"], seconds(t.get("message_retention")), kms(t.get("kms_key")),
              t.get("labels", {}))
        for t in doc.get("topics", [])
    )
    subscriptions = tuple(
        Subscription(
            name=s["name"], topic=s["topic"],
            ack_deadline_seconds=s.get("ack_deadline_seconds", 10),
            message_retention=seconds(s.get("message_retention")),
            retain_acked_messages=s.get("retain_acked_messages", False),
            dead_letter_topic=s.get("dead_letter_topic"),
            max_delivery_attempts=s.get("max_delivery_attempts", 5),
            retry_min_backoff=seconds(s.get("retry_min_backoff")),
            retry_max_backoff=seconds(s.get("retry_max_backoff")),
            filter=s.get("filter", ""),
            enable_message_ordering=s.get("enable_message_ordering", False),
            enable_exactly_once_delivery=s.get("enable_exactly_once_delivery", False),
            expiration=0 if s.get("expiration") == "never" else seconds(s.get("expiration")),
            labels=s.get("labels", {}),
        )
        for s in doc.get("subscriptions", [])
    )
    datasets = []
    for d in doc.get("datasets", []):
        tables = []
        for t in d.get("tables", []):
            part = t.get("partitioning")
            if part:
                part = {**part, "expiration": seconds(part.get("expiration"))}
            tables.append(Table(
                dataset=d["name"], name=t["name"],
                schema=tuple(_resolve_schema(t["schema"])),
                derived_from=t["schema"] if isinstance(t["schema"], str) else None,
                description=t.get("description", ""),
                partitioning=part, clustering=tuple(t.get("clustering", ())),
                require_partition_filter=t.get("require_partition_filter", False),
                kms_key=kms(t.get("kms_key") or d.get("kms_key")),
                labels=t.get("labels", {}), rows=tuple(t.get("rows", ())),
            ))
        datasets.append(Dataset(
            name=d["name"], location=d.get("location", "US"), description=d.get("description", ""),
            default_table_expiration=seconds(d.get("default_table_expiration")),
            kms_key=kms(d.get("kms_key")), labels=d.get("labels", {}), tables=tuple(tables),
        ))
    buckets = tuple(
        Bucket(b["name"], b["purpose"], b.get("location", "US"), kms(b.get("kms_key")),
               None if b.get("delete_after") is None else parse_duration(b["delete_after"]) // 86400,
               b.get("versioning", False), b.get("labels", {}))
        for b in doc.get("buckets", [])
    )
    accounts = {
        role: ServiceAccount(role, a["account_id"], a.get("display_name", ""),
                             a.get("description", ""))
        for role, a in (doc.get("service_accounts") or {}).items()
    }
    p = doc.get("pipeline")
    pipeline = None
    if p:
        dataflow = dict(p.get("dataflow") or {})
        if dataflow.get("kms_key"):
            dataflow["kms_key"] = kms(dataflow["kms_key"])
        pipeline = Pipeline(p["service_account"], p["input_subscription"], p["output_table"],
                            p["dead_letter_table"], p.get("reference_table"),
                            dict(p.get("options") or {}), dataflow)
    i = doc.get("ingest")
    snap = doc.get("snapshots")
    env = doc["environment"]
    return Spec(
        name=name, target=env["target"], protected=env.get("protected", False),
        project=project["id"], project_number=project["number"],
        region=project.get("region", "us-central1"), labels=project.get("labels", {}),
        key_ring=key_ring, service_accounts=accounts, topics=topics,
        subscriptions=subscriptions, datasets=tuple(datasets), buckets=buckets,
        pipeline=pipeline,
        ingest=Ingest(i["service_account"], i["topic"], i.get("dead_letter_topic")) if i else None,
        producers=tuple(Producer(p["name"], p["member"], p["topic"])
                        for p in doc.get("producers", [])),
        snapshots=Snapshots(snap["subscription"], parse_duration(snap["every"]),
                            snap["service_account"],
                            parse_duration(snap.get("max_backlog_age", 0))) if snap else None,
        audit_data_access=tuple((doc.get("audit") or {}).get("data_access", ())),
        network=dict(doc.get("network") or {}), template=dict(doc.get("template") or {}),
        alerts=tuple(doc.get("alerts", ())), files=files,
    )
