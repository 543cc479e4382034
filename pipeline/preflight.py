"""Before Beam starts: check what the run needs and say, in one sentence, what is wrong.

Beam finds a missing subscription, an emulator variable that points at nothing or absent
credentials only once the pipeline runs, as a long traceback or a silent retry loop. The
checks here take a few seconds with the real clients (no retries, short timeouts):

* credentials: emulator variables, or Application Default Credentials for what has none;
* the Pub/Sub endpoint answers and the subscription exists (else the project's subscriptions
  are named);
* the BigQuery endpoint answers; the events and dead-letter tables exist, or will be created
  (their dataset must exist), and the reference table exists;
* short names (``events-pipeline``, ``analytics.events``) are completed with the project
  (``--project``, ``GOOGLE_CLOUD_PROJECT``, or the one project the BigQuery emulator holds).

Imports no Beam (it loads in seconds); :func:`check` returns a :class:`Plan`: the completed
names, notes to print, and the tables' row counts at the start.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

PUBSUB_ENV = "PUBSUB_EMULATOR_HOST"
BIGQUERY_ENV = "BIGQUERY_EMULATOR_HOST"
START_EMULATORS = 'python -m harness up, then eval "$(python -m harness env)"'
TIMEOUT = 3.0
_SUBSCRIPTION = re.compile(r"projects/([^/]+)/subscriptions/([^/]+)\Z")
_SHORT_SUBSCRIPTION = re.compile(r"[A-Za-z][\w\-.~+%]*\Z")


class PreflightError(Exception):
    """What stops the run, in one sentence naming the flag (or variable), its value and the fix."""


@dataclass
class Plan:
    """What the run will read and write, with every name completed."""

    subscription: str
    output_table: str
    dead_letter_table: str
    reference_table: str | None = None
    reference_file: str | None = None
    project: str | None = None
    notes: list[str] = field(default_factory=list)
    rows_at_start: dict[str, int] = field(default_factory=dict)

    def args(self) -> list[str]:
        """The pipeline's flags with the completed names (they replace the ones given)."""
        out = [f"--input_subscription={self.subscription}", f"--output_table={self.output_table}",
               f"--dead_letter_table={self.dead_letter_table}"]
        if self.reference_table:
            out.append(f"--reference_table={self.reference_table}")
        return out

    def ready_line(self) -> str:
        line = (f"ready: reading {self.subscription}; writing {self.output_table} "
                f"(dead letters {self.dead_letter_table})")
        if self.reference_table or self.reference_file:
            line += f"; reference rows from {self.reference_table or self.reference_file}"
        return line


def rows_of(table) -> int:
    """Rows of a ``bigquery.Table``, those still in its streaming buffer included."""
    buffered = table.streaming_buffer.estimated_rows if table.streaming_buffer else 0
    return (table.num_rows or 0) + (buffered or 0)


def _message(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc)
    return " ".join(str(text).split())[:240]


def _unreachable(variable: str, value: str, exc: BaseException) -> PreflightError:
    text = str(exc)
    why = "connection refused" if "refused" in text.lower() else \
        "no answer" if "deadline" in text.lower() or "timed out" in text.lower() else _message(exc)
    return PreflightError(
        f"{variable}={value}: nothing answers there ({why}); start the emulators "
        f"({START_EMULATORS}) or unset {variable} to use Google Cloud"
    )


