"""kill -9 of ``twinstack serve`` in the middle of a burst of boots and deletes, then a restart (issue #9): every
accepted request settles (ACTIVE, deleted, or ERROR with a fault), nothing stays building, and ``twinstack audit``
finds no leaked allocation, port or attachment. The restarted conductor finishes what the dead one left
(:mod:`twinstack.core.compute.recovery`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.api.fault_burst import Nova, check_settled, fault_cloud, run_burst, settle

pytestmark = pytest.mark.slow


def test_a_killed_and_restarted_cloud_settles_every_accepted_request_and_leaks_nothing(tmp_path: Path) -> None:
    with fault_cloud(tmp_path) as cloud:
        nova = Nova(cloud.served)  # type: ignore[arg-type]
        burst = run_burst(nova, cloud.kill)
        restarted = cloud.start()
        nova.point_at(restarted)
        assert len(burst.booted) >= 10, cloud.logs()  # the fault came in the middle, not before everything
        try:
            final = settle(nova, burst)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{cloud.logs()}") from None
        check_settled(final, burst)
        audited = cloud.audit()
        assert audited.returncode == 0, audited.stdout + audited.stderr
        assert json.loads(audited.stdout)["findings"] == []
