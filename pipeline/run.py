"""The production pipeline: Pub/Sub -> parse -> validate -> enrich -> BigQuery (+ dead letters)."""

from __future__ import annotations

import logging

import apache_beam as beam
from apache_beam.io.gcp.pubsub import ReadFromPubSub
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipeline import metrics, schema
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


def run(argv: list[str] | None = None, wait: bool = True):
    """Build and run the pipeline from command-line style arguments; returns the result."""
    from pipeline.endpoints import use_emulators_from_env

    use_emulators_from_env()
    options = PipelineOptions(argv)
    options.view_as(StandardOptions).streaming = True  # Pub/Sub is unbounded
    event_options = options.view_as(EventPipelineOptions)
    missing = missing_options(event_options)
    if missing:
        raise ValueError(f"missing required option(s): {', '.join(missing)}")
    p = beam.Pipeline(options=options)
    _ = p | "EventPipeline" >> EventPipeline(event_options)
    result = p.run()
    if wait:
        try:
            result.wait_until_finish()
        except KeyboardInterrupt:
            logging.info("interrupted; cancelling the pipeline")
            result.cancel()
        finally:
            logging.info("pipeline metrics", extra={"metrics": metrics.summary(result)})
    return result
