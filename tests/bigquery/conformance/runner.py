"""The BigQuery conformance corpus: cases kept as data, run through the real client.

    python tests/bigquery/conformance/runner.py [--report emulators/bigquery/sql/CONFORMANCE.md]
        [--section string] [--url http://127.0.0.1:9050] [--show-failures]

Every ``*.yaml`` file here is one section: ``section`` (its title), optional ``setup`` (SQL run
once, in the section's own dataset, before its cases) and ``cases``. A case has ``sql`` and one
expectation:

* ``value`` (one row, one column) or ``rows`` (a list of rows, each a list); rows are compared
  in order when the query ends with ORDER BY (or ``ordered: true``), as a multiset otherwise;
* ``type`` / ``types``: BigQuery's type of each column (``INT64``, ``ARRAY<STRING>``,
  ``STRUCT<a INT64, b STRING>``), ``names``: the column names;
* ``error``: the error reason (``invalidQuery``, ``notFound``, ...), with ``message``, a text
  the error message must contain;
* ``affected``: the DML row count; ``then``: a query (``sql`` + ``rows``/``value``) run after.

Optional: ``setup`` (statements run before the case), ``id`` (defaults to the section's file
name and the case's position), ``params`` (named query parameters ``{name: [TYPE, value]}``).

Values are written as BigQuery's documentation prints them: numbers, strings, booleans and null
as such; NUMERIC/BIGNUMERIC as numbers or strings (compared exactly as decimals); FLOAT64 with a
relative tolerance of 1e-12 (``.nan``, ``.inf``); BYTES as base64 text; DATE ``2024-01-02``;
DATETIME ``2024-01-02T03:04:05``; TIME ``03:04:05.5``; TIMESTAMP ``2024-01-02 03:04:05+00`` (UTC,
fraction without trailing zeros); INTERVAL in its canonical ``Y-M D H:M:S.F`` text; JSON as JSON
text (compared as parsed values); ARRAY as a list and STRUCT as a mapping (in field order).

A case BigQuery answers differently from this emulator carries ``known: <reason>``; it still
runs, is reported as a known difference with that reason, and becomes a failure once it passes
(so the entry is removed). Nothing is skipped silently.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import datetime as dt
import decimal
import json
import math
import re
import sys
import time
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
PROJECT = "conformance"

_ORDER_BY_AT_END = re.compile(r"\bORDER\s+BY\b[^()]*(\bLIMIT\b[^()]*)?$", re.IGNORECASE | re.DOTALL)


@dataclasses.dataclass
class Case:
    section: str
    id: str
    spec: dict

    @property
    def sql(self) -> str:
        return self.spec["sql"]

    @property
    def known(self) -> str | None:
        return self.spec.get("known")


@dataclasses.dataclass
class Outcome:
    case: Case
    passed: bool
    detail: str = ""


@dataclasses.dataclass
class Section:
    name: str
    title: str
    setup: list[str]
    cases: list[Case]


class _Loader(yaml.SafeLoader):
    """YAML without implicit dates: ``2024-01-02`` stays the text BigQuery prints."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_sections(only: str | None = None) -> list[Section]:
    sections = []
    for path in sorted(HERE.glob("*.yaml")):
        if only and path.stem != only:
            continue
        data = yaml.load(path.read_text(), Loader=_Loader)  # noqa: S506 - a safe loader
        cases = []
        for index, spec in enumerate(data.get("cases") or [], 1):
            if not isinstance(spec, dict) or not isinstance(spec.get("sql"), str):
                raise ValueError(f"{path.name}: case {index} needs sql")
            cases.append(Case(path.stem, str(spec.get("id") or f"{path.stem}-{index}"), spec))
        ids = [c.id for c in cases]
        if len(ids) != len(set(ids)):
            raise ValueError(f"{path.name}: duplicate case ids")
        sections.append(Section(path.stem, data.get("section", path.stem), data.get("setup") or [],
                                cases))  # fmt: skip
    return sections


# --- values as BigQuery prints them -----------------------------------------------------------


def type_name(field: Any) -> str:
    """BigQuery's name for a result column's type (``ARRAY<STRUCT<a INT64>>``)."""
    legacy = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL", "RECORD": "STRUCT"}
    name = legacy.get(field.field_type, field.field_type)
    if name == "STRUCT":
        inner = ", ".join(f"{f.name} {type_name(f)}" for f in field.fields)
        name = f"STRUCT<{inner}>"
    if name == "RANGE" and field.range_element_type is not None:
        name = f"RANGE<{field.range_element_type.element_type}>"
    return f"ARRAY<{name}>" if field.mode == "REPEATED" else name


