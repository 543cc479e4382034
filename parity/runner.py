"""Run scenarios on two sides (live targets or recorded snapshots) and compare them."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from parity import diffing, snapshots
from parity.normalise import normalise_steps
from parity.scenario import CRASH_LABEL, Context, Scenario, crash_step
from parity.targets import Target


def run_scenario(scenario: Scenario, target: Target) -> dict:
    """Run one scenario on a started target; the normalised result (crashes are a step too)."""
    ctx = Context(target)
    started = time.monotonic()
    try:
        scenario.run(ctx)
    except Exception as exc:  # a broken scenario or target is recorded, not fatal
        ctx.steps.append(crash_step(exc))
    finally:
        ctx.run_cleanups()
    return {
        "scenario": scenario.name,
        "service": scenario.service,
        "target": target.label,
        "seconds": round(time.monotonic() - started, 2),
        "steps": normalise_steps([s.to_dict() for s in ctx.steps], ctx.token, target.project),
    }


class Live:
    """A side that runs scenarios on a target (started on first use, for the services needed)."""

    def __init__(self, target: Target):
        self.target = target
        self.label = target.label
        self._started: set[str] = set()

    def serves(self, scenario: Scenario) -> bool:
        if scenario.local_only and getattr(self.target, "remote", False):
            return False
        return scenario.service in self.target.services

    def prepare(self, scenarios: list[Scenario]) -> None:
        missing = {s.service for s in scenarios if self.serves(s)} - self._started
        if missing:
            self.target.start(missing)
            self._started |= missing

    def result(self, scenario: Scenario) -> dict | None:
        return run_scenario(scenario, self.target) if self.serves(scenario) else None

    def close(self) -> None:
        self.target.stop()


class Replay:
    """A side read from recorded snapshots; a scenario without a file is unsupported."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise FileNotFoundError(f"no snapshot directory {self.directory}")
        self.label = f"replay:{snapshots.recorded_target(self.directory)}"

    def serves(self, scenario: Scenario) -> bool:
        return (self.directory / f"{scenario.name}.json").exists()

    def prepare(self, scenarios: list[Scenario]) -> None:
        pass

    def result(self, scenario: Scenario) -> dict | None:
        return snapshots.read(self.directory, scenario.name)

    def close(self) -> None:
        pass


@dataclass
class Outcome:
    """The comparison of one scenario."""

    scenario: str
    service: str
    description: str
    status: str  # same | different | crashed | unsupported
    diff: str = ""
    differing: tuple[str, ...] = ()
    a: dict | None = None
    b: dict | None = None
    unsupported_by: str = ""

    def to_dict(self) -> dict:
        return {
            "scenario": self.scenario,
            "service": self.service,
            "description": self.description,
            "status": self.status,
            "unsupported_by": self.unsupported_by,
            "differing_steps": list(self.differing),
            "diff": self.diff,
            "a": self.a,
            "b": self.b,
        }


def compare(scenarios: list[Scenario], a, b, progress=None) -> list[Outcome]:
    """Each scenario on both sides; unsupported when either side does not serve it."""
    a.prepare(scenarios)
    b.prepare(scenarios)
    outcomes = []
    for scenario in scenarios:
        missing = [side.label for side in (a, b) if not side.serves(scenario)]
        if missing:
            outcome = Outcome(
                scenario.name,
                scenario.service,
                scenario.description,
                "unsupported",
                unsupported_by=", ".join(missing),
            )
        else:
            ra, rb = a.result(scenario), b.result(scenario)
            text = diffing.diff(ra["steps"], rb["steps"], a.label, b.label)
            status = "different" if text else "same"
            if _crashed(ra) or _crashed(rb):
                status = "crashed"  # even when both broke alike: the scenario did not finish
            outcome = Outcome(
                scenario.name,
                scenario.service,
                scenario.description,
                status,
                text,
                tuple(diffing.differing_labels(ra["steps"], rb["steps"])),
                ra,
                rb,
            )
        outcomes.append(outcome)
        if progress:
            progress(outcome)
    return outcomes


def _crashed(result: dict) -> bool:
    return any(step["label"] == CRASH_LABEL for step in result["steps"])


def record(scenarios: list[Scenario], side: Live, directory: Path, progress=None) -> list[dict]:
    """Run the scenarios ``side`` serves and write their results to ``directory``."""
    side.prepare(scenarios)
    results = []
    for scenario in scenarios:
        if not side.serves(scenario):
            continue
        result = side.result(scenario)
        snapshots.write(Path(directory), result)
        results.append(result)
        if progress:
            progress(result)
    return results
