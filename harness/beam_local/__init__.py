"""Every patch of Apache Beam internals, in one registry with one ``apply`` and one ``reset``.

Beam offers no public hook for what a local test bench needs: pointing its BigQuery clients at an
emulator, larger Pub/Sub pulls in the streaming DirectRunner, holding those pulls back to drain a
run. Each patch here names the Beam attribute it replaces and checks, before touching it, that
the attribute is still there; when it is not, :class:`BeamPatchError` names the installed Beam
version and the tested range instead of failing somewhere deep inside a run.

Patches (see :data:`PATCHES`):

* ``bigquery_endpoint``, ``bigquery_client``, ``anonymous_credentials``: Beam's BigQuery IO
  against ``BIGQUERY_EMULATOR_HOST`` (applied by :func:`pipeline.endpoints.use_emulators_from_env`,
  only when an emulator variable is set: Dataflow never runs them);
* Cloud Storage needs no patch: Beam's GCS filesystem (``gcsio``) is built on
  google-cloud-storage, which honours ``STORAGE_EMULATOR_HOST``; ``pipeline.endpoints`` only adds
  ``anonymous_credentials`` when that variable is set (FILE_LOADS and EXPORT then work);
* ``larger_pulls``, ``cached_dofn_specs``: the streaming DirectRunner's throughput (see
  :data:`STOCK`, :data:`PULL_ONLY`, :data:`LOCAL` and bench/README.md);
* ``pull_gate``: per-subscription pause of the DirectRunner's pulls, so
  :class:`harness.running.PipelineRun` can drain before it cancels (:data:`pull_gate`).

One Beam-internal *override* is not a patch: ``pipeline.write`` subclasses ``BigQueryWriteFn`` and
replaces its private ``_check_row_size``; it calls :func:`require` so that it fails the same way.

This module imports nothing of the pipeline or the harness (the pipeline imports it).
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: The Beam releases these patches were written and tested against (pyproject pins the same).
TESTED_BEAM = "2.77"


class BeamPatchError(RuntimeError):
    """An attribute a patch replaces is missing from the installed Beam."""


def _beam_version() -> str:
    try:
        import apache_beam

        return apache_beam.__version__
    except ImportError:  # pragma: no cover - Beam is a dependency
        return "not installed"


def require(owner: Any, attr: str) -> Any:
    """``owner``'s own ``attr`` (not inherited), or :class:`BeamPatchError` naming the version."""
    if attr not in vars(owner):
        name = getattr(owner, "__qualname__", getattr(owner, "__name__", repr(owner)))
        raise BeamPatchError(
            f"apache-beam {_beam_version()} has no {name}.{attr}, which streambench's local-run "
            f"patches replace; they were written for apache-beam {TESTED_BEAM}.x: install "
            f"'apache-beam[gcp]>={TESTED_BEAM},<2.78'"
        )
    return vars(owner)[attr]


def _resolve(path: str) -> Any:
    """``"pkg.module"`` or ``"pkg.module:Class"`` to the object."""
    module, _, name = path.partition(":")
    owner = importlib.import_module(module)
    return getattr(owner, name) if name else owner


@dataclass(frozen=True)
class Patch:
    """Replace ``attrs`` of ``owner`` with what ``make(originals, **options)`` returns."""

    name: str
    owner: str
    attrs: tuple[str, ...]
    make: Callable[..., dict[str, Any]]
    why: str


_lock = threading.RLock()
_applied: dict[str, tuple[Any, dict[str, Any], dict[str, Any]]] = {}  # name -> owner, old, opts


def apply(name: str, **options: Any) -> None:
    """Install patch ``name`` (re-installed if it is applied with other options)."""
    patch = PATCHES[name]
    with _lock:
        if name in _applied:
            if _applied[name][2] == options:
                return
            _undo(name)
        owner = _resolve(patch.owner)
        originals = {attr: require(owner, attr) for attr in patch.attrs}
        replacements = patch.make(originals, **options)
        for attr, value in replacements.items():
            setattr(owner, attr, value)
        _applied[name] = (owner, originals, options)


