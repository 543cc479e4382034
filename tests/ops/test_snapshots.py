"""Scheduled snapshots: the 7-days-minus-backlog rule, names that sort by time, pruning, and the
harness's schedule against the emulator with the real client."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from harness.snapshots import ScheduledSnapshots
from ops import snapshots
from ops.rules import RulesError

DAY = 24 * 3600


def test_the_schedule_must_leave_a_live_snapshot_at_all_times():
    snapshots.check(6 * DAY, 0.5 * DAY)
    with pytest.raises(RulesError, match="7 days minus the backlog's age"):
        snapshots.check(6 * DAY, 1.5 * DAY)
    assert snapshots.lifetime(2 * DAY) == 5 * DAY and snapshots.lifetime(8 * DAY) == 0
    assert snapshots.parse_every("6h") == 6 * 3600
    with pytest.raises(RulesError, match="under a minute"):
        snapshots.parse_every("30s")


def test_names_sort_by_time_and_the_oldest_go():
    start = datetime(2030, 1, 1, tzinfo=timezone.utc)
    names = [f"projects/p/snapshots/{snapshots.name('events', start + timedelta(hours=h))}"
             for h in (3, 1, 2)]
    names.append("projects/p/snapshots/hand-made")
    assert [n.rsplit("-", 1)[-1] for n in snapshots.to_delete(names, "events", keep=1)] == [
        "20300101T010000Z", "20300101T020000Z"]


@pytest.mark.integration
def test_the_harness_takes_and_prunes_snapshots(provisioned_stack):
    stack = provisioned_stack
    schedule = ScheduledSnapshots(stack.endpoints, stack.config, stack.subscriber, every=3600,
                                  keep=1)
    first = schedule.take()
    listed = [s.name for s in stack.subscriber.list_snapshots(
        request={"project": f"projects/{stack.project}"})]
    assert first in listed and first.startswith(f"projects/{stack.project}/snapshots/events-")
    older = f"projects/{stack.project}/snapshots/events-pipeline-snap-20000101T000000Z"
    stack.subscriber.create_snapshot(request={"name": older, "subscription": stack.subscription})
    schedule.taken.insert(0, older)  # an older one of the schedule's, now past keep
    assert schedule.prune() == [older]
    listed = [s.name for s in stack.subscriber.list_snapshots(
        request={"project": f"projects/{stack.project}"})]
    assert listed == [first]
