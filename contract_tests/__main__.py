"""``python -m contract_tests {verify,compat,export-schema,avro-schema}``: the producer kit CLI.

Exit codes: 0 all good, 1 a sample failed / a change is breaking / files drifted, 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from contract_tests import avro, engine, registry, report
from contract_tests.samples import SampleError, read_paths
from contract_tests.verify import verify
from pipeline import schema

OK, FAILED, USAGE = 0, 1, 2


class UsageError(Exception):
    pass


def _attributes(values: list[str]) -> dict[str, str]:
    attributes = {}
    for value in values:
        for pair in filter(None, value.split(",")):
            key, sep, val = pair.partition("=")
            if not sep or not key:
                raise UsageError(f"--attributes expects key=value, got {pair!r}")
            attributes[key] = val
    return attributes


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m contract_tests",
        description="Producer contract kit of the event pipeline. Exit codes: 0 all good, "
        "1 a sample failed / a change is breaking / files drifted, 2 usage error.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    v = commands.add_parser(
        "verify", help="run sample messages through the pipeline's transforms",
        description="Verify producer messages against the pipeline. PATHS: .json files (one "
        "message), .ndjson/.jsonl files (one per line), directories of those, or - (NDJSON "
        "on stdin).",
    )
    v.add_argument("paths", nargs="+", metavar="PATH")
    v.add_argument("--format", choices=report.FORMATS, default="text")
    v.add_argument("--output", help="write the report to this file instead of stdout")
    v.add_argument("--expect-reject", action="store_true",
                   help="the samples are known-bad: each must be rejected (for the reason in "
                   "its _expect wrapper, if any)")
    v.add_argument("--attributes", action="append", default=[], metavar="K=V[,K=V]",
                   help="Pub/Sub attributes for every message (repeatable)")
    v.add_argument("--engine", choices=engine.ENGINES, default="beam",
                   help="beam: ProcessEvents on the DirectRunner (default); functions: the "
                   "same parse/validate/enrich functions without Beam")
    v.add_argument("--max-event-bytes", type=int, default=schema.MAX_EVENT_BYTES,
                   help="the pipeline's --max_event_bytes (default: %(default)s)")
    v.add_argument("--reference-file", metavar="PATH",
                   help="the pipeline's --reference_file (JSON, NDJSON or CSV keyed by source), "
                   "so rows show production's enrichment")
    v.add_argument("--quiet", action="store_true",
                   help="text format: print failures and the summary only")
    v.add_argument("--suite-name", default="contract", help="JUnit testsuite name")
    e2e = v.add_argument_group("end-to-end (needs a running stack)")
    e2e.add_argument("--e2e", action="store_true",
                     help="also publish the samples and check where they land in BigQuery")
    e2e.add_argument("--project")
    e2e.add_argument("--topic")
    e2e.add_argument("--table", help="events table, [project:]dataset.table")
    e2e.add_argument("--dead-letter-table", help="dead-letter table, [project:]dataset.table")
    e2e.add_argument("--timeout", type=float, default=120.0,
                     help="seconds to wait for every sample to land (default: %(default)s)")
    rest = v.add_argument_group("through the REST ingestion edge (python -m ingest)")
    rest.add_argument("--endpoint", metavar="URL",
                      help="also POST each sample to URL/v1/events; the edge must agree with "
                      "the pipeline (accepted samples are published)")
    rest.add_argument("--api-key", default=os.environ.get("INGEST_API_KEY"),
                      help="the producer's API key (or INGEST_API_KEY)")
    e2e.add_argument("--keep-event-ids", action="store_true",
                     help="publish accepted samples byte for byte (default: with a fresh "
                     "event_id per run, as BigQuery drops a repeated one); an event_id already "
                     "in the table is then reported as de-duplicated")

    c = commands.add_parser(
        "compat", help="is NEW backward compatible with OLD (JSON Schema files or versions)",
        description="A new version must accept every message the old one accepted. OLD and "
        "NEW are JSON Schema files or published versions (e.g. 1.0); NEW defaults to the "
        "schema pipeline/schema.py generates now.",
    )
    c.add_argument("old")
    c.add_argument("new", nargs="?")
    c.add_argument("--examples", type=int, default=300,
                   help="messages Hypothesis generates under OLD (0: structural rules only)")
    c.add_argument("--format", choices=("text", "json"), default="text")

    x = commands.add_parser("export-schema", help="write the published schema files")
    x.add_argument("--out", type=Path, default=registry.SCHEMA_DIR,
                   help="directory (default: the package's schemas/)")
    x.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 if the committed files differ from the generator")

    a = commands.add_parser("avro-schema", help="print the contract as an Avro record schema")
    a.add_argument("--version", default=schema.CONTRACT_VERSION)
    a.add_argument("--out", type=Path, help="write to this file instead of stdout")
    return parser


def _emit(text: str, output: str | Path | None) -> None:
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def cmd_verify(args) -> int:
    attributes = _attributes(args.attributes)
    endpoints = None
    if args.e2e:
        missing = [f"--{n.replace('_', '-')}" for n in ("project", "topic", "table",
                                                       "dead_letter_table")
                   if not getattr(args, n)]
        if missing:
            raise UsageError(f"--e2e needs {', '.join(missing)}")
        from contract_tests.e2e import Endpoints

        endpoints = Endpoints.from_env(args.project, args.topic, args.table,
                                       args.dead_letter_table)
    if args.endpoint and not args.api_key:
        raise UsageError("--endpoint needs --api-key (or INGEST_API_KEY)")
    if args.endpoint and not args.endpoint.startswith(("http://", "https://")):
        raise UsageError(f"--endpoint must be an http(s) URL, not {args.endpoint!r}")
    skipped: list[str] = []
    samples = read_paths(args.paths, skipped=skipped)
    for note in skipped:
        print(f"note: skipped {note}", file=sys.stderr)
    if not samples:
        raise UsageError("no samples found in " + " ".join(args.paths))
    if args.reference_file:
        from pipeline.reference import keyed, read_reference_file

        try:
            keyed(read_reference_file(args.reference_file))
        except (OSError, ValueError) as exc:
            raise UsageError(f"{args.reference_file}: not a usable reference file: {exc}") from None
    results = verify(samples, attributes, args.expect_reject, args.engine, args.max_event_bytes,
                     args.reference_file)
    if endpoints is not None:
        from contract_tests import e2e

        try:
            landings = e2e.run_e2e(samples, endpoints, args.timeout, attributes,
                                   accepted=[r.accepted for r in results],
                                   fresh_ids=not args.keep_event_ids)
        except e2e.StackProblem as exc:
            raise UsageError(str(exc)) from None
        e2e.merge(results, landings)
    if args.endpoint:
        from contract_tests import edge

        try:
            edge.merge(results, edge.send(samples, args.endpoint, args.api_key))
        except edge.EdgeError as exc:
            raise UsageError(str(exc)) from None
    _emit(report.render(results, args.format, args.suite_name, args.quiet), args.output)
    if args.output and args.format != "text":
        sys.stdout.write(report.to_text(results, show_rows=False))
    return OK if all(r.passed for r in results) else FAILED


def _load_schema(spec: str) -> tuple[str, dict]:
    path = Path(spec)
    if path.is_file():
        try:
            return str(path), json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise UsageError(f"{path}: not JSON: {exc}") from None
    try:
        return f"published {spec}", registry.load(spec)
    except (KeyError, ValueError):
        raise UsageError(f"{spec}: neither a file nor a published version "
                         f"({', '.join(registry.published_versions())})") from None


def cmd_compat(args) -> int:
    from contract_tests.counterexample import check

    old_name, old = _load_schema(args.old)
    if args.new:
        new_name, new = _load_schema(args.new)
    else:
        new_name, new = "pipeline/schema.py", schema.event_json_schema()
    try:
        result = check(old, new, args.examples)
    except ImportError as exc:  # hypothesis is a dev extra
        raise UsageError(f"the counterexample search needs {exc.name}: pip install "
                         "'streambench[dev]', or pass --examples 0 for the rules only") from None
    cx = result.counterexample
    if args.format == "json":
        body = {
            "old": old_name,
            "new": new_name,
            "breaking": result.breaking,
            "reasons": [vars(b) for b in result.breaks],
            "counterexample": None if cx is None else vars(cx),
            "examples": result.examples,
        }
        sys.stdout.write(json.dumps(body, indent=2, ensure_ascii=False) + "\n")
        return FAILED if result.breaking else OK
    lines = [f"{'BREAKING' if result.breaking else 'compatible'}: {old_name} -> {new_name}"]
    lines += [f"  {b}" for b in result.breaks]
    if cx is not None:
        lines.append(f"counterexample: accepted by OLD, rejected by NEW at {cx.path}: {cx.reason}")
        lines.append("  " + json.dumps(cx.message, ensure_ascii=False))
    elif result.examples:
        lines.append(f"no counterexample in {result.examples} messages generated under OLD")
    if result.breaks and cx is None:
        lines.append("(the structural rules are conservative: a change they cannot prove "
                     "harmless is reported as breaking)")
    sys.stdout.write("\n".join(lines) + "\n")
    return FAILED if result.breaking else OK


def cmd_export(args) -> int:
    if args.check:
        problems = registry.drift(args.out)
        for p in problems:
            print(f"{p}: run `python -m contract_tests export-schema`", file=sys.stderr)
        return FAILED if problems else OK
    for path in registry.export(args.out):
        print(path)
    return OK


def cmd_avro(args) -> int:
    _emit(avro.render(args.version), args.out)
    return OK


COMMANDS = {"verify": cmd_verify, "compat": cmd_compat, "export-schema": cmd_export,
            "avro-schema": cmd_avro}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)  # exits 2 on bad usage
    try:
        return COMMANDS[args.command](args)
    except (UsageError, SampleError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE


if __name__ == "__main__":
    sys.exit(main())
