"""``python -m pipeline --input_subscription ... --output_table ... --dead_letter_table ...``

Runs the event pipeline. Without ``--runner`` it runs locally on Beam's DirectRunner; with
``--runner DataflowRunner --project P --region R --temp_location gs://... --setup_file
./setup.py`` the same code deploys to Dataflow. Against local emulators, set
``PUBSUB_EMULATOR_HOST`` and ``BIGQUERY_EMULATOR_HOST``.
"""

from __future__ import annotations

import sys

from apache_beam.options.pipeline_options import (
    DebugOptions,
    GoogleCloudOptions,
    SetupOptions,
    StandardOptions,
    WorkerOptions,
    _BeamArgumentParser,
)

from pipeline import logs
from pipeline.options import EventPipelineOptions, missing_options


def _parser() -> _BeamArgumentParser:
    parser = _BeamArgumentParser(
        prog="python -m pipeline",
        usage="%(prog)s --input_subscription SUB --output_table TABLE --dead_letter_table TABLE "
        "[options]",
        description=__doc__.split("\n\n", 1)[1],
        epilog="Any other Apache Beam pipeline option is accepted and passed to the runner.",
    )
    for options_class in (
        EventPipelineOptions,
        StandardOptions,
        GoogleCloudOptions,
        SetupOptions,
        WorkerOptions,
        DebugOptions,
    ):
        options_class._add_argparse_args(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    known, _ = _parser().parse_known_args(argv)  # handles --help
    missing = missing_options(known)
    if missing:
        _parser().error(f"the following arguments are required: {', '.join(missing)}")
    logs.configure("INFO", json_lines=known.log_format == "json")
    from pipeline.run import run

    run(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
