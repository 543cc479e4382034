"""``python -m pipeline --input_subscription ... --output_table ... --dead_letter_table ...``

Runs the event pipeline. Without ``--runner`` it runs here on Beam's streaming DirectRunner;
with ``--runner DataflowRunner --project P --region R --temp_location gs://... --setup_file
./setup.py`` the same code deploys to Dataflow. Against local emulators, set
``PUBSUB_EMULATOR_HOST`` and ``BIGQUERY_EMULATOR_HOST``.

Before Beam starts, :mod:`pipeline.preflight` checks the endpoints, credentials, subscription
and tables; every problem (and every unknown flag) is one sentence and exit code 2. Once the
pipeline runs, a ``ready: reading ...; writing ...`` line says so. Ctrl-C on a local run drains
it (pulls stop, what was pulled is written) and prints what it read and wrote; exit code 130.
"""

from __future__ import annotations

import difflib
import logging
import os
import signal
import sys

from pipeline import flags, logs, preflight

INTERRUPTED = 130  # Ctrl-C (SIGINT), as shells report it
TERMINATED = 143  # SIGTERM (kill, docker stop): drained the same way
DRAIN_QUIET_SECONDS = 1.5
DRAIN_TIMEOUT = 6.0  # Ctrl-C to exit stays under 10 s

_LOG = logging.getLogger("pipeline")


def _unknown(argv: list[str]) -> str | None:
    from pipeline.run import known_flags, unknown_flags

    unknown = unknown_flags(argv)
    if not unknown:
        return None
    close = difflib.get_close_matches(unknown[0], known_flags(), n=1, cutoff=0.7)
    hint = f"; did you mean {close[0]}?" if close else ""
    more = f" (and {', '.join(unknown[1:])})" if len(unknown) > 1 else ""
    return (f"unknown option {unknown[0]}{more}{hint} (python -m pipeline --help lists the "
            "pipeline's options, --help-beam every Beam option)")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _misspelt_own_flag(own, rest: list[str]) -> None:
    """A near miss of one of the pipeline's own flags, found before Beam is imported (the
    full check against every Beam option comes later)."""
    ours = [s for action in own._actions for s in action.option_strings if s.startswith("--")]
    for arg in rest:
        name = arg.split("=", 1)[0]
        close = difflib.get_close_matches(name, ours, n=1, cutoff=0.85) if name.startswith(
            "--") else []
        if close and close[0] != name:
            raise flags.UsageError(f"unknown option {name}; did you mean {close[0]}? "
                                   "(python -m pipeline --help lists the pipeline's options)")


def _rows(plan: preflight.Plan) -> dict[str, int]:
    """Rows in the events and dead-letter tables now (0 for a table not created yet)."""
    from google.api_core.exceptions import NotFound

    from pipeline.endpoints import bigquery_client

    client = bigquery_client(plan.project or "local-project")
    out = {}
    try:
        for ref in (plan.output_table, plan.dead_letter_table):
            try:
                table = client.get_table(ref.replace(":", "."), timeout=3, retry=None)
            except NotFound:
                out[ref] = 0
                continue
            out[ref] = preflight.rows_of(table)
    finally:
        client.close()
    return out


def _drain_and_stop(result, plan: preflight.Plan) -> dict:
    """Stop pulling, let what was pulled land, cancel; what this run read and wrote."""
    from harness import beam_local

    print("interrupted: draining (Ctrl-C again stops at once)", file=sys.stderr, flush=True)
    counts = {}

    def progress():
        counts.update(_rows(plan))
        return tuple(sorted(counts.items()))

    try:
        if not beam_local.pull_gate.drain(plan.subscription, progress, DRAIN_QUIET_SECONDS,
                                          DRAIN_TIMEOUT):
            _LOG.warning("the pipeline was still writing after %.0fs; stopping anyway",
                         DRAIN_TIMEOUT)
    except KeyboardInterrupt:
        _LOG.warning("interrupted again: stopping without waiting for the rows in flight")
    except Exception as exc:  # noqa: BLE001 - e.g. the emulator went away: stop regardless
        _LOG.warning("could not watch the tables while draining (%s); stopping", exc)
    result.cancel()
    read = beam_local.pull_gate.pulled(plan.subscription)
    rows = {ref: counts.get(ref, plan.rows_at_start.get(ref, 0)) - plan.rows_at_start.get(ref, 0)
            for ref in (plan.output_table, plan.dead_letter_table)}
    return {"messages_read": read, "rows_written": rows[plan.output_table],
            "dead_lettered": rows[plan.dead_letter_table]}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _main(argv)
    except (flags.UsageError, preflight.PreflightError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that it drains like Ctrl-C."""


def _on_sigterm(signum, frame):
    raise _Terminated()


def _main(argv: list[str]) -> int:
    own = flags.parser()
    known, rest = own.parse_known_args(argv)
    _misspelt_own_flag(own, rest)
    if known.help:
        own.print_help()
        return 0
    if known.help_beam:
        from pipeline.run import beam_help

        print(beam_help())
        return 0
    argv = [a for a in argv if a != "--help-beam"]
    missing = flags.missing(known)
    if missing:
        raise flags.UsageError(f"the following options are required: {', '.join(missing)} "
                               "(python -m pipeline --help)")
    logs.configure("INFO", json_lines=known.log_format == "json")
    # Beam's own INFO lines (type-hint conversions, runner choice) say nothing to an operator.
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    plan = preflight.check(known)
    unknown = _unknown(argv)  # imports Beam: after the quick checks, still within seconds
    if unknown:
        raise flags.UsageError(unknown)
    for note in plan.notes:
        _LOG.warning(note)
    from pipeline.run import is_local, start

    local = is_local(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    result = start([*argv, *plan.args()])
    _LOG.info(plan.ready_line() + ("; Ctrl-C drains and stops" if local else ""))
    if not local:
        try:
            result.wait_until_finish()
        except KeyboardInterrupt:
            _LOG.info("interrupted; cancelling the pipeline")
            result.cancel()
            return INTERRUPTED
        return 0
    try:
        result.wait_until_finish()
    except KeyboardInterrupt as stop:
        code = TERMINATED if isinstance(stop, _Terminated) else INTERRUPTED
        summary = _drain_and_stop(result, plan)
        _LOG.info("pipeline metrics", extra={"metrics": summary})
        print(
            f"stopped: {_count(summary['messages_read'], 'message')} read from "
            f"{plan.subscription}; {_count(summary['rows_written'], 'row')} written to "
            f"{plan.output_table}, {_count(summary['dead_lettered'], 'dead letter')} to "
            f"{plan.dead_letter_table}",
            file=sys.stderr, flush=True,
        )
        return code
    return 0


if __name__ == "__main__":
    code = main()
    if code in (INTERRUPTED, TERMINATED):
        # The DirectRunner leaves non-daemon threads behind after a cancel; do not wait for them.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
