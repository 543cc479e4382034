"""Metric samples: what the emulators' ``/_emulator/metrics`` serve, parsed, and a time series of
them as the harness samples it.

A sample is named as Prometheus names it (``pubsub_googleapis_com:subscription_ack_message_
count``); :func:`emulators.exposition.prometheus_name`'s rule maps a Cloud Monitoring metric type
onto that name, so rules written with Cloud Monitoring types find their samples (:func:`series_name`).
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from emulators.exposition import prometheus_name


def series_name(metric_type: str) -> str:
    """The Prometheus name of a Cloud Monitoring metric type (or a plain name as it is):
    Google's own PromQL mapping, the one the emulators serve their metrics under."""
    return prometheus_name(metric_type)


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict
    value: float

    def key(self) -> tuple:
        return (self.name, tuple(sorted(self.labels.items())))


def parse(text: str) -> list[Sample]:
    """Samples of a Prometheus text exposition (prometheus_client's parser). Counter samples
    keep the family's name: the parser appends ``_total``, which Cloud Monitoring names lack."""
    from prometheus_client.parser import text_string_to_metric_families

    out = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name = sample.name
            if family.type == "counter" and name == family.name + "_total":
                name = family.name
            out.append(Sample(name, dict(sample.labels), float(sample.value)))
    return out


@dataclass
class Snapshot:
    """Every sample taken at one moment (seconds on the sampler's clock)."""

    at: float
    samples: dict[tuple, Sample] = field(default_factory=dict)

    def add(self, samples: Iterable[Sample]) -> None:
        for sample in samples:
            self.samples[sample.key()] = sample

    def matching(self, name: str, labels: dict | None = None) -> list[Sample]:
        wanted = (labels or {}).items()
        return [
            s for s in self.samples.values()
            if s.name == name and all(s.labels.get(k) == str(v) for k, v in wanted)
        ]  # fmt: skip


class TimeSeries:
    """The last ``keep`` seconds of snapshots, oldest first."""

    def __init__(self, keep: float = 3600.0):
        self.keep = keep
        self.snapshots: deque[Snapshot] = deque()

    def append(self, snapshot: Snapshot) -> None:
        self.snapshots.append(snapshot)
        while self.snapshots and self.snapshots[0].at < snapshot.at - self.keep:
            self.snapshots.popleft()

    def __iter__(self) -> Iterator[Snapshot]:
        return iter(self.snapshots)

    def __len__(self) -> int:
        return len(self.snapshots)

    @property
    def latest(self) -> Snapshot | None:
        return self.snapshots[-1] if self.snapshots else None

    def since(self, at: float) -> list[Snapshot]:
        """Snapshots taken at or after ``at``."""
        times = [s.at for s in self.snapshots]
        return list(self.snapshots)[bisect.bisect_left(times, at):]

    def at_or_before(self, at: float) -> Snapshot | None:
        """The latest snapshot taken at or before ``at``."""
        times = [s.at for s in self.snapshots]
        index = bisect.bisect_right(times, at)
        return self.snapshots[index - 1] if index else None
