"""``Stack.kill`` / ``Stack.restart`` on the embedded backend: SIGKILL one emulator, start it again
with its own arguments on the same port and data (tests/containers does the same on volumes)."""

from __future__ import annotations

import pytest

from harness import clients
from harness.stack import Stack, StackError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def test_a_killed_emulator_restarts_on_its_port_and_data(tmp_path):
    with Stack(data_dir=tmp_path / "data") as stack:
        before = stack.endpoints
        bigquery = clients.bigquery(before, "restart-project")
        bigquery.create_dataset("restart-project.kept")
        old_pid = next(p for p in stack.processes if p.name == "bigquery").pid
        stack.kill("bigquery")
        assert "bigquery" in before.unanswered()

        after = stack.restart("bigquery")
        assert after == before  # same ports
        restarted = next(p for p in stack.processes if p.name == "bigquery")
        assert restarted.pid != old_pid
        # its own arguments again: BigQuery still reads gs:// through the storage emulator
        assert "--storage-endpoint" in restarted.argv
        assert [d.dataset_id for d in clients.bigquery(after, "restart-project").list_datasets()] \
            == ["kept"]
        with pytest.raises(StackError, match="no nosuch emulator"):
            stack.kill("nosuch")
