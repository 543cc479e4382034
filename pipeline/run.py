"""The production pipeline: Pub/Sub -> parse -> validate -> enrich -> BigQuery (+ dead letters)."""

from __future__ import annotations

import logging

import apache_beam as beam
from apache_beam.io.gcp.pubsub import ReadFromPubSub
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from harness import beam_local
from pipeline import flags, metrics, schema
from pipeline.enrich import EnrichEvents
from pipeline.messages import utc_now
from pipeline.options import EventPipelineOptions, missing_options
from pipeline.parse import ParseEvents
from pipeline.reference import LoadReference
from pipeline.validate import ValidateEvents
from pipeline.write import WriteDeadLetters, WriteEvents


class ProcessEvents(beam.PTransform):
    """Messages -> (rows, dead letters): the pipeline without its source and sinks."""

    def __init__(
        self, references=None, max_event_bytes: int = schema.MAX_EVENT_BYTES, clock=utc_now
    ):
        super().__init__()
        self._references = references
        self._max_event_bytes = max_event_bytes
        self._clock = clock

    def expand(self, messages):
        parsed = messages | "Parse" >> ParseEvents()
        validated = parsed.events | "Validate" >> ValidateEvents(self._max_event_bytes)
        enriched = validated.events | "Enrich" >> EnrichEvents(self._references, self._clock)
        dead_letters = (
            parsed.dead_letter,
            validated.dead_letter,
            enriched.dead_letter,
        ) | "FlattenDeadLetters" >> beam.Flatten()
        return enriched.rows, dead_letters


class EventPipeline(beam.PTransform):
    """Read the subscription, process, write rows and dead letters (failed inserts included)."""

    def __init__(self, options: EventPipelineOptions):
        super().__init__()
        self._options = options

    def expand(self, pbegin):
        o = self._options
        create = o.create_tables == "if_needed"
        messages = pbegin | "Read" >> ReadFromPubSub(
            subscription=o.input_subscription, with_attributes=True
        )
        references = None
        if o.reference_table or o.reference_file:
            references = pbegin | "Reference" >> LoadReference(o.reference_table, o.reference_file)
        rows, dead_letters = messages | "Process" >> ProcessEvents(
            references, o.max_event_bytes
        )
        failed_inserts = rows | "WriteEvents" >> WriteEvents(o.output_table, create)
        return (
            (dead_letters, failed_inserts)
            | "AllDeadLetters" >> beam.Flatten()
            | "WriteDeadLetters" >> WriteDeadLetters(o.dead_letter_table, create)
        )


def runner_of(argv: list[str]) -> str | None:
    """The ``--runner`` given in ``argv`` (the last one wins, as in argparse), or None."""
    runner = None
    for i, arg in enumerate(argv):
        if arg == "--runner" and i + 1 < len(argv):
            runner = argv[i + 1]
        elif arg.startswith("--runner="):
            runner = arg.split("=", 1)[1]
    return runner


def is_local(argv: list[str]) -> bool:
    """Whether ``argv`` runs the pipeline here, on a DirectRunner."""
    runner = runner_of(argv)
    return runner is None or runner in flags.DIRECT_RUNNERS


def with_local_runner(argv: list[str]) -> list[str]:
    """``argv`` running on Beam's streaming DirectRunner when no runner (or ``DirectRunner``)
    is named: Beam's ``DirectRunner`` first tries to download the Prism runner from GitHub,
    and offline it logs the failure before falling back to the same DirectRunner."""
    if not is_local(argv):
        return list(argv)
    return [*argv, f"--runner={flags.LOCAL_RUNNER}"]


def _beam_parser():
    """A parser with every option Beam's own parsing registers (every loaded options class,
    this pipeline's first)."""
    from apache_beam.options.pipeline_options import _BeamArgumentParser

    parser = _BeamArgumentParser(prog="python -m pipeline", allow_abbrev=False)
    classes = {str(EventPipelineOptions): EventPipelineOptions}
    for cls in PipelineOptions.__subclasses__():
        classes.setdefault(str(cls), cls)
    for cls in classes.values():
        cls._add_argparse_args(parser)
    return parser


def unknown_flags(argv: list[str]) -> list[str]:
    """The flags in ``argv`` that no Beam options class (this pipeline's included) defines:
    Beam itself only warns about them and runs on without them."""
    _, unknown = _beam_parser().parse_known_args(argv)
    return [arg.split("=", 1)[0] for arg in unknown if arg.startswith("-")]


def known_flags() -> list[str]:
    """Every ``--flag`` Beam accepts (for suggestions)."""
    return [s for action in _beam_parser()._actions for s in action.option_strings
            if s.startswith("--")]


def beam_help() -> str:
    """``--help`` of every Beam and Dataflow option, this pipeline's first."""
    return _beam_parser().format_help()


def start(argv: list[str]):
    """Build and start the pipeline from command-line style arguments; the running result.

    Runs on Beam's streaming DirectRunner unless another runner is named
    (:func:`with_local_runner`); a local run's Pub/Sub pulls go through
    ``harness.beam_local.pull_gate``, so it can be drained before it stops.
    """
    from pipeline.endpoints import use_emulators_from_env

    local = is_local(argv)
    argv = with_local_runner(argv)
    use_emulators_from_env()
    if local:
        beam_local.apply("pull_gate")
    options = PipelineOptions(argv)
    options.view_as(StandardOptions).streaming = True  # Pub/Sub is unbounded
    event_options = options.view_as(EventPipelineOptions)
    missing = missing_options(event_options)
    if missing:
        raise ValueError(f"missing required option(s): {', '.join(missing)}")
    p = beam.Pipeline(options=options)
    _ = p | "EventPipeline" >> EventPipeline(event_options)
    return p.run()


def run(argv: list[str] | None = None, wait: bool = True):
    """Build and run the pipeline from command-line style arguments; returns the result."""
    result = start(list(argv or []))
    if wait:
        try:
            result.wait_until_finish()
        except KeyboardInterrupt:
            logging.info("interrupted; cancelling the pipeline")
            result.cancel()
        finally:
            logging.info("pipeline metrics", extra={"metrics": metrics.summary(result)})
    return result
