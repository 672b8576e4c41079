"""Engines and sessions for SQLite (the embedded default) and PostgreSQL."""

from __future__ import annotations

import json
import select
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool


def json_loads(text: str | bytes) -> Any:
    """JSON columns read with orjson (a page of 100 servers decodes 800 of them: a sixth of its time with the
    standard library); what orjson refuses but the standard library wrote (NaN, integers beyond 64 bits) is
    read as before."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


SQLITE_POOL_SIZE = 20
"""Connections an SQLite file's engine keeps open (and as many more it may open for a moment)."""


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine tuned per back end: SQLite gets WAL, a busy timeout and foreign keys on; both read JSON
    columns with :func:`json_loads`."""
    kwargs.setdefault("json_deserializer", json_loads)
    if url.startswith("sqlite"):
        if url in ("sqlite://", "sqlite:///:memory:"):
            # One shared connection, so every thread of a test sees the same in-memory database.
            kwargs.setdefault("poolclass", StaticPool)
        else:
            # As many kept connections as requests run at once (8 users listing servers plus the conductor): with
            # the default 5, every sixth connection was opened and closed again per request, and a new SQLite
            # connection pays its pragmas and reads the whole schema again on its first statement.
            kwargs.setdefault("pool_size", SQLITE_POOL_SIZE)
            kwargs.setdefault("max_overflow", SQLITE_POOL_SIZE)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            if ":memory:" not in url and url != "sqlite://":
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        event.listen(engine, "checkout", _refuse_closed_connection)
    return engine


def _refuse_closed_connection(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """The pool's check of a connection before lending it, without a round trip to the server.

    A connection resting in the pool has nothing to read: if its socket is readable (the server's FATAL message
    before it closed, as ``pg_terminate_backend`` or a restart sends) or hung up, the server dropped it, and the
    pool is told so (it discards the connection and opens another). ``pool_pre_ping`` asked the server instead,
    one ``SELECT 1`` per transaction: a tenth of a conductor's time over PostgreSQL, which makes about ten short
    transactions per build. Whatever else could make an idle socket readable costs at most a new connection.
    """
    if dbapi_connection.closed or _readable(dbapi_connection.fileno()):
        raise DisconnectionError("the server closed this connection while it rested in the pool")


def _readable(fd: int) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI | select.POLLHUP | select.POLLERR)
    return bool(poller.poll(0))


SessionFactory = sessionmaker[Session]


def make_session_factory(engine: Engine) -> SessionFactory:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: SessionFactory) -> Iterator[Session]:
    """One unit of work: committed when the block ends, rolled back if it raises."""
    with factory() as session, session.begin():
        yield session
