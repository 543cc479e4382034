"""The harness file (``harness.toml``): where it is, what it says, and whether it says it right.

The file is looked for from the working directory upward (like ``pyproject.toml`` or
``docker-compose.yml``); without one, the default shipped inside the package is used. It is read
and checked whole before anything starts: an unknown key, a wrong type or a reference to a topic
or dataset the file does not define is a :class:`ConfigError` naming the file, the line and the
key, in one sentence.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from deploy.spec import ProjectPaths

CONFIG_NAME = "harness.toml"
#: The harness file shipped inside the package (used when none is found).
DEFAULT_CONFIG = Path(__file__).resolve().parent / CONFIG_NAME
STATE_DIR_NAME = ".harness"
DERIVED_SCHEMAS = ("events", "dead_letter")
DEFAULT_PROJECT = "local-project"


class ConfigError(ValueError):
    """The harness file cannot be used; the message names the file, line and key."""


def find_config(start: str | Path | None = None) -> Path:
    """The nearest ``harness.toml`` from ``start`` (the working directory) upward, else the
    packaged default."""
    here = Path(start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return DEFAULT_CONFIG


def project_dir(start: str | Path | None = None) -> Path:
    """Where ``python -m harness`` keeps its state: the directory of the nearest ``harness.toml``
    or ``.harness/`` from ``start`` upward, else ``start`` itself (the working directory)."""
    here = Path(start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / CONFIG_NAME).is_file() or (directory / STATE_DIR_NAME).is_dir():
            return directory
    return here


# -- what a harness file may say ---------------------------------------------------------------

_STR, _INT, _NUM, _BOOL, _LIST, _TABLE = "a string", "an integer", "a number", "true or false", \
    "a list", "a table"
_KINDS = {
    _STR: lambda v: isinstance(v, str),
    _INT: lambda v: isinstance(v, int) and not isinstance(v, bool),
    _NUM: lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    _BOOL: lambda v: isinstance(v, bool),
    _LIST: lambda v: isinstance(v, list),
    _TABLE: lambda v: isinstance(v, dict),
}
TOP = {"project": _STR, "emulators": _TABLE, "topics": _LIST, "subscriptions": _LIST,
       "datasets": _LIST, "tables": _LIST, "pipeline": _TABLE, "seed": _LIST, "buckets": _LIST,
       "ingest": _TABLE}
SECTIONS = {
    "emulators": {"host": _STR, "pubsub_port": _INT, "bigquery_port": _INT, "storage_port": _INT},
    "topics": {"name": _STR},
    "subscriptions": {
        "name": _STR, "topic": _STR, "ack_deadline_seconds": _INT, "dead_letter_topic": _STR,
        "max_delivery_attempts": _INT, "retry_min_backoff_seconds": _NUM,
        "retry_max_backoff_seconds": _NUM, "filter": _STR, "enable_message_ordering": _BOOL,
        "retain_acked_messages": _BOOL, "message_retention_seconds": _INT,
    },
    "datasets": {"name": _STR},
    "tables": {"dataset": _STR, "name": _STR, "schema": None, "rows": _LIST},
    "pipeline": {"input_subscription": _STR, "output_table": _STR, "dead_letter_table": _STR,
                 "reference_table": _STR, "batch_input": _STR, "temp_location": _STR,
                 "backup_location": _STR, "snapshot_every": _STR, "snapshot_keep": _INT},
    "buckets": {"name": _STR, "location": _STR, "soft_delete_retention_seconds": _INT,
                "objects": _LIST},
    "ingest": {"rest": _BOOL, "mqtt": _BOOL, "host": _STR, "rest_port": _INT, "mqtt_port": _INT,
               "topic": _STR, "config": _STR, "allow_unauthenticated": _BOOL,
               "topic_filter": _STR, "dead_letter_topic": _STR},
}
REQUIRED = {
    "topics": ("name",), "subscriptions": ("name", "topic"), "datasets": ("name",),
    "tables": ("dataset", "name", "schema"), "buckets": ("name",),
    "pipeline": ("input_subscription", "output_table", "dead_letter_table"),
}
RANGES = {
    "ack_deadline_seconds": (10, 600), "max_delivery_attempts": (5, 100),
    "retry_min_backoff_seconds": (0, 600), "retry_max_backoff_seconds": (0, 600),
    "pubsub_port": (0, 65535), "bigquery_port": (0, 65535), "storage_port": (0, 65535),
    "rest_port": (0, 65535), "mqtt_port": (0, 65535),
    "snapshot_keep": (1, 1000),
    # Pub/Sub's bounds for a subscription's message retention: 10 minutes to 7 days
    "message_retention_seconds": (600, 7 * 24 * 3600),
}
FIELD_KEYS = {"name", "type", "mode", "fields", "description"}
_PUBSUB_NAME = re.compile(r"[A-Za-z][\w\-.~+%]{2,254}\Z")
_BIGQUERY_NAME = re.compile(r"[A-Za-z0-9_]{1,1024}\Z")
# A bucket name with "{project}" in it; checked after the placeholder is replaced by a project.
_BUCKET_NAME = re.compile(r"[a-z0-9](?:[a-z0-9_.\-]{1,61})[a-z0-9]\Z")
_PROJECT = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]\Z")


def _locate(text: str) -> dict[tuple, int]:
    """Line numbers of headers and keys: ``(section, index, key)`` -> line (1-based).

    ``index`` counts ``[[section]]`` entries; ``key`` is None for the header itself. Keys inside
    multi-line values are not indexed: an error there points at the key that holds them.
    """
    lines: dict[tuple, int] = {}
    section, index, depth, counts = "", None, 0, {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if depth == 0:
            header = re.match(r"\[\[\s*([\w.-]+)\s*\]\]", stripped) or re.match(
                r"\[\s*([\w.-]+)\s*\]", stripped)
            if header:
                section, index = header.group(1), None
                if stripped.startswith("[["):
                    index = counts[section] = counts.get(section, -1) + 1
                lines.setdefault((section, index, None), number)
                continue
            key = re.match(r"([\w-]+)\s*=", stripped)
            if key:
                lines.setdefault((section, index, key.group(1)), number)
        depth = max(0, depth + _bracket_balance(stripped))
    return lines


def _bracket_balance(line: str) -> int:
    balance, quote = 0, None
    for char in line:
        if quote:
            quote = None if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == "#":
            break
        elif char in "[{":
            balance += 1
        elif char in "]}":
            balance -= 1
    return balance


class _Checker:
    """Collects nothing: the first problem raises, with its place in the file."""

    def __init__(self, path: Path, text: str):
        self.path, self.lines = path, _locate(text)

    def fail(self, what: str, section: str = "", index: int | None = None, key: str | None = None):
        candidates = [(section, index, key), (section, index, None), ("", None, section)]
        if not section and key:  # a top-level table: its header
            candidates += [(key, None, None), (key, 0, None)]
        line = next((self.lines[c] for c in candidates if c in self.lines), 1)
        raise ConfigError(f"{self.path}:{line}: {what}")

    def place(self, section: str, index: int | None, entry: dict) -> str:
        if index is None:
            return f"[{section}]"
        name = entry.get("name") if isinstance(entry, dict) else None
        return f"[[{section}]] #{index + 1}" + (f" ({name})" if isinstance(name, str) else "")

    def keys(self, section: str, index: int | None, entry: dict, allowed: dict) -> None:
        where = f"in {self.place(section, index, entry)}" if section else "at the top level"
        for key, value in entry.items():
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else \
                    f"; known keys: {', '.join(allowed)}"
                self.fail(f"unknown key '{key}' {where}{hint}", section, index, key)
            kind = allowed[key]
            if kind and not _KINDS[kind](value):
                self.fail(f"'{key}' {where} must be {kind}, not {value!r}", section, index, key)
            if key in RANGES and kind in (_INT, _NUM):
                low, high = RANGES[key]
                if not low <= value <= high:
                    self.fail(f"'{key}' {where} must be between {low} and {high}, not {value}",
                              section, index, key)
        for key in REQUIRED.get(section, ()):
            if key not in entry:
                self.fail(f"{where.removeprefix('in ')} needs '{key}'", section, index)


def validate(raw: dict, path: Path, text: str) -> None:
    """Raise :class:`ConfigError` for the first problem in a parsed harness file."""
    check = _Checker(path, text)
    check.keys("", None, raw, TOP)
    project = raw.get("project")
    if project is not None and not _PROJECT.match(project):
        check.fail(f"project '{project}' is not a valid project id (6-30 lowercase letters, "
                   "digits and hyphens, starting with a letter)", "", None, "project")
    for section in ("emulators", "pipeline", "ingest"):
        if section in raw:
            check.keys(section, None, raw[section], SECTIONS[section])
    names: dict[str, set[str]] = {}
    for section in ("topics", "subscriptions", "datasets", "tables"):
        names[section] = set()
        for index, entry in enumerate(raw.get(section, [])):
            if not isinstance(entry, dict):
                check.fail(f"each entry of '{section}' must be a table ([[{section}]])",
                           "", None, section)
            check.keys(section, index, entry, SECTIONS[section])
            rule = _BIGQUERY_NAME if section in ("datasets", "tables") else _PUBSUB_NAME
            if not rule.match(entry["name"]):
                check.fail(f"'{entry['name']}' in {check.place(section, index, entry)} is not a "
                           f"valid {section[:-1]} name", section, index, "name")
            qualified = entry["name"] if section != "tables" else \
                f"{entry['dataset']}.{entry['name']}"
            if qualified in names[section]:
                check.fail(f"{section[:-1]} '{qualified}' is defined twice", section, index, "name")
            names[section].add(qualified)
    for index, sub in enumerate(raw.get("subscriptions", [])):
        for key in ("topic", "dead_letter_topic"):
            if key in sub and sub[key] not in names["topics"]:
                check.fail(f"'{key}' of {check.place('subscriptions', index, sub)} names topic "
                           f"'{sub[key]}', which no [[topics]] entry defines", "subscriptions",
                           index, key)
    for index, table in enumerate(raw.get("tables", [])):
        where = check.place("tables", index, table)
        if table["dataset"] not in names["datasets"]:
            check.fail(f"'dataset' of {where} names '{table['dataset']}', which no [[datasets]] "
                       "entry defines", "tables", index, "dataset")
        _check_schema(check, table["schema"], where, index)
        for row in table.get("rows", []):
            if not isinstance(row, dict):
                check.fail(f"'rows' of {where} must be a list of tables", "tables", index, "rows")
    pipeline = raw.get("pipeline", {})
    if pipeline.get("input_subscription") and \
            pipeline["input_subscription"] not in names["subscriptions"]:
        check.fail(f"'input_subscription' names '{pipeline['input_subscription']}', which no "
                   "[[subscriptions]] entry defines", "pipeline", None, "input_subscription")
    for key in ("output_table", "dead_letter_table", "reference_table"):
        value = pipeline.get(key)
        if value is None:
            continue
        dataset, dot, _ = value.partition(".")
        if not dot or dataset not in names["datasets"]:
            check.fail(f"'{key}' must be DATASET.TABLE with a dataset the file defines, not "
                       f"'{value}'", "pipeline", None, key)
    _check_buckets(check, raw)
    for key in ("batch_input", "temp_location", "backup_location"):
        value = pipeline.get(key)
        if value is not None and not value.startswith("gs://"):
            check.fail(f"'{key}' must be a gs:// location, not '{value}'", "pipeline", None, key)
    if pipeline.get("snapshot_every") is not None:
        from ops.rules import RulesError
        from ops.snapshots import parse_every

        try:
            parse_every(pipeline["snapshot_every"])
        except RulesError as exc:
            check.fail(str(exc), "pipeline", None, "snapshot_every")
    for seed in raw.get("seed", []):
        if not isinstance(seed, str):
            check.fail(f"'seed' must list file paths, not {seed!r}", "", None, "seed")
    _check_ingest(check, raw, names["topics"])


def _check_ingest(check: _Checker, raw: dict, topics: set[str]) -> None:
    ingest = raw.get("ingest", {})
    for key in ("topic", "dead_letter_topic"):
        if key in ingest and ingest[key] not in topics:
            check.fail(f"'{key}' of [ingest] names topic '{ingest[key]}', which no [[topics]] "
                       "entry defines", "ingest", None, key)
    if not (ingest.get("rest") or ingest.get("mqtt")):
        return
    if "topic" not in ingest and ingest_topic(raw) is None:
        check.fail("[ingest] needs 'topic' (the topic the edge publishes to): there is no "
                   "[pipeline] input_subscription to take it from", "ingest", None)
    if ingest.get("rest") and "config" not in ingest and \
            not ingest.get("allow_unauthenticated"):
        check.fail("[ingest] rest = true needs 'config' (the edge's file of sources and API "
                   "keys) or allow_unauthenticated = true (local use only)", "ingest", None,
                   "rest")
    if "config" in ingest and not (check.path.parent / ingest["config"]).is_file():
        check.fail(f"'config' of [ingest] names {ingest['config']}, which is not a file (paths "
                   "are relative to the harness file)", "ingest", None, "config")
    levels = ingest.get("topic_filter", "devices/+/events").split("/")
    if levels.count("+") != 1 or "#" in levels:
        check.fail(f"'topic_filter' of [ingest] must have exactly one '+' level (the device id) "
                   f"and no '#', not '{ingest['topic_filter']}'", "ingest", None, "topic_filter")


def ingest_topic(raw: dict) -> str | None:
    """The topic the ingestion edge publishes to: ``[ingest] topic``, else the topic of the
    pipeline's input subscription."""
    if raw.get("ingest", {}).get("topic"):
        return raw["ingest"]["topic"]
    wanted = raw.get("pipeline", {}).get("input_subscription")
    return next((sub["topic"] for sub in raw.get("subscriptions", [])
                 if sub.get("name") == wanted), None)


