"""Lift the streaming DirectRunner's end-to-end ceiling, process-wide, for local runs only.

What bounds the streaming DirectRunner on this pipeline (measured in bench/pipeline_bench.py;
see bench/README.md) and what each fix here does about it. These patch Beam internals of the
local runner only (Dataflow never runs them); :class:`emulators.running.PipelineRun` applies
:data:`LOCAL` unless told otherwise.

* ``pull_max_messages``: Beam's ``_PubSubReadEvaluator`` pulls ``max_messages=10`` and every
  bundle runs on a single executor thread, so each 10 events pay the whole per-bundle cost.
  The evaluator gets a subscriber client whose ``pull`` asks for more.
* ``cache_dofn_specs``: ``_ParDoEvaluator.start_bundle`` and ``should_execute_serially`` call
  ``userstate.get_dofn_specs`` on every bundle, which runs ``inspect.signature`` over every
  method of the DoFn (~6 ms per ParDo bundle). The specs depend on the DoFn class only.

Two more costs were the pipeline's own and are fixed there, for every runner: row sizing in
``pipeline.write`` and the pre-crawled JSON Schema registry in ``pipeline.validate``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

DIRECT_RUNNER_PULL = 10  # what Beam asks for
_lock = threading.Lock()
_originals: dict[str, object] = {}
_state = {"max_messages": DIRECT_RUNNER_PULL}


@dataclass(frozen=True)
class Tuning:
    pull_max_messages: int | None = None
    cache_dofn_specs: bool = False


STOCK = Tuning()
PULL_ONLY = Tuning(pull_max_messages=500)
ALL = LOCAL = Tuning(500, True)


class _LargerPulls:
    """A subscriber client whose ``pull`` asks for the configured number of messages."""

    def __init__(self, client):
        self._client = client

    def pull(self, *args, **kwargs):
        kwargs["max_messages"] = _state["max_messages"]
        return self._client.pull(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._client, name)


def _patch(key: str, owner, name: str, replacement) -> None:
    if key not in _originals:
        _originals[key] = (owner, name, owner.__dict__[name])
    setattr(owner, name, replacement)


def apply(tuning: Tuning) -> None:
    """Install ``tuning`` (and undo whatever an earlier call installed that it does not ask for)."""
    with _lock:
        _undo()
        if tuning.pull_max_messages:
            _larger_pulls(tuning.pull_max_messages)
        if tuning.cache_dofn_specs:
            _cache_dofn_specs()


def reset() -> None:
    """Back to Beam's and the pipeline's own behaviour."""
    with _lock:
        _undo()


def _undo() -> None:
    for owner, name, original in _originals.values():
        setattr(owner, name, original)
    _originals.clear()
    _state["max_messages"] = DIRECT_RUNNER_PULL


def _larger_pulls(max_messages: int) -> None:
    from apache_beam.runners.direct.transform_evaluator import _PubSubReadEvaluator

    if max_messages < 1:
        raise ValueError("max_messages must be at least 1")
    _state["max_messages"] = max_messages
    original = _PubSubReadEvaluator.__dict__["_get_subscriber_client"]

    def larger(cls, transform):
        return _LargerPulls(original.__func__(cls, transform))

    _patch("pull", _PubSubReadEvaluator, "_get_subscriber_client", classmethod(larger))


def _cache_dofn_specs() -> None:
    from apache_beam.transforms import userstate

    original = userstate.get_dofn_specs
    cache: dict[type, tuple] = {}

    def cached(dofn):
        specs = cache.get(type(dofn))
        if specs is None:
            specs = cache[type(dofn)] = original(dofn)
        return specs

    _patch("specs", userstate, "get_dofn_specs", cached)
