"""RabbitMQ closing a served cloud's connections in the middle of a burst of boots and deletes (issue #9): the
shared broker keeps running (other tests use it); only this cloud's connections, found by the name each
connection gives the broker, are closed. The bus reconnects, the broker redelivers what was not acknowledged,
every accepted request settles (ACTIVE, deleted, or ERROR with a fault) and ``twinstack audit`` finds no leak."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.api.fault_burst import FaultCloud, Nova, check_settled, fault_cloud, run_burst, settle
from tests.rpc.broker import drop_connections

pytestmark = pytest.mark.slow


def drop_links(cloud: FaultCloud) -> None:
    dropped = drop_connections(cloud.prefix, "consumer") + drop_connections(cloud.prefix, "publisher")
    assert dropped >= 2, f"expected the cloud's consumer and publisher connections, closed {dropped}"


def test_dropped_broker_connections_lose_no_accepted_request_and_leak_nothing(tmp_path: Path) -> None:
    with fault_cloud(tmp_path) as cloud:
        nova = Nova(cloud.served)  # type: ignore[arg-type]
        burst = run_burst(nova, lambda: drop_links(cloud))
        assert cloud.served is not None and cloud.served.process.poll() is None, cloud.logs()
        assert len(burst.booted) >= 20, cloud.logs()
        try:
            final = settle(nova, burst)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{cloud.logs()}") from None
        check_settled(final, burst)
        assert nova.boot("after-the-drop") is not None
        audited = cloud.audit()
        assert audited.returncode == 0, audited.stdout + audited.stderr
        assert json.loads(audited.stdout)["findings"] == []