def _check_buckets(check: _Checker, raw: dict) -> None:
    seen = set()
    for index, entry in enumerate(raw.get("buckets", [])):
        if not isinstance(entry, dict):
            check.fail("each entry of 'buckets' must be a table ([[buckets]])", "", None, "buckets")
        check.keys("buckets", index, entry, SECTIONS["buckets"])
        where = check.place("buckets", index, entry)
        name = entry["name"]
        if not _BUCKET_NAME.match(name.replace("{project}", DEFAULT_PROJECT)):
            check.fail(f"'{name}' in {where} is not a valid bucket name (3-63 lowercase "
                       "letters, digits, '-', '_' and '.'; \"{project}\" is replaced by the "
                       "project)", "buckets", index, "name")
        if name in seen:
            check.fail(f"bucket '{name}' is defined twice", "buckets", index, "name")
        seen.add(name)
        for item in entry.get("objects", []):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str) or \
                    set(item) - {"name", "content", "file"} or ("content" in item) == ("file" in item):
                check.fail(f"each object of {where} must be {{ name = \"...\", content = \"...\" }} "
                           "or { name = \"...\", file = \"...\" }", "buckets", index, "objects")


def _check_schema(check: _Checker, schema, where: str, index: int) -> None:
    if isinstance(schema, str):
        if schema not in DERIVED_SCHEMAS:
            check.fail(f"'schema' of {where} must be one of {', '.join(DERIVED_SCHEMAS)} or a "
                       f"list of fields, not '{schema}'", "tables", index, "schema")
        return
    if not isinstance(schema, list) or not schema:
        check.fail(f"'schema' of {where} must be a derived schema name or a list of fields",
                   "tables", index, "schema")
    for spec in schema:
        if not isinstance(spec, dict) or not {"name", "type"} <= set(spec) or \
                set(spec) - FIELD_KEYS:
            check.fail(f"each field in 'schema' of {where} needs 'name' and 'type' (and may have "
                       f"mode, fields, description), not {spec!r}", "tables", index, "schema")
        if spec.get("fields") is not None:
            _check_schema(check, spec["fields"], where, index)