def reset(*names: str) -> None:
    """Undo the named patches (all of them when none is named): Beam as it ships."""
    with _lock:
        for name in names or list(_applied):
            if name in _applied:
                _undo(name)


def applied() -> dict[str, dict[str, Any]]:
    """The patches installed now, with their options."""
    with _lock:
        return {name: dict(entry[2]) for name, entry in _applied.items()}


def _undo(name: str) -> None:
    owner, originals, _ = _applied.pop(name)
    for attr, value in originals.items():
        setattr(owner, attr, value)


# -- BigQuery IO against the emulator --------------------------------------------------------


def _bigquery_endpoint(originals: dict, *, host: str) -> dict[str, Any]:
    base = f"{host}/bigquery/v2/"
    return {"BASE_URL": base, "MTLS_BASE_URL": base}


class _EmulatorBigQueryModule:
    """Stands in for ``google.cloud.bigquery`` inside Beam's bigquery_tools: the same module,
    but ``Client()`` defaults to anonymous credentials and the given project."""

    def __init__(self, real: Any, default_project: str):
        self._real = real

        class Client(real.Client):  # type: ignore[misc, valid-type, name-defined]
            def __init__(self, project=None, credentials=None, *args, **kwargs):
                from google.auth.credentials import AnonymousCredentials

                super().__init__(
                    project or default_project,
                    credentials or AnonymousCredentials(),
                    *args,
                    **kwargs,
                )

        self.Client = Client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def _bigquery_client(originals: dict, *, project: str) -> dict[str, Any]:
    return {"gcp_bigquery": _EmulatorBigQueryModule(originals["gcp_bigquery"], project)}


def _anonymous_credentials(originals: dict) -> dict[str, Any]:
    from apache_beam.internal.gcp import auth
    from google.auth.credentials import AnonymousCredentials

    adapter = getattr(auth, "_ApitoolsCredentialsAdapter", None)
    return {
        "_credentials": adapter(AnonymousCredentials()) if adapter else None,
        "_credentials_init": True,
    }


# -- the streaming DirectRunner --------------------------------------------------------------

DIRECT_RUNNER_PULL = 10  # what Beam asks for


class _LargerPulls:
    """A subscriber client whose ``pull`` asks for ``max_messages``."""

    def __init__(self, client, max_messages: int):
        self._client = client
        self._max_messages = max_messages

    def pull(self, *args, **kwargs):
        kwargs["max_messages"] = self._max_messages
        return self._client.pull(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._client, name)


def _larger_pulls(originals: dict, *, max_messages: int) -> dict[str, Any]:
    if max_messages < 1:
        raise ValueError("max_messages must be at least 1")
    original = originals["_get_subscriber_client"]

    def larger(cls, transform):
        return _LargerPulls(original.__func__(cls, transform), max_messages)

    return {"_get_subscriber_client": classmethod(larger)}


def _cached_dofn_specs(originals: dict) -> dict[str, Any]:
    original = originals["get_dofn_specs"]
    cache: dict[type, tuple] = {}

    def cached(dofn):
        specs = cache.get(type(dofn))
        if specs is None:
            specs = cache[type(dofn)] = original(dofn)
        return specs

    return {"get_dofn_specs": cached}