def _suggest(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


class _Checker:
    def __init__(self, options, env: Mapping[str, str], timeout: float):
        self.options, self.env, self.timeout = options, env, timeout
        self.pubsub_host = (env.get(PUBSUB_ENV) or "").strip()
        self.bigquery_host = (env.get(BIGQUERY_ENV) or "").strip()
        self._project: str | None = getattr(options, "project", None) or \
            env.get("GOOGLE_CLOUD_PROJECT") or env.get("CLOUDSDK_CORE_PROJECT")
        self._adc_project: str | None = None
        self._bigquery = None

    # -- credentials -------------------------------------------------------------------------

    def credentials(self) -> None:
        if self.pubsub_host and self.bigquery_host:
            return
        import google.auth
        from google.auth.exceptions import DefaultCredentialsError

        try:
            _, self._adc_project = google.auth.default()
        except DefaultCredentialsError:
            if not self.pubsub_host and not self.bigquery_host:
                raise PreflightError(
                    f"neither {PUBSUB_ENV} nor {BIGQUERY_ENV} is set and there are no Google "
                    f"credentials: for the local emulators run {START_EMULATORS}; for Google "
                    "Cloud run gcloud auth application-default login"
                ) from None
            unset, given = (BIGQUERY_ENV, PUBSUB_ENV) if self.pubsub_host else \
                (PUBSUB_ENV, BIGQUERY_ENV)
            raise PreflightError(
                f"{unset} is not set ({given} is) and there are no Google credentials for the "
                f"real service: set it too (eval \"$(python -m harness env)\") or run gcloud auth "
                "application-default login"
            ) from None

    # -- names -------------------------------------------------------------------------------

    def project(self, flag: str, value: str, dataset: str | None = None) -> str:
        """The project that completes the short name ``value`` of ``flag``."""
        if self._project:
            return self._project
        if self.bigquery_host:
            try:
                projects = [p.project_id for p in self.bigquery().list_projects(
                    timeout=self.timeout, retry=None)]
            except Exception as exc:  # noqa: BLE001 - said as one sentence
                raise _unreachable(BIGQUERY_ENV, self.bigquery_host, exc) from None
            if dataset and len(projects) > 1:
                holding = [p for p in projects if self._has_dataset(p, dataset)]
                projects = holding or projects
            if len(projects) == 1:
                self._project = projects[0]
                return self._project
            listed = ", ".join(projects[:8]) + (" ..." if len(projects) > 8 else "")
            raise PreflightError(
                f"{flag} {value} names no project and the BigQuery emulator holds "
                f"{len(projects)} ({listed or 'none'}): pass --project, or the full name"
            )
        if self._adc_project:
            self._project = self._adc_project
            return self._project
        raise PreflightError(
            f"{flag} {value} names no project and none is set: pass --project (or set "
            "GOOGLE_CLOUD_PROJECT), or the full name"
        )

    def _has_dataset(self, project: str, dataset: str) -> bool:
        from google.api_core.exceptions import NotFound

        try:
            self.bigquery().get_dataset(f"{project}.{dataset}", timeout=self.timeout, retry=None)
            return True
        except NotFound:
            return False

    def subscription_name(self, value: str) -> str:
        if _SUBSCRIPTION.match(value):
            return value
        if _SHORT_SUBSCRIPTION.match(value):
            return f"projects/{self.project('--input_subscription', value)}/subscriptions/{value}"
        raise PreflightError(
            f"--input_subscription {value} is neither projects/PROJECT/subscriptions/NAME nor a "
            "subscription NAME"
        )

    def table_name(self, flag: str, value: str) -> str:
        """``PROJECT:DATASET.TABLE`` from any of the forms Beam accepts, or a short name."""
        if ":" in value:
            project, _, rest = value.rpartition(":")
            parts = [project, *rest.split(".")]
        else:
            parts = value.split(".")
            if len(parts) == 2:
                parts = [self.project(flag, value, dataset=parts[0]), *parts]
        if len(parts) != 3 or not all(parts):
            raise PreflightError(
                f"{flag} {value} is not PROJECT:DATASET.TABLE, PROJECT.DATASET.TABLE or "
                "DATASET.TABLE"
            )
        return f"{parts[0]}:{parts[1]}.{parts[2]}"

    # -- Pub/Sub -----------------------------------------------------------------------------

    def subscription(self, name: str) -> None:
        from google.api_core import exceptions
        from google.cloud import pubsub_v1

        subscriber = pubsub_v1.SubscriberClient()
        try:
            subscriber.get_subscription(subscription=name, timeout=self.timeout, retry=None)
        except exceptions.NotFound:
            project = name.split("/")[1]
            try:
                existing = sorted(s.name.rsplit("/", 1)[-1] for s in subscriber.list_subscriptions(
                    project=f"projects/{project}", timeout=self.timeout, retry=None))
            except exceptions.GoogleAPICallError:
                existing = []
            short = name.rsplit("/", 1)[-1]
            has = f"project {project} has {', '.join(existing[:8])}" if existing else \
                f"project {project} has none"
            raise PreflightError(
                f"--input_subscription {name}: no such subscription ({has}){_suggest(short, existing)}"
                " — pass an existing one, or create it (python -m harness up provisions the "
                "harness file's)"
            ) from None
        except (exceptions.ServiceUnavailable, exceptions.DeadlineExceeded,
                exceptions.RetryError) as exc:
            if self.pubsub_host:
                raise _unreachable(PUBSUB_ENV, self.pubsub_host, exc) from None
            raise PreflightError(f"Pub/Sub did not answer ({_message(exc)}); check the network "
                                 "or try again") from None
        except exceptions.GoogleAPICallError as exc:
            raise PreflightError(f"--input_subscription {name}: {_message(exc)}") from None
        finally:
            subscriber.close()

    # -- BigQuery ----------------------------------------------------------------------------

    def bigquery(self):
        if self._bigquery is None:
            from pipeline.endpoints import bigquery_client

            self._bigquery = bigquery_client(self._project or self._adc_project or
                                             "local-project")
        return self._bigquery

    def table(self, flag: str, ref: str, plan: Plan, may_create: bool) -> None:
        from google.api_core import exceptions

        project, _, rest = ref.rpartition(":")
        dataset, table = rest.split(".")
        client = self.bigquery()
        try:
            found = client.get_table(f"{project}.{dataset}.{table}", timeout=self.timeout,
                                     retry=None)
            plan.rows_at_start[ref] = rows_of(found)
            return
        except exceptions.NotFound:
            pass
        except exceptions.GoogleAPICallError as exc:
            raise PreflightError(f"{flag} {ref}: {_message(exc)}") from None
        except Exception as exc:  # noqa: BLE001 - requests' connection errors
            if self.bigquery_host:
                raise _unreachable(BIGQUERY_ENV, self.bigquery_host, exc) from None
            raise PreflightError(f"BigQuery did not answer ({_message(exc)})") from None
        try:
            tables = sorted(t.table_id for t in client.list_tables(
                f"{project}.{dataset}", timeout=self.timeout, retry=None))
        except exceptions.NotFound:
            try:
                datasets = sorted(d.dataset_id for d in client.list_datasets(
                    project, timeout=self.timeout, retry=None))
            except exceptions.GoogleAPICallError:
                datasets = []
            raise PreflightError(
                f"{flag} {ref}: dataset {project}:{dataset} does not exist (Beam creates tables, "
                f"not datasets{_suggest(dataset, datasets)}): create it (python -m harness up "
                "provisions the harness file's) or fix the name"
            ) from None
        hint = _suggest(table, tables)
        if not may_create:
            reason = "" if flag == "--reference_table" else " and --create_tables is never"
            raise PreflightError(
                f"{flag} {ref}: no such table{reason}{hint or ''}"
                f" (dataset {dataset} has {', '.join(tables[:8]) or 'no tables'})"
            )
        plan.rows_at_start[ref] = 0
        plan.notes.append(
            f"{flag} {ref} does not exist yet; it will be created (--create_tables if_needed)"
            + (f"{hint}" if hint else "")
        )


def check(options, env: Mapping[str, str] | None = None, timeout: float = TIMEOUT) -> Plan:
    """Check a run of the pipeline with ``options`` (the parsed flags); the completed
    :class:`Plan`, or :class:`PreflightError`."""
    env = os.environ if env is None else env
    checker = _Checker(options, env, timeout)
    o = options
    if o.reference_table and o.reference_file:
        raise PreflightError(
            f"--reference_table {o.reference_table} and --reference_file {o.reference_file}: "
            "give one of them, not both"
        )
    if o.reference_file and "://" not in o.reference_file and \
            not os.path.isfile(o.reference_file):
        raise PreflightError(f"--reference_file {o.reference_file}: no such file")
    checker.credentials()
    plan = Plan(
        subscription=checker.subscription_name(o.input_subscription),
        output_table=checker.table_name("--output_table", o.output_table),
        dead_letter_table=checker.table_name("--dead_letter_table", o.dead_letter_table),
        reference_table=o.reference_table and checker.table_name("--reference_table",
                                                                 o.reference_table),
        reference_file=o.reference_file,
    )
    plan.project = checker._project
    checker.subscription(plan.subscription)
    create = getattr(o, "create_tables", "if_needed") == "if_needed"
    checker.table("--output_table", plan.output_table, plan, may_create=create)
    checker.table("--dead_letter_table", plan.dead_letter_table, plan, may_create=create)
    if plan.reference_table:
        checker.table("--reference_table", plan.reference_table, plan, may_create=False)
    if checker._bigquery is not None:
        checker._bigquery.close()
    return plan


def check_args(argv: list[str], env: Mapping[str, str] | None = None,
               timeout: float = TIMEOUT) -> Plan:
    """:func:`check` for command-line style arguments (the pipeline's flags among any)."""
    from pipeline import flags

    known, _ = flags.parser().parse_known_args(argv)
    missing = flags.missing(known)
    if missing:
        raise PreflightError(f"the following options are required: {', '.join(missing)}")
    return check(known, env, timeout)
