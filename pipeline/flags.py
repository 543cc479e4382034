"""The pipeline's own command-line flags, defined without importing Beam.

``python -m pipeline`` reads them (and answers ``--help``) before Beam is imported, which takes
seconds; :class:`pipeline.options.EventPipelineOptions` registers the same flags with Beam.
"""

from __future__ import annotations

import argparse

from pipeline import schema

REQUIRED = ("input_subscription", "output_table", "dead_letter_table")
#: The runner ``python -m pipeline`` uses when none is given: Beam's streaming DirectRunner.
#: ("DirectRunner" itself first tries to download the Prism runner from the internet.)
LOCAL_RUNNER = "BundleBasedDirectRunner"
DIRECT_RUNNERS = ("DirectRunner", "BundleBasedDirectRunner", "SwitchingDirectRunner")


def add_arguments(parser) -> None:
    """Add the event pipeline's flags to an argparse parser (Beam's or a plain one)."""
    group = parser.add_argument_group("event pipeline")
    group.add_argument(
        "--input_subscription",
        help="(required) Pub/Sub subscription to read: projects/PROJECT/subscriptions/NAME, or "
        "NAME in the project.",
    )
    group.add_argument(
        "--output_table",
        help="(required) Events table: PROJECT:DATASET.TABLE, PROJECT.DATASET.TABLE, or "
        "DATASET.TABLE in the project.",
    )
    group.add_argument(
        "--dead_letter_table",
        help="(required) Dead-letter table for every message that fails, in the same forms.",
    )
    group.add_argument(
        "--reference_table",
        default=None,
        help="BigQuery table of reference rows keyed by its 'source' column (optional).",
    )
    group.add_argument(
        "--reference_file",
        default=None,
        help="Reference rows from a JSON, NDJSON or CSV file, local or gs:// (optional).",
    )
    group.add_argument(
        "--max_event_bytes",
        type=int,
        default=schema.MAX_EVENT_BYTES,
        help="Messages larger than this are dead-lettered as oversize (default: %(default)s).",
    )
    group.add_argument(
        "--log_format",
        choices=("text", "json"),
        default="text",
        help="Log lines as plain text or as JSON objects (default: %(default)s).",
    )
    group.add_argument(
        "--create_tables",
        choices=("if_needed", "never"),
        default="if_needed",
        help="Create the events and dead-letter tables if missing (CREATE_IF_NEEDED) or "
        "require them to exist (CREATE_NEVER). Default: %(default)s.",
    )


def missing(options) -> list[str]:
    """The required flags that were not given, as ``--flag`` strings."""
    return [f"--{name}" for name in REQUIRED if not getattr(options, name, None)]


class UsageError(Exception):
    """A command-line mistake, said in one sentence (exit code 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{message} (python -m pipeline --help)")


def parser() -> argparse.ArgumentParser:
    """The short ``python -m pipeline --help``: the pipeline's flags and the few Beam flags a
    first run needs; ``--help-beam`` prints every Beam and Dataflow flag."""
    p = _Parser(
        prog="python -m pipeline",
        usage="%(prog)s --input_subscription SUB --output_table TABLE --dead_letter_table TABLE "
        "[options]",
        description="Runs the event pipeline: Pub/Sub -> parse -> validate -> enrich -> "
        "BigQuery, dead letters to their own table. Without --runner it runs here on Beam's "
        "DirectRunner (streaming); against local emulators set PUBSUB_EMULATOR_HOST and "
        "BIGQUERY_EMULATOR_HOST (eval \"$(python -m harness env)\"). Before Beam starts, it "
        "checks that the emulators or Google Cloud answer, that the subscription and tables "
        "exist, and says what it will read and write.",
        epilog="Every Apache Beam and Dataflow option works too (--temp_location, --region, "
        "--setup_file, ...): python -m pipeline --help-beam lists them.",
        allow_abbrev=False,
        add_help=False,
    )
    p.add_argument("-h", "--help", action="store_true", help="show this help and exit")
    p.add_argument("--help-beam", action="store_true",
                   help="list every Apache Beam / Dataflow option and exit")
    add_arguments(p)
    beam = p.add_argument_group("the Beam options a first run needs")
    beam.add_argument("--runner", default=None,
                      help=f"DataflowRunner to deploy; default: the DirectRunner ({LOCAL_RUNNER}, "
                      "streaming, in this process)")
    beam.add_argument("--project", default=None,
                      help="Google Cloud project; short names are completed with it (default: "
                      "GOOGLE_CLOUD_PROJECT, or the emulator's one project)")
    beam.add_argument("--region", default=None, help="Dataflow region (DataflowRunner)")
    return p
