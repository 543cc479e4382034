"""Load shapes as plain schedules: how many users at each second of the run.

Kept free of Locust (importing locust monkey-patches the process with gevent), so the
schedules can be tested anywhere; ``loadtest/locustfile.py`` wraps them in a LoadTestShape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

KINDS = ("steady", "ramp", "spike")


@dataclass(frozen=True)
class ShapePlan:
    """``kind`` over ``run_time`` seconds with at most ``peak_users`` (plus ``fixed_users``).

    * steady: ramp to the peak over the first 10 % of the run, then hold it;
    * ramp: grow linearly from one user to the peak over the run (a step a second);
    * spike: a quarter of the peak, the full peak for the middle 20 % of the run, then back.

    ``fixed_users`` (the end-to-end probe) are always added on top, so the publishers never
    lose a slot to the probe.
    """

    kind: str
    run_time: float
    peak_users: int
    fixed_users: int = 1

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown shape {self.kind!r}; choose one of {', '.join(KINDS)}")
        if self.run_time <= 0 or self.peak_users < 1:
            raise ValueError("a shape needs run_time > 0 and at least one user")

    def users_at(self, t: float) -> int:
        peak, share = self.peak_users, t / self.run_time
        if self.kind == "steady":
            users = peak if share >= 0.1 else math.ceil(peak * share / 0.1)
        elif self.kind == "ramp":
            users = 1 + math.floor((peak - 1) * min(1.0, share / 0.9))
        else:
            users = peak if 0.4 <= share < 0.6 else math.ceil(peak / 4)
        return max(1, users) + self.fixed_users

    def tick(self, t: float) -> tuple[int, float] | None:
        """Locust's ``tick()``: ``(users, spawn_rate)`` at ``t`` seconds, None when done."""
        if t >= self.run_time:
            return None
        # Spawn fast enough to reach any step of the schedule within a second.
        return self.users_at(t), float(self.peak_users + self.fixed_users)


def parse_duration(text: str | float | int) -> float:
    """``90``, ``"90s"``, ``"2m"``, ``"1h30m"`` -> seconds (Locust's --run-time syntax)."""
    if isinstance(text, int | float):
        return float(text)
    text, total, number = text.strip().lower(), 0.0, ""
    units = {"h": 3600, "m": 60, "s": 1}
    for char in text:
        if char.isdigit() or char == ".":
            number += char
        elif char in units and number:
            total, number = total + float(number) * units[char], ""
        else:
            raise ValueError(f"not a duration: {text!r} (use e.g. 60, 60s, 2m, 1h30m)")
    if number:
        total += float(number)
    if total <= 0:
        raise ValueError(f"not a positive duration: {text!r}")
    return total