def _scalar_type(field: Any) -> str:
    legacy = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL", "RECORD": "STRUCT"}
    return legacy.get(field.field_type, field.field_type)


def canonical(value: Any, field: Any, element: bool = False) -> Any:
    """A client value in the corpus's notation (see the module docstring)."""
    if value is None:
        return None
    if field.mode == "REPEATED" and not element:
        return [canonical(v, field, element=True) for v in value]
    kind = _scalar_type(field)
    if kind == "STRUCT":
        return {f.name: canonical(value.get(f.name), f) for f in field.fields}
    if kind == "RANGE":
        bound = _range_bound_field(field)
        shown = [canonical(value[k], bound) if value[k] is not None else "UNBOUNDED"
                 for k in ("start", "end")]  # fmt: skip
        return f"[{shown[0]}, {shown[1]})"
    if kind == "BYTES":
        return base64.b64encode(value).decode()
    if kind == "TIMESTAMP":
        value = value.astimezone(dt.timezone.utc)
        text = value.strftime("%Y-%m-%d %H:%M:%S")
        if value.microsecond:
            text += f".{value.microsecond:06d}".rstrip("0")
        return text + "+00"
    if kind == "DATETIME":
        text = value.strftime("%Y-%m-%dT%H:%M:%S")
        return text + (f".{value.microsecond:06d}".rstrip("0") if value.microsecond else "")
    if kind == "TIME":
        text = value.strftime("%H:%M:%S")
        return text + (f".{value.microsecond:06d}".rstrip("0") if value.microsecond else "")
    if kind == "DATE":
        return value.isoformat()
    return value


def matches(actual: Any, expected: Any, field: Any, element: bool = False) -> bool:
    """Whether a client value is the expected one. Expectations are YAML values, or text as
    the reference prints it (``[1, 2]``, ``{a, 1}``, ``+inf``), read by the column's type."""
    if isinstance(expected, str) and expected == "NULL":
        if actual == "NULL":
            return True  # the text NULL (FORMAT('%t', NULL)), not SQL NULL
        expected = None
    if expected is None and actual == [] and field.mode == "REPEATED" and not element:
        return True  # a NULL ARRAY reaches the client as an empty one, from BigQuery too
    if expected == "null" and actual is None and _scalar_type(field) == "JSON":
        return True  # JSON null reads back as None, like SQL NULL
    if actual is None or expected is None:
        return actual is None and expected is None
    if field.mode == "REPEATED" and not element:
        if isinstance(expected, str) and expected.startswith("[") and expected.endswith("]"):
            expected = split_printed(expected[1:-1])
        return (
            isinstance(expected, list)
            and len(actual) == len(expected)
            and all(matches(a, e, field, True) for a, e in zip(actual, expected, strict=True))
        )
    kind = _scalar_type(field)
    if kind == "STRUCT":
        names = [f.name for f in field.fields]
        if isinstance(expected, str) and expected.startswith("{") and expected.endswith("}"):
            expected = split_printed(expected[1:-1])
        if isinstance(expected, list) and len(expected) == len(names):
            expected = dict(zip(names, [_unlabel(e, n) for e, n in zip(expected, names,
                                                                        strict=True)], strict=True))  # fmt: skip
        if not isinstance(expected, dict) or list(expected) != names:
            return False
        return all(matches(actual[f.name], expected[f.name], f) for f in field.fields)
    if kind == "RANGE":
        return _range_matches(actual, expected, field)
    if kind == "FLOAT64":
        printed = expected
        try:
            expected = _float(expected)
        except ValueError:
            return False
        if math.isnan(expected) or math.isnan(actual):
            return math.isnan(expected) and math.isnan(actual)
        if math.isclose(actual, expected, rel_tol=1e-12, abs_tol=1e-300):
            return True
        return _as_printed(actual, printed)
    if kind in ("NUMERIC", "BIGNUMERIC"):
        try:
            return decimal.Decimal(str(expected)) == actual
        except decimal.InvalidOperation:
            return False
    if kind == "JSON":
        if isinstance(expected, str):
            try:
                return json.loads(expected) == actual
            except ValueError:
                return False
        return expected == actual and type(expected) is type(actual)
    if kind == "INTERVAL":
        return _interval(expected) == actual
    if kind == "INT64":
        if isinstance(expected, str):
            try:
                expected = int(expected)
            except ValueError:
                return False
        return not isinstance(expected, bool) and expected == actual
    if kind == "BOOL":
        if isinstance(expected, str):
            expected = {"true": True, "false": False}.get(expected.lower(), expected)
        return expected is actual
    shown = canonical(actual, field, element=True)
    if kind == "BYTES" and isinstance(expected, str) and shown != expected:
        return _printed_bytes(expected) in (bytes(actual), _printed_bytes(expected[1:-1]))
    if kind == "DATETIME" and isinstance(expected, str):
        expected = expected.replace(" ", "T", 1)
    if isinstance(expected, str) and element and kind in ("STRING", "BYTES") and shown != expected:
        # an element printed in quotes: the quotes may be the printing's or the value's
        if len(expected) >= 2 and expected[0] == expected[-1] and expected[0] in "\"'":
            expected = expected[1:-1]
    return shown == expected


