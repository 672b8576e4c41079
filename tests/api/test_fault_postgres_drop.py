"""PostgreSQL dropping every connection of a served cloud in the middle of a burst of boots and deletes (issue
#9): the cloud keeps serving (its pool checks a connection before lending it), every accepted request settles
(ACTIVE, deleted, or ERROR with a fault), nothing stays building, and ``twinstack audit`` finds no leak."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.api.fault_burst import FaultCloud, Nova, check_settled, fault_cloud, run_burst, settle
from tests.conftest import POSTGRES_URL

pytestmark = pytest.mark.slow


def drop_connections(cloud: FaultCloud, times: int = 3, pause: float = 0.5) -> None:
    """Terminate, from the server's side, every connection to the cloud's database, ``times`` times."""
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            for _ in range(times):
                connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                        "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": cloud.database})
                time.sleep(pause)
    finally:
        admin.dispose()


def test_dropped_database_connections_lose_no_accepted_request_and_leak_nothing(tmp_path: Path) -> None:
    with fault_cloud(tmp_path) as cloud:
        nova = Nova(cloud.served)  # type: ignore[arg-type]
        burst = run_burst(nova, lambda: drop_connections(cloud))
        assert cloud.served is not None and cloud.served.process.poll() is None, cloud.logs()
        # requests in the middle of a transaction when their connection is killed fail (500: not accepted); the
        # others, before and after, are served on connections the pool checks before lending them
        assert len(burst.booted) >= 10 and burst.refused < 28, cloud.logs()
        try:
            final = settle(nova, burst)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{cloud.logs()}") from None
        check_settled(final, burst)
        nova.point_at(cloud.served)  # a new token, through the pool that lost every connection
        assert nova.boot("after-the-drops") is not None
        audited = cloud.audit()
        assert audited.returncode == 0, audited.stdout + audited.stderr
        assert json.loads(audited.stdout)["findings"] == []
