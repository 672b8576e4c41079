"""The engines' pools: a PostgreSQL connection the server dropped while it rested in the pool is never lent (found
without a round trip), and an SQLite file keeps a connection per concurrent request."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, text

from tests.conftest import POSTGRES_URL
from twinstack.db.session import SQLITE_POOL_SIZE, make_engine


def test_a_connection_the_server_terminated_in_the_pool_is_replaced_not_lent() -> None:
    engine = make_engine(POSTGRES_URL, pool_size=1, max_overflow=0)
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            first = connection.execute(text("SELECT pg_backend_pid()")).scalar()
        with admin.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # until the server has really closed it
            with admin.connect() as connection:
                if not connection.execute(text("SELECT 1 FROM pg_stat_activity WHERE pid = :pid"),
                                          {"pid": first}).first():
                    break
            time.sleep(0.05)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT pg_backend_pid()")).scalar() != first
    finally:
        engine.dispose()
        admin.dispose()


def test_a_live_pooled_connection_is_lent_without_pinging_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine(POSTGRES_URL, pool_size=1, max_overflow=0)
    pings: list[object] = []
    monkeypatch.setattr(engine.dialect, "do_ping", lambda connection: pings.append(connection) or True)
    try:
        for _ in range(3):
            with engine.connect() as connection:
                assert connection.execute(text("SELECT 42")).scalar() == 42
        assert pings == []
    finally:
        engine.dispose()


def test_an_sqlite_file_keeps_a_connection_for_each_of_many_concurrent_requests(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'pool.db'}")
    opened: list[object] = []
    event.listen(engine, "connect", lambda connection, _record: opened.append(connection))
    together = threading.Barrier(8)

    def request() -> None:
        with engine.connect() as connection:
            together.wait(10)  # eight connections out at once
            connection.execute(text("SELECT 1"))

    try:
        for _ in range(3):
            threads = [threading.Thread(target=request) for _ in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        assert len(opened) == 8 <= SQLITE_POOL_SIZE  # opened once, then kept
    finally:
        engine.dispose()
