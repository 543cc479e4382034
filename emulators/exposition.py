"""Metrics in the Prometheus text format, named as Cloud Monitoring names them.

Both emulators serve their metrics at ``GET /_emulator/metrics``. A Cloud Monitoring metric type
becomes a Prometheus name the way Google's own PromQL support maps it (``pubsub.googleapis.com/
subscription/num_undelivered_messages`` -> ``pubsub_googleapis_com:subscription_num_undelivered_
messages``), with the monitored resource's labels (``project_id``, ``subscription_id``, ...) and
the metric's own labels, so a dashboard or an alert written against one reads the other.
Cloud Monitoring's DELTA counts are cumulative counters here (since the process started).
Metrics Cloud Monitoring has no name for start with ``emulator_`` or are Prometheus's standard
process metrics.

Written by hand (about forty lines) rather than with prometheus_client: its counters insist on
a ``_total`` suffix, which would break the Cloud Monitoring names, and the emulator images do not
need another dependency for it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
Labels = Mapping[str, str]


def prometheus_name(metric_type: str) -> str:
    """``pubsub.googleapis.com/subscription/ack_message_count`` ->
    ``pubsub_googleapis_com:subscription_ack_message_count``; other names are returned as they are."""
    if "/" not in metric_type:
        return metric_type
    domain, _, path = metric_type.partition("/")
    return f"{domain.replace('.', '_')}:{path.replace('/', '_')}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items()) + "}"


def _number(value: float) -> str:
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "+Inf" if value > 0 else "-Inf"
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
    return repr(value)


class Exposition:
    """Families of samples, rendered in the text exposition format (version 0.0.4)."""

    def __init__(self) -> None:
        self._families: dict[str, tuple[str, str, list[str]]] = {}

    def add(self, metric: str, kind: str, help_text: str, samples: Iterable[tuple[Labels, float]]):
        """``kind``: gauge or counter; ``metric``: a Cloud Monitoring type or a plain name."""
        name = prometheus_name(metric)
        family = self._families.setdefault(name, (kind, help_text, []))
        family[2].extend(f"{name}{_labels(labels)} {_number(value)}" for labels, value in samples)

    def histogram(self, metric: str, help_text: str, series: Iterable[tuple[Labels, list, float]]):
        """``series``: (labels, [(upper bound, cumulative count), ...], sum); the last bucket's
        count is the total."""
        name = prometheus_name(metric)
        lines = self._families.setdefault(name, ("histogram", help_text, []))[2]
        for labels, buckets, total in series:
            for bound, count in buckets:
                le = "+Inf" if math.isinf(bound) else _number(float(bound))
                lines.append(f"{name}_bucket{_labels({**labels, 'le': le})} {count}")
            lines.append(f"{name}_count{_labels(labels)} {buckets[-1][1] if buckets else 0}")
            lines.append(f"{name}_sum{_labels(labels)} {_number(total)}")

    def render(self) -> str:
        out: list[str] = []
        for name, (kind, help_text, lines) in self._families.items():
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} {kind}")
            out.extend(lines)
        return "\n".join(out) + "\n"


def resident_memory_bytes() -> int:
    """This process's resident set size (Linux /proc; elsewhere the peak, from getrusage)."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if os.uname().sysname == "Darwin" else peak * 1024


def directory_bytes(path: str | None) -> int:
    """Bytes of the files under ``path`` (0 without a data directory)."""
    if not path:
        return 0
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass  # a file removed while we walk (WAL checkpoints)
    return total


def add_process_metrics(exposition: Exposition, emulator: str, data_dir: str | None) -> None:
    """What the resource-exhaustion alerts read: memory and the size of ``--data-dir``."""
    labels = {"emulator": emulator}
    exposition.add("process_resident_memory_bytes", "gauge",
                   "Resident memory size in bytes.", [(labels, resident_memory_bytes())])
    exposition.add("emulator_data_dir_bytes", "gauge",
                   "Bytes stored under --data-dir (0 when in memory).",
                   [(labels, directory_bytes(data_dir))])