def read(path: str | Path) -> tuple[dict, str]:
    """Parse a harness file; :class:`ConfigError` for a missing, unreadable or malformed one."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such harness file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a harness file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read ({exc})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        where = re.search(r"\(at line (\d+), column \d+\)", message)
        line = where.group(1) if where else "1"
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", message)
        raise ConfigError(f"{path}:{line}: not valid TOML: {message}") from None
    validate(raw, path, text)
    return raw, text


@dataclass
class HarnessConfig(ProjectPaths):
    """The parsed harness file; ``project`` can be overridden for per-test isolation."""

    project: str
    topics: list[dict] = field(default_factory=list)
    subscriptions: list[dict] = field(default_factory=list)
    datasets: list[dict] = field(default_factory=list)
    tables: list[dict] = field(default_factory=list)
    pipeline: dict = field(default_factory=dict)
    emulators: dict = field(default_factory=dict)
    ingest: dict = field(default_factory=dict)
    buckets: list[dict] = field(default_factory=list)
    seed: list[Path] = field(default_factory=list)
    path: Path = DEFAULT_CONFIG
    file_project: str = DEFAULT_PROJECT

    @classmethod
    def load(cls, path: str | Path | None = None, project: str | None = None) -> HarnessConfig:
        """Read and check ``path`` (default: :func:`find_config`); ``project`` overrides the
        file's (seed data addressed to the file's project goes to the override)."""
        path = Path(path) if path is not None else find_config()
        raw, _ = read(path)
        file_project = raw.pop("project", DEFAULT_PROJECT)
        seed = [(path.parent / s).resolve() for s in raw.pop("seed", [])]
        return cls(project=project or file_project, seed=seed, path=path,
                   file_project=file_project, **raw)

    def ingest_topic_path(self) -> str | None:
        """The full path of the topic the ingestion edge publishes to (see :func:`ingest_topic`)."""
        name = ingest_topic({"ingest": self.ingest, "pipeline": self.pipeline,
                             "subscriptions": self.subscriptions})
        return self.topic_path(name) if name else None

    def ingest_path(self, key: str) -> Path | None:
        """A file named in ``[ingest]`` (``config``), resolved against the harness file."""
        value = self.ingest.get(key)
        return (self.path.parent / value).resolve() if value else None

    def bucket_name(self, name: str) -> str:
        """A bucket name of the harness file, ``{project}`` replaced (bucket names are global:
        the placeholder keeps per-test projects apart)."""
        return name.replace("{project}", self.project)

    def gcs_path(self, key: str) -> str | None:
        """A ``gs://`` location of the ``[pipeline]`` section (``temp_location``, ...)."""
        value = self.pipeline.get(key)
        return self.bucket_name(value) if value else None

    def pipeline_args(self) -> list[str]:
        """The ``python -m pipeline`` arguments for this harness."""
        p = self.pipeline
        if not p:
            raise ConfigError(f"{self.path}: has no [pipeline] section, so there is no pipeline "
                              "to run; add input_subscription, output_table, dead_letter_table")
        args = [
            f"--input_subscription={self.subscription_path(p['input_subscription'])}",
            f"--output_table={self.table_ref(p['output_table'])}",
            f"--dead_letter_table={self.table_ref(p['dead_letter_table'])}",
        ]
        if p.get("reference_table"):
            args.append(f"--reference_table={self.table_ref(p['reference_table'])}")
        return args
