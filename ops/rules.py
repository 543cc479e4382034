"""Alert rules: the schema of ``ops/alerts.toml``, loaded and checked in one place.

The file is TOML, shaped like a Cloud Monitoring ``AlertPolicy`` so it exports one to one
(``ops/export.py``) and evaluates locally the same way (``ops/evaluate.py``)::

    version = 1

    [channels.oncall]                 # notification channels, referred to by name
    type = "webhook"                  # webhook | email | console
    url = "${alert_webhook}"          # ${name}: a variable (see below)

    [[rules]]
    name = "pipeline-down"            # [a-z][a-z0-9-]*, unique
    display_name = "Pipeline down: no reads while the backlog grows"
    severity = "critical"             # critical | error | warning
    duration = "300s"                 # how long the conditions must hold (GCP: whole minutes)
    local_duration = "10s"            # the same on the bench (default: duration)
    combiner = "and"                  # and | or, across conditions
    channels = ["oncall"]
    documentation = "..."             # Markdown, shown with the incident
    export = true                     # false: local only (say why in export_note)

      [[rules.conditions]]
      metric = "pubsub.googleapis.com/subscription/sent_message_count"   # ops/catalog.py
      filter = { subscription_id = "${subscription}" }   # label = value, or a list: one of
      aligner = "rate"                # rate | delta | mean | max | min | latest
      window = "60s"                  # alignment period (GCP: at least 60s)
      local_window = "10s"
      reducer = "sum"                 # sum | max | min | mean | none (each series alone)
      comparison = "<="               # > | >= | < | <=
      threshold = 0
      local_threshold = 0             # default: threshold
      absent = false                  # true: met while the metric has no data for the duration
      denominator = { metric = "...", filter = {...} }   # a ratio: metric / denominator
      gcp = { metric = "...", filter = {...}, threshold = ... }   # production differs

Variables (``${subscription}``) are given by whoever loads the file: the harness from its
``harness.toml``, a deploy environment from its spec; an unknown one is an error, so is any
unknown key. Another file (an environment spec) includes the rules by reference, i.e. by path,
and loads them with :func:`load`.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ops.catalog import METRICS

DEFAULT_RULES = Path(__file__).resolve().parent / "alerts.toml"
SEVERITIES = ("critical", "error", "warning")
# Cloud Monitoring's ALIGN_RATE, _DELTA, _MEAN, _MAX, _MIN, _NEXT_OLDER (its percentile
# aligners take distribution metrics only, which no rule here reads)
ALIGNERS = ("rate", "delta", "mean", "max", "min", "latest")
REDUCERS = ("sum", "max", "min", "mean", "none")
COMPARISONS = (">", ">=", "<", "<=")
CHANNEL_TYPES = ("webhook", "email", "console")
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)$")


class RulesError(ValueError):
    """The rules file is wrong; the message says where and what, in one sentence."""


def seconds(text: Any, where: str) -> float:
    """``"90s"``, ``"5m"``, ``"1h"``, ``"500ms"`` -> seconds."""
    match = _DURATION.match(str(text).strip()) if isinstance(text, str) else None
    if not match:
        raise RulesError(f"{where}: {text!r} is not a duration such as \"30s\", \"5m\" or \"1h\".")
    factor = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[match.group(2)]
    return float(match.group(1)) * factor


@dataclass(frozen=True)
class Series:
    """A metric and the label values that select its time series."""

    metric: str
    filter: dict[str, Any] = field(default_factory=dict)  # label -> value or [values]
    aligner: str = "rate"
    reducer: str = "sum"


@dataclass(frozen=True)
class Condition:
    series: Series
    comparison: str = ">"
    threshold: float = 0.0
    local_threshold: float = 0.0
    window: float = 60.0
    local_window: float = 60.0
    absent: bool = False
    denominator: Series | None = None
    display_name: str = ""
    gcp: Condition | None = None  # production's own condition, when it differs

    def met(self, value: float) -> bool:
        t = self.local_threshold
        return {">": value > t, ">=": value >= t, "<": value < t, "<=": value <= t}[
            self.comparison
        ]


@dataclass(frozen=True)
class Channel:
    name: str
    type: str
    url: str = ""
    email: str = ""


@dataclass(frozen=True)
class Rule:
    name: str
    display_name: str
    severity: str
    duration: float
    local_duration: float
    conditions: tuple[Condition, ...]
    combiner: str = "and"
    channels: tuple[str, ...] = ()
    documentation: str = ""
    export: bool = True
    export_note: str = ""


@dataclass(frozen=True)
class Rules:
    rules: tuple[Rule, ...]
    channels: dict[str, Channel]
    source: str = ""

    def rule(self, name: str) -> Rule:
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(name)


def _substitute(value: Any, variables: dict[str, str], where: str) -> Any:
    if isinstance(value, str):
        def one(match: re.Match) -> str:
            name = match.group(1)
            if name not in variables:
                known = ", ".join(sorted(variables)) or "none"
                raise RulesError(f"{where}: unknown variable ${{{name}}} (given: {known}).")
            return str(variables[name])

        return _VAR.sub(one, value)
    if isinstance(value, list):
        return [_substitute(v, variables, where) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, variables, f"{where}.{k}") for k, v in value.items()}
    return value


def _keys(table: Any, allowed: set[str], required: set[str], where: str) -> dict:
    if not isinstance(table, dict):
        raise RulesError(f"{where}: expected a table.")
    unknown = set(table) - allowed
    if unknown:
        raise RulesError(f"{where}: unknown key {sorted(unknown)[0]!r} "
                         f"(allowed: {', '.join(sorted(allowed))}).")
    missing = required - set(table)
    if missing:
        raise RulesError(f"{where}: missing {sorted(missing)[0]!r}.")
    return table


def _choice(value: Any, choices: tuple, where: str) -> str:
    if value not in choices:
        raise RulesError(f"{where}: {value!r} is not one of {', '.join(choices)}.")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RulesError(f"{where}: expected a number, got {value!r}.")
    return float(value)


def _series(raw: dict, where: str, default_aligner: str = "rate") -> Series:
    metric = raw.get("metric")
    info = METRICS.get(metric) if isinstance(metric, str) else None
    if info is None:
        raise RulesError(f"{where}.metric: {metric!r} is not a known metric (ops/catalog.py).")
    flt = raw.get("filter", {})
    if not isinstance(flt, dict):
        raise RulesError(f"{where}.filter: expected a table of label = value.")
    for label, value in flt.items():
        if label not in info.labels:
            raise RulesError(f"{where}.filter: {metric} has no label {label!r} "
                             f"(it has: {', '.join(info.labels) or 'none'}).")
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, (str, int)) for v in values):
            raise RulesError(f"{where}.filter.{label}: expected a string or a list of strings.")
    aligner = _choice(raw.get("aligner", default_aligner), ALIGNERS, f"{where}.aligner")
    if aligner in ("rate", "delta") and info.kind == "GAUGE":
        raise RulesError(f"{where}.aligner: {metric} is a GAUGE; rate and delta need a count.")
    reducer = _choice(raw.get("reducer", "sum"), REDUCERS, f"{where}.reducer")
    return Series(metric, {k: v for k, v in flt.items()}, aligner, reducer)


_SERIES_KEYS = {"metric", "filter", "aligner", "reducer"}
_CONDITION_KEYS = _SERIES_KEYS | {"comparison", "threshold", "local_threshold", "window",
                                  "local_window", "absent", "denominator", "display_name", "gcp"}


def _condition(raw: dict, where: str, gcp_of: Condition | None = None) -> Condition:
    allowed = _CONDITION_KEYS - ({"gcp", "local_window", "local_threshold"} if gcp_of else set())
    _keys(raw, allowed, set() if gcp_of else {"metric"}, where)
    if gcp_of is not None:  # production's variant: what it does not say comes from the local one
        base = gcp_of
        raw = {"metric": base.series.metric, "filter": base.series.filter,
               "aligner": base.series.aligner, "reducer": base.series.reducer, **raw}
    series = _series(raw, where, "latest" if raw.get("absent") else "rate")
    denominator = None
    if "denominator" in raw:
        den = _keys(raw["denominator"], _SERIES_KEYS, {"metric"}, f"{where}.denominator")
        denominator = _series(den, f"{where}.denominator", series.aligner)
    default = gcp_of if gcp_of is not None else None
    threshold = _number(raw.get("threshold", default.threshold if default else 0),
                        f"{where}.threshold")
    window = seconds(raw.get("window", f"{default.window}s" if default else "60s"),
                     f"{where}.window")
    absent = raw.get("absent", default.absent if default else False)
    if not isinstance(absent, bool):
        raise RulesError(f"{where}.absent: expected true or false.")
    if absent and denominator is not None:
        raise RulesError(f"{where}: an absence condition cannot have a denominator.")
    condition = Condition(
        series=series,
        comparison=_choice(raw.get("comparison", default.comparison if default else ">"),
                           COMPARISONS, f"{where}.comparison"),
        threshold=threshold,
        local_threshold=_number(raw.get("local_threshold", threshold), f"{where}.local_threshold"),
        window=window,
        local_window=seconds(raw.get("local_window", f"{window}s"), f"{where}.local_window"),
        absent=absent,
        denominator=denominator,
        display_name=str(raw.get("display_name", default.display_name if default else "")),
    )
    if "gcp" in raw:
        condition = replace(condition, gcp=_condition(raw["gcp"], f"{where}.gcp", condition))
    return condition


_RULE_KEYS = {"name", "display_name", "severity", "duration", "local_duration", "combiner",
              "channels", "documentation", "export", "export_note", "conditions"}


def _rule(raw: dict, where: str, channels: dict[str, Channel]) -> Rule:
    _keys(raw, _RULE_KEYS, {"name", "severity", "duration", "conditions"}, where)
    name = raw["name"]
    if not isinstance(name, str) or not _NAME.match(name):
        raise RulesError(f"{where}.name: {name!r} must match [a-z][a-z0-9-]* (at most 63).")
    where = f"rule {name!r}"
    conditions = raw["conditions"]
    if not isinstance(conditions, list) or not conditions:
        raise RulesError(f"{where}: needs at least one [[rules.conditions]].")
    if len(conditions) > 6:
        raise RulesError(f"{where}: at most 6 conditions (Cloud Monitoring's limit).")
    named = raw.get("channels", [])
    if not isinstance(named, list) or not all(isinstance(c, str) for c in named):
        raise RulesError(f"{where}.channels: expected a list of channel names.")
    for channel in named:
        if channel not in channels:
            raise RulesError(f"{where}.channels: no channel named {channel!r}.")
    export = raw.get("export", True)
    if not isinstance(export, bool):
        raise RulesError(f"{where}.export: expected true or false.")
    duration = seconds(raw["duration"], f"{where}.duration")
    rule = Rule(
        name=name,
        display_name=str(raw.get("display_name") or name),
        severity=_choice(raw["severity"], SEVERITIES, f"{where}.severity"),
        duration=duration,
        local_duration=seconds(raw.get("local_duration", raw["duration"]),
                               f"{where}.local_duration"),
        conditions=tuple(_condition(c, f"{where}.conditions[{i}]")
                         for i, c in enumerate(conditions)),
        combiner=_choice(raw.get("combiner", "and"), ("and", "or"), f"{where}.combiner"),
        channels=tuple(named),
        documentation=str(raw.get("documentation", "")),
        export=export,
        export_note=str(raw.get("export_note", "")),
    )
    if export:
        _check_exportable(rule, where)
    elif not rule.export_note:
        raise RulesError(f"{where}: export = false needs an export_note saying why.")
    return rule


def _check_exportable(rule: Rule, where: str) -> None:
    """What Cloud Monitoring refuses: durations that are not whole minutes, windows under a
    minute, metrics with no monitored resource."""
    if rule.duration % 60:
        raise RulesError(f"{where}.duration: Cloud Monitoring takes whole minutes "
                         "(set local_duration for the bench).")
    for i, condition in enumerate(rule.conditions):
        production = condition.gcp or condition
        for series in (production.series, production.denominator):
            if series is not None and not METRICS[series.metric].exportable:
                raise RulesError(f"{where}.conditions[{i}]: {series.metric} exists only "
                                 "locally; give a gcp = {{...}} variant or set export = false.")
        if production.absent and rule.duration < 120:
            raise RulesError(f"{where}.duration: an absence condition needs at least 120s in "
                             "Cloud Monitoring.")
        if production.window < 60:
            raise RulesError(f"{where}.conditions[{i}].window: Cloud Monitoring aligns over "
                             "at least 60s (set local_window for the bench).")


def _channel(name: str, raw: Any) -> Channel:
    where = f"channel {name!r}"
    _keys(raw, {"type", "url", "email"}, {"type"}, where)
    kind = _choice(raw["type"], CHANNEL_TYPES, f"{where}.type")
    url = str(raw.get("url", ""))
    if kind == "webhook" and url and not url.startswith(("http://", "https://")):
        raise RulesError(f"{where}.url: a webhook needs an http(s) URL (empty: not configured).")
    if kind == "email" and "@" not in str(raw.get("email", "")):
        raise RulesError(f"{where}.email: an email channel needs an address.")
    return Channel(name, kind, str(raw.get("url", "")), str(raw.get("email", "")))


def parse(raw: dict, variables: dict[str, str] | None = None, source: str = "") -> Rules:
    """Rules from a parsed TOML document; :class:`RulesError` on the first problem."""
    where = source or "rules"
    _keys(raw, {"version", "channels", "rules"}, {"version", "rules"}, where)
    if raw["version"] != 1:
        raise RulesError(f"{where}: version {raw['version']!r} is not supported (only 1).")
    raw = _substitute(raw, dict(variables or {}), where)
    channels_raw = raw.get("channels", {})
    if not isinstance(channels_raw, dict):
        raise RulesError(f"{where}.channels: expected tables [channels.NAME].")
    channels = {name: _channel(name, spec) for name, spec in channels_raw.items()}
    if not isinstance(raw["rules"], list) or not raw["rules"]:
        raise RulesError(f"{where}: expected at least one [[rules]].")
    rules = tuple(_rule(r, f"{where}: rules[{i}]", channels) for i, r in enumerate(raw["rules"]))
    names = [r.name for r in rules]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise RulesError(f"{where}: two rules are named {duplicate!r}.")
    return Rules(rules, channels, source)


def load(path: str | Path = DEFAULT_RULES, variables: dict[str, str] | None = None) -> Rules:
    """Read and check a rules file."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise RulesError(f"{path}: no such file.") from None
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{path}: not valid TOML ({exc}).") from None
    return parse(raw, variables, str(path))


def variables_of(path: str | Path = DEFAULT_RULES) -> set[str]:
    """The ``${name}`` variables a rules file uses (so callers can say what is missing)."""
    return set(_VAR.findall(Path(path).read_text()))
