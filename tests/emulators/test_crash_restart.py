"""Each emulator killed with SIGKILL mid-stream and restarted on the same ``--data-dir``
(the scenarios are in tests/support/crash.py; tests/containers runs them on Docker volumes)."""

from __future__ import annotations

import pytest

from tests.support import crash
from tests.support.emulators import endpoints

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def test_pubsub_sigkill_loses_no_acknowledged_publish_and_redelivers_unacked(emulator, tmp_path):
    data_dir = tmp_path / "pubsub-data"
    first = emulator("pubsub", data_dir=data_dir)
    crash.pubsub_survives_sigkill(
        endpoints(first, None),
        kill=first.kill,
        restart=lambda: endpoints(emulator("pubsub", data_dir=data_dir), None),
    )


def test_bigquery_sigkill_keeps_every_acknowledged_insert(emulator, tmp_path):
    data_dir = tmp_path / "bq-data"
    first = emulator("bigquery", data_dir=data_dir)
    crash.bigquery_survives_sigkill(
        endpoints(None, first),
        kill=first.kill,
        restart=lambda: endpoints(None, emulator("bigquery", data_dir=data_dir)),
    )
