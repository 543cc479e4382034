"""The pipeline's own options; every other Beam / Dataflow option is accepted as usual."""

from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions

from pipeline import schema

REQUIRED = ("input_subscription", "output_table", "dead_letter_table")


class EventPipelineOptions(PipelineOptions):
    """Options of ``python -m pipeline``.

    None is ``required=True`` in argparse: Beam parses every registered options class whenever
    any ``PipelineOptions`` is built, so :func:`missing_options` checks them at launch instead.
    """

    @classmethod
    def _add_argparse_args(cls, parser):
        group = parser.add_argument_group("event pipeline")
        group.add_argument(
            "--input_subscription",
            help="(required) Pub/Sub subscription to read: projects/PROJECT/subscriptions/NAME.",
        )
        group.add_argument(
            "--output_table",
            help="(required) Events table, PROJECT:DATASET.TABLE (or PROJECT.DATASET.TABLE).",
        )
        group.add_argument(
            "--dead_letter_table",
            help="(required) Dead-letter table for every message that fails, PROJECT:DATASET.TABLE.",
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


def missing_options(options: EventPipelineOptions) -> list[str]:
    """The required options that were not given, as ``--flag`` strings."""
    return [f"--{name}" for name in REQUIRED if not getattr(options, name)]