def _range_bound_field(field: Any) -> Any:
    from google.cloud.bigquery import SchemaField

    return SchemaField("bound", field.range_element_type.element_type)


_TYPED_BOUND = re.compile(r"^(?:DATE|DATETIME|TIMESTAMP)\s+'(.*)'$", re.IGNORECASE)


def _range_matches(actual: Any, expected: Any, field: Any) -> bool:
    """A RANGE ({"start", "end"} from the client) against ``[start, end)`` as the reference
    prints it: bounds bare or typed (``DATE '2024-01-01'``), ``UNBOUNDED`` or ``NULL``."""
    if not (isinstance(expected, str) and expected.startswith("[") and expected.endswith(")")):
        return False
    bounds = split_printed(expected[1:-1])
    if len(bounds) != 2:
        return False
    bound_field = _range_bound_field(field)
    for key, text in zip(("start", "end"), bounds, strict=True):
        typed = _TYPED_BOUND.match(text)
        text = typed.group(1) if typed else text
        if text.upper() in ("UNBOUNDED", "NULL"):
            if actual[key] is not None:
                return False
            continue
        if actual[key] is None:
            return False
        if bound_field.field_type == "TIMESTAMP":
            wanted = dt.datetime.fromisoformat(_iso_offset(text))
            if wanted.tzinfo is None:
                wanted = wanted.replace(tzinfo=dt.timezone.utc)
            if wanted != actual[key]:
                return False
        elif not matches(actual[key], text, bound_field):
            return False
    return True


def _iso_offset(text: str) -> str:
    """``2024-01-01 12:30:00+08`` -> ``2024-01-01 12:30:00+08:00`` (fromisoformat's shape)."""
    match = re.search(r"([+-]\d{2})$", text)
    return text + ":00" if match else text


def _printed_bytes(text: str) -> bytes | None:
    """BYTES as the reference prints them: text with ``\\xNN`` / octal escapes."""
    import codecs

    try:
        return codecs.escape_decode(text.encode())[0]
    except ValueError:
        return None


def _as_printed(actual: float, printed: Any) -> bool:
    """The reference prints some results rounded (``0.016130``): equal to that many places."""
    if not isinstance(printed, str) or "." not in printed or "e" in printed.lower():
        return False
    places = len(printed.split(".")[1])
    return abs(actual - float(printed)) <= 0.5 * 10**-places + 1e-15


def _float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("a boolean")
    if isinstance(value, str):
        text = value.strip().lower()
        return float({"+inf": "inf", "infinity": "inf", "-infinity": "-inf"}.get(text, text))
    return float(value)


def _unlabel(value: Any, name: str) -> Any:
    """``a: 1`` (a printed STRUCT field) -> ``1``."""
    if isinstance(value, str) and value.startswith(f"{name}: "):
        return value[len(name) + 2 :]
    return value


def split_printed(text: str) -> list[str]:
    """Top-level items of a printed ARRAY or STRUCT body (brackets and quotes respected)."""
    items, depth, quote, current = [], 0, "", []
    for ch in text:
        if quote:
            current.append(ch)
            if ch == quote:
                quote = ""
            continue
        if ch in "\"'":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    if current or items:
        items.append("".join(current).strip())
    return items


def _interval(text: Any) -> Any:
    from google.cloud.bigquery._helpers import CellDataParser

    field = type("F", (), {"mode": "NULLABLE"})()
    try:
        return CellDataParser().interval_to_py(str(text), field)
    except ValueError:
        return None


