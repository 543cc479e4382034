"""The pipeline's own options as Beam options; every other Beam / Dataflow option is accepted."""

from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions

from pipeline import flags

REQUIRED = flags.REQUIRED


class EventPipelineOptions(PipelineOptions):
    """Options of ``python -m pipeline`` (defined in :mod:`pipeline.flags`, which needs no Beam).

    None is ``required=True`` in argparse: Beam parses every registered options class whenever
    any ``PipelineOptions`` is built, so :func:`missing_options` checks them at launch instead.
    """

    @classmethod
    def _add_argparse_args(cls, parser):
        flags.add_arguments(parser)


def missing_options(options: EventPipelineOptions) -> list[str]:
    """The required options that were not given, as ``--flag`` strings."""
    return flags.missing(options)
