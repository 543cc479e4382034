"""Run scenarios on two sides (live targets or recorded snapshots) and compare them."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from parity import diffing, snapshots
from parity.normalise import normalise_steps
from parity.scenario import CRASH_LABEL, Context, Scenario, crash_step
from parity.targets import Target

SCENARIO_TIMEOUT_S = 180.0


class ScenarioTimeout(Exception):
    """A scenario did not finish in time: its target stopped answering."""


def run_scenario(scenario: Scenario, target: Target, timeout: float | None = None) -> dict:
    """Run one scenario on a started target; the normalised result (crashes are a step too).

    A target that stops answering (the clients wait, or retry for minutes) would stall the
    whole run: past `timeout` the scenario is recorded as crashed with `hung` set, and left
    behind on its (daemon) thread; the caller restarts the target."""
    timeout = SCENARIO_TIMEOUT_S if timeout is None else timeout
    ctx = Context(target)
    started = time.monotonic()
    failure: list[Exception] = []

    def body() -> None:
        try:
            scenario.run(ctx)
        except Exception as exc:  # a broken scenario or target is recorded, not fatal
            failure.append(exc)

    worker = threading.Thread(target=body, name=f"scenario-{scenario.name}", daemon=True)
    worker.start()
    worker.join(timeout)
    hung = worker.is_alive()
    steps = list(ctx.steps)
    if hung:
        steps.append(crash_step(ScenarioTimeout(f"no answer within {timeout:.0f} s")))
    else:
        if failure:
            steps.append(crash_step(failure[0]))
        ctx.run_cleanups()
    result = {
        "scenario": scenario.name,
        "service": scenario.service,
        "target": target.label,
        "seconds": round(time.monotonic() - started, 2),
        "steps": normalise_steps([s.to_dict() for s in steps], ctx.token, target.project),
    }
    if hung:
        result["hung"] = True
    return result


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
        if not self.serves(scenario):
            return None
        result = run_scenario(scenario, self.target)
        if result.get("hung"):  # a fresh target for the scenarios after it
            self.target.stop()
            self.target.start(set(self._started))
        return result

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