def _sort_key(row: list) -> str:
    return json.dumps(row, default=str, sort_keys=True)


# --- running ------------------------------------------------------------------------------------


class Runner:
    """Runs cases against one emulator with the real google-cloud-bigquery client."""

    def __init__(self, url: str) -> None:
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import bigquery

        self.bigquery = bigquery
        self.client = bigquery.Client(
            project=PROJECT,
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=url),
        )

    def close(self) -> None:
        self.client.close()

    def prepare(self, section: Section) -> str:
        dataset = f"conf_{section.name}"
        self.client.delete_dataset(dataset, delete_contents=True, not_found_ok=True)
        self.client.create_dataset(dataset)
        for sql in section.setup:
            self.query(sql, dataset)
        return dataset

    def query(self, sql: str, dataset: str, params: dict | None = None) -> Any:
        config = self.bigquery.QueryJobConfig(default_dataset=f"{PROJECT}.{dataset}")
        if params:
            config.query_parameters = [
                self.bigquery.ScalarQueryParameter(name, kind, value)
                for name, (kind, value) in params.items()
            ]
        return self.client.query_and_wait(sql, job_config=config)

    def run_case(self, case: Case, dataset: str) -> Outcome:
        from google.api_core.exceptions import GoogleAPICallError

        spec = case.spec
        try:
            for sql in spec.get("setup") or []:
                self.query(sql, dataset)
            result = self.query(case.sql, dataset, spec.get("params"))
            rows = list(result)
        except GoogleAPICallError as error:
            return self._check_error(case, error)
        except Exception as error:  # the client could not read the answer
            return Outcome(case, False, f"client error: {type(error).__name__}: {error}")
        if "error" in spec:
            return Outcome(case, False, f"expected error {spec['error']}, got {len(rows)} rows")
        try:
            problem = self._check_rows(spec, case.sql, result, rows)
        except Exception as error:  # an expectation the values cannot be read against
            problem = f"cannot compare: {type(error).__name__}: {error}"
        if problem is None and "affected" in spec:
            if result.num_dml_affected_rows != spec["affected"]:
                problem = f"affected {result.num_dml_affected_rows}, expected {spec['affected']}"
        if problem is None and "then" in spec:
            then = spec["then"]
            try:
                result = self.query(then["sql"], dataset)
                problem = self._check_rows(then, then["sql"], result, list(result))
            except GoogleAPICallError as error:
                problem = f"then: {error.errors[0].get('message') if error.errors else error}"
            problem = f"then: {problem}" if problem else None
        return Outcome(case, problem is None, problem or "")

    @staticmethod
    def _check_error(case: Case, error: Any) -> Outcome:
        details = (error.errors or [{}])[0]
        reason, message = details.get("reason"), details.get("message") or str(error)
        expected = case.spec.get("error")
        if expected is None:
            return Outcome(case, False, f"error {reason}: {message}")
        if reason != expected:
            return Outcome(case, False, f"error {reason} (expected {expected}): {message}")
        wanted = case.spec.get("message")
        if wanted and str(wanted) not in message:
            return Outcome(case, False, f"message {message!r} lacks {wanted!r}")
        return Outcome(case, True)

    @staticmethod
    def _check_rows(spec: dict, sql: str, result: Any, rows: list) -> str | None:
        schema = list(result.schema or [])
        if "types" in spec or "type" in spec:
            types = spec.get("types") or [spec["type"]]
            actual_types = [type_name(f) for f in schema]
            if actual_types != types:
                return f"types {actual_types}, expected {types}"
        if "names" in spec:
            names = [f.name for f in schema]
            if names != spec["names"]:
                return f"names {names}, expected {spec['names']}"
        if "value" in spec:
            expected = [[spec["value"]]]
        elif "rows" in spec:
            expected = spec["rows"] or []
        else:
            return None
        actual = [list(row.values()) for row in rows]
        shown = [[canonical(v, f) for v, f in zip(row, schema, strict=False)] for row in actual]
        if len(actual) != len(expected) or any(len(r) != len(schema) for r in expected):
            return f"rows {shown}, expected {expected}"
        ordered = spec.get("ordered", bool(_ORDER_BY_AT_END.search(sql.strip())))
        pairs = list(zip(actual, expected, strict=True))
        if not ordered:
            order = sorted(range(len(shown)), key=lambda i: _sort_key(shown[i]))
            wanted = sorted(expected, key=_sort_key)
            pairs = [(actual[i], w) for i, w in zip(order, wanted, strict=True)]

        def equal(row: list, want: list) -> bool:
            return all(matches(a, e, f) for a, e, f in zip(row, want, schema, strict=True))

        if all(equal(a, e) for a, e in pairs):
            return None
        if not ordered and _matches_as_multiset(actual, expected, equal):
            return None
        return f"rows {shown}, expected {expected}"