class PullGate:
    """Holds back the DirectRunner's pulls of paused subscriptions, counts pulls under way and
    the messages each subscription's pulls returned (and so acknowledged)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paused: set[str] = set()
        self._pulling: dict[str, int] = {}
        self._pulled: dict[str, int] = {}

    def pause(self, subscription: str) -> None:
        with self._lock:
            self._paused.add(subscription)

    def resume(self, subscription: str) -> None:
        with self._lock:
            self._paused.discard(subscription)

    def pulling(self, subscription: str) -> int:
        """Pulls of ``subscription`` sent and not yet returned (they may still ack messages)."""
        with self._lock:
            return self._pulling.get(subscription, 0)

    def pulled(self, subscription: str) -> int:
        """Messages the pulls of ``subscription`` returned so far in this process."""
        with self._lock:
            return self._pulled.get(subscription, 0)

    def wrap(self, read: Callable) -> Callable:
        def gated(evaluator, timestamp_attribute):
            name = evaluator._sub_name
            with self._lock:
                paused = name in self._paused
                if not paused:
                    self._pulling[name] = self._pulling.get(name, 0) + 1
            if paused:
                time.sleep(0.05)
                return []
            messages = []
            try:
                messages = read(evaluator, timestamp_attribute)
                return messages
            finally:
                with self._lock:
                    self._pulling[name] -= 1
                    self._pulled[name] = self._pulled.get(name, 0) + len(messages or ())

        return gated

    def drain(self, subscription: str, progress: Callable[[], Any], quiet_seconds: float = 2.0,
              timeout: float = 60.0) -> bool:
        """Pause ``subscription``'s pulls, wait for the pull under way to return, then until
        ``progress()`` (e.g. the output tables' row counts, or the pipeline's counters) has not
        changed for ``quiet_seconds``. False when ``timeout`` passed first. The caller cancels
        the pipeline, then calls :meth:`resume`."""
        self.pause(subscription)
        deadline = time.monotonic() + timeout
        last, since = None, time.monotonic()
        while time.monotonic() < deadline:
            if self.pulling(subscription):
                # A pull already sent may still return messages (and ack them): wait for it.
                time.sleep(0.05)
                continue
            now = progress()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet_seconds:
                return True
            time.sleep(0.1)
        return False


#: The one gate the ``pull_gate`` patch installs.
pull_gate = PullGate()


def _pull_gate(originals: dict) -> dict[str, Any]:
    return {"_read_from_pubsub": pull_gate.wrap(originals["_read_from_pubsub"])}


_EVALUATOR = "apache_beam.runners.direct.transform_evaluator:_PubSubReadEvaluator"

PATCHES: dict[str, Patch] = {
    p.name: p
    for p in (
        Patch(
            "bigquery_endpoint",
            "apache_beam.io.gcp.internal.clients.bigquery.bigquery_v2_client:BigqueryV2",
            ("BASE_URL", "MTLS_BASE_URL"),
            _bigquery_endpoint,
            "Beam's apitools BigQuery client (tables.get/insert) has a fixed endpoint",
        ),
        Patch(
            "bigquery_client",
            "apache_beam.io.gcp.bigquery_tools",
            ("gcp_bigquery",),
            _bigquery_client,
            "the google-cloud-bigquery client Beam makes for insertAll asks for ADC",
        ),
        Patch(
            "anonymous_credentials",
            "apache_beam.internal.gcp.auth:_Credentials",
            ("_credentials", "_credentials_init"),
            _anonymous_credentials,
            "Beam's credential lookup asks for Application Default Credentials",
        ),
        Patch(
            "larger_pulls",
            _EVALUATOR,
            ("_get_subscriber_client",),
            _larger_pulls,
            "the streaming DirectRunner pulls 10 messages per bundle",
        ),
        Patch(
            "cached_dofn_specs",
            "apache_beam.transforms.userstate",
            ("get_dofn_specs",),
            _cached_dofn_specs,
            "the DirectRunner inspects every DoFn's signature on every bundle (~6 ms)",
        ),
        Patch(
            "pull_gate",
            _EVALUATOR,
            ("_read_from_pubsub",),
            _pull_gate,
            "a DirectRunner run cannot be drained: it acks on pull, so cancelling drops messages",
        ),
    )
}


# -- DirectRunner throughput presets ---------------------------------------------------------


@dataclass(frozen=True)
class Tuning:
    """Which throughput patches a local run gets (bench/pipeline_bench.py measures each)."""

    pull_max_messages: int | None = None
    cache_dofn_specs: bool = False


STOCK = Tuning()
PULL_ONLY = Tuning(pull_max_messages=500)
ALL = LOCAL = Tuning(500, True)


def tune(tuning: Tuning) -> None:
    """Install ``tuning``'s patches and undo the throughput patches it does not ask for."""
    with _lock:
        reset("larger_pulls", "cached_dofn_specs")
        if tuning.pull_max_messages:
            apply("larger_pulls", max_messages=tuning.pull_max_messages)
        if tuning.cache_dofn_specs:
            apply("cached_dofn_specs")
