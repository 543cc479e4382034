"""The load shapes' tick() schedules and the run-time parser."""

import pytest

from loadtest.shapes import ShapePlan, parse_duration


def schedule(plan: ShapePlan, step: float = 1.0) -> list:
    ticks, t = [], 0.0
    while True:
        tick = plan.tick(t)
        ticks.append(tick)
        if tick is None:
            return ticks
        t += step


def test_steady_ramps_over_the_first_tenth_then_holds_the_peak_plus_the_probe():
    ticks = schedule(ShapePlan("steady", run_time=20, peak_users=10))
    assert [users for users, _ in ticks[:-1]] == [2, 6] + [11] * 18
    assert ticks[-1] is None
    assert {rate for _, rate in ticks[:-1]} == {11.0}


def test_ramp_grows_one_step_at_a_time_to_the_peak_and_never_shrinks():
    users = [tick[0] for tick in schedule(ShapePlan("ramp", run_time=10, peak_users=10))[:-1]]
    assert users[0] == 2 and users[-1] == 11
    assert users == sorted(users)
    assert len(users) == 10


def test_spike_goes_to_the_peak_in_the_middle_fifth_only():
    users = [tick[0] for tick in schedule(ShapePlan("spike", run_time=10, peak_users=8))[:-1]]
    assert users == [3, 3, 3, 3, 9, 9, 3, 3, 3, 3]


def test_the_schedule_ends_exactly_at_run_time():
    plan = ShapePlan("steady", run_time=5, peak_users=2, fixed_users=0)
    assert plan.tick(4.999) == (2, 2.0)
    assert plan.tick(5.0) is None


@pytest.mark.parametrize(
    "kwargs", [{"kind": "sawtooth"}, {"run_time": 0}, {"peak_users": 0}]
)
def test_bad_plans_are_refused(kwargs):
    with pytest.raises(ValueError):
        ShapePlan(**{"kind": "steady", "run_time": 10, "peak_users": 5, **kwargs})


@pytest.mark.parametrize(
    "text, seconds", [("60", 60), ("45s", 45), ("2m", 120), ("1h30m", 5400), (90, 90)]
)
def test_durations_in_locust_syntax(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "ten", "5x", "0s"])
def test_bad_durations_are_refused(text):
    with pytest.raises(ValueError):
        parse_duration(text)