def _matches_as_multiset(actual: list, expected: list, equal: Any) -> bool:
    remaining = list(expected)
    for row in actual:
        for i, want in enumerate(remaining):
            if equal(row, want):
                del remaining[i]
                break
        else:
            return False
    return not remaining


def run_sections(runner: Runner, sections: list[Section]) -> list[Outcome]:
    outcomes = []
    for section in sections:
        dataset = runner.prepare(section)
        outcomes += [runner.run_case(case, dataset) for case in section.cases]
    return outcomes


# --- report ---------------------------------------------------------------------------------------


def report(sections: list[Section], outcomes: list[Outcome]) -> str:
    by_section: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        by_section.setdefault(outcome.case.section, []).append(outcome)
    total = len(outcomes)
    passed = sum(o.passed for o in outcomes)
    lines = [
        "# BigQuery conformance of the emulator's SQL",
        "",
        "Generated by `python tests/bigquery/conformance/runner.py --report "
        "emulators/bigquery/sql/CONFORMANCE.md` (`nox -s conformance`): the corpus in "
        "`tests/bigquery/conformance/*.yaml`, written from BigQuery's documentation, run through "
        "google-cloud-bigquery against the emulator. Each case not passing is listed below with "
        "its reason.",
        "",
        f"**{passed} of {total} cases pass ({100 * passed / max(total, 1):.1f} %).**",
        "",
        "| section | cases | pass | known differences | unexpected failures | pass % |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for section in sections:
        results = by_section.get(section.name, [])
        ok = sum(o.passed for o in results)
        known = sum(1 for o in results if not o.passed and o.case.known)
        unexpected = len(results) - ok - known
        share = 100 * ok / max(len(results), 1)
        lines.append(f"| {section.title} (`{section.name}.yaml`) | {len(results)} | {ok} | "
                     f"{known} | {unexpected} | {share:.1f} |")  # fmt: skip
    lines += ["", "## Known differences", ""]
    failing = [o for o in outcomes if not o.passed]
    for outcome in failing:
        case = outcome.case
        sql = " ".join(case.sql.split())
        sql = sql if len(sql) <= 160 else sql[:157] + "..."
        reason = case.known or f"UNEXPECTED: {outcome.detail}"
        lines.append(f"- `{case.id}` `{sql}`: {reason}")
    if not failing:
        lines.append("None.")
    stale = [o.case for o in outcomes if o.passed and o.case.known]
    if stale:  # tests/bigquery/test_conformance.py fails on these until the entry is removed
        lines += ["", "## Known differences that now pass (remove their entries)", ""]
        lines += [f"- `{case.id}`: {case.known}" for case in stale]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", help="write the Markdown report here")
    parser.add_argument("--section", help="only this section (a YAML file's stem)")
    parser.add_argument("--url", help="an emulator already running (default: start one)")
    parser.add_argument("--show-failures", action="store_true")
    args = parser.parse_args(argv)
    sections = load_sections(args.section)
    process = None
    url = args.url
    if url is None:
        from emulators.process import ServerProcess

        process = ServerProcess.emulator("bigquery")
        url = process.url
    runner = Runner(url)
    started = time.monotonic()
    try:
        outcomes = run_sections(runner, sections)
    finally:
        runner.close()
        if process is not None:
            process.stop()
    passed = sum(o.passed for o in outcomes)
    print(f"{passed}/{len(outcomes)} cases pass ({time.monotonic() - started:.0f} s)")
    for outcome in outcomes:
        if not outcome.passed and (args.show_failures or not outcome.case.known):
            tag = "known" if outcome.case.known else "FAIL"
            print(f"{tag} {outcome.case.id}: {' '.join(outcome.case.sql.split())[:200]}\n"
                  f"      {outcome.detail[:400]}")  # fmt: skip
    if args.report:
        path = Path(args.report)
        path = path if path.is_absolute() else ROOT / path
        path.write_text(report(sections, outcomes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
