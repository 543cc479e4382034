"""Local evaluation of alert rules over a time series of samples, as Cloud Monitoring evaluates
the exported policies: per condition, each selected time series is aligned over the window
(rate, delta, mean, max, min, latest), reduced across series (sum, max, min, mean, or each alone),
divided by its denominator if it has one, and compared with the threshold; a rule whose
conditions (combined with AND or OR) hold for its duration fires, and resolves once they no
longer hold. Absence conditions hold while a series seen before has had no sample for the
window and the duration.

Times are seconds on the sampler's clock (``Snapshot.at``); :class:`Incident` also carries the
wall-clock times for reports and notifications.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from ops.rules import Condition, Rule, Rules, Series
from ops.samples import Sample, TimeSeries, series_name


@dataclass
class Incident:
    """One firing of a rule, open until it resolves."""

    rule: Rule
    started_at: float  # sampler clock
    started_wall: datetime
    value: float | None = None
    ended_at: float | None = None
    ended_wall: datetime | None = None

    @property
    def state(self) -> str:
        return "open" if self.ended_at is None else "closed"

    def summary(self) -> str:
        value = "" if self.value is None else f" (value {self.value:.4g})"
        if self.state == "open":
            return f"FIRING   [{self.rule.severity}] {self.rule.name}: {self.rule.display_name}{value}"
        return (f"RESOLVED [{self.rule.severity}] {self.rule.name} after "
                f"{self.ended_at - self.started_at:.1f}s")


def _matches(sample: Sample, flt: dict) -> bool:
    for label, wanted in flt.items():
        values = [str(v) for v in wanted] if isinstance(wanted, list) else [str(wanted)]
        if sample.labels.get(label) not in values:
            return False
    return True


def _align(points: list[tuple[float, float]], aligner: str) -> float | None:
    """One series' points (time, value), oldest first, over the window -> one value."""
    if not points:
        return None
    values = [v for _, v in points]
    if aligner == "latest":
        return values[-1]
    if aligner in ("max", "min", "mean"):
        return {"max": max, "min": min, "mean": lambda v: sum(v) / len(v)}[aligner](values)
    if len(points) < 2:
        return None  # a count needs two points to say how much it moved
    increase = 0.0
    for (_, before), (_, after) in zip(points, points[1:], strict=False):
        increase += after - before if after >= before else after  # a reset (restart) counts anew
    if aligner == "delta":
        return increase
    elapsed = points[-1][0] - points[0][0]
    return increase / elapsed if elapsed > 0 else None


def _reduce(values: list[float], reducer: str) -> float | None:
    if not values:
        return None
    if reducer == "sum":
        return sum(values)
    if reducer == "max":
        return max(values)
    if reducer == "min":
        return min(values)
    return sum(values) / len(values)


class Evaluator:
    """Rules over one :class:`TimeSeries`; :meth:`evaluate` after each new snapshot."""

    def __init__(self, rules: Rules, series: TimeSeries, wall=None):
        self.rules = rules
        self.series = series
        self.wall = wall or (lambda: datetime.now(timezone.utc))
        self.open: dict[str, Incident] = {}
        self.history: list[Incident] = []
        self._since: dict[str, float] = {}  # rule -> when its conditions began to hold
        self._seen: dict[str, set[tuple]] = {}  # absent-condition key -> series ever seen

    # -- one condition ------------------------------------------------------------------------

    def _points(self, series: Series, start: float) -> dict[tuple, list[tuple[float, float]]]:
        name = series_name(series.metric)
        out: dict[tuple, list[tuple[float, float]]] = {}
        previous: float | None = None  # the last snapshot before this one, in the window
        counting = series.aligner in ("rate", "delta")
        for snapshot in self.series.since(start):
            for sample in snapshot.samples.values():
                if sample.name == name and _matches(sample, series.filter):
                    labels = sample.key()[1]  # per series; a ratio pairs series by labels
                    points = out.get(labels)
                    if points is None:
                        points = out[labels] = []
                        if counting and previous is not None:
                            # a count that appears inside the window was zero just before it
                            points.append((previous, 0.0))
                    points.append((snapshot.at, sample.value))
            previous = snapshot.at
        return out

    def _value(self, series: Series, start: float) -> dict[tuple, float] | float | None:
        """Aligned (and, unless the reducer is none, reduced) value of a series selector."""
        aligned = {k: _align(p, series.aligner) for k, p in self._points(series, start).items()}
        aligned = {k: v for k, v in aligned.items() if v is not None}
        if series.reducer == "none":
            return aligned
        return _reduce(list(aligned.values()), series.reducer)

    def condition_value(self, condition: Condition, now: float) -> tuple[bool, float | None]:
        """(holds, the value compared) of a condition at ``now``."""
        start = now - condition.local_window
        if condition.absent:
            return self._absent(condition, now, start), None
        value = self._value(condition.series, start)
        if condition.denominator is not None:
            denominator = self._value(condition.denominator, start)
            value = _divide(value, denominator)
        if isinstance(value, dict):
            held = [v for v in value.values() if condition.met(v)]
            return bool(held), (max(held) if held else None)
        if value is None:
            return False, None
        return condition.met(value), value

    def _absent(self, condition: Condition, now: float, start: float) -> bool:
        seen = self._seen.setdefault(repr(condition), set())
        recent = self._points(condition.series, start)
        seen.update(recent)
        first = self.series.snapshots[0].at if len(self.series) else now
        if not seen or first > start:  # never seen, or not sampled for a whole window yet
            return False
        if condition.series.reducer == "none":
            return any(k not in recent for k in seen)
        return not recent

    # -- rules --------------------------------------------------------------------------------

    def holds(self, rule: Rule, now: float) -> tuple[bool, float | None]:
        results = [self.condition_value(c, now) for c in rule.conditions]
        combine = all if rule.combiner == "and" else any
        value = next((v for ok, v in results if ok and v is not None), None)
        return combine(ok for ok, _ in results), value

    def evaluate(self, now: float | None = None) -> list[Incident]:
        """Opened and closed incidents at ``now`` (default: the latest snapshot's time)."""
        if now is None:
            latest = self.series.latest
            if latest is None:
                return []
            now = latest.at
        changed = []
        for rule in self.rules.rules:
            held, value = self.holds(rule, now)
            incident = self.open.get(rule.name)
            if held:
                since = self._since.setdefault(rule.name, now)
                if incident is None and now - since >= rule.local_duration:
                    incident = Incident(rule, now, self.wall(), value)
                    self.open[rule.name] = incident
                    self.history.append(incident)
                    changed.append(incident)
                elif incident is not None and value is not None:
                    incident.value = value
            else:
                self._since.pop(rule.name, None)
                if incident is not None:
                    incident.ended_at, incident.ended_wall = now, self.wall()
                    del self.open[rule.name]
                    changed.append(incident)
        return changed


def _divide(numerator, denominator):
    if numerator is None or denominator is None:
        return None
    if isinstance(numerator, dict):
        if isinstance(denominator, dict):
            return {k: v / denominator[k] for k, v in numerator.items()
                    if denominator.get(k)}  # fmt: skip
        return {k: v / denominator for k, v in numerator.items()} if denominator else None
    return numerator / denominator if denominator else None
