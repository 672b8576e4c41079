"""Waiting for a cloud's database: a conductor may start before ``twinstack serve`` has made it."""

from __future__ import annotations

import time

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from twinstack.config import Settings
from twinstack.db import migrate
from twinstack.db.models.identity import SigningKey
from twinstack.db.session import make_engine


class DatabaseNotReady(Exception):
    """The database was not migrated and given its signing key in time."""


def wait_for_cloud(settings: Settings, timeout: float = 300.0, pause: float = 0.5) -> None:
    """Block until the database is at the newest migration and has a signing key (what ``serve`` or ``bootstrap``
    make first). Why wait rather than migrate: two processes migrating one new database at once collide, and
    the parts of a cloud are often started together (a supervisor, a test)."""
    engine = make_engine(settings.effective_database_url)
    head, deadline = migrate.head_revision(), time.monotonic() + timeout
    try:
        while True:
            try:
                if migrate.current_revision(engine) == head:
                    with engine.connect() as connection:
                        if connection.execute(select(SigningKey.id).limit(1)).first() is not None:
                            return
            except SQLAlchemyError:
                pass  # not there yet (no database, no tables)
            if time.monotonic() > deadline:
                raise DatabaseNotReady(f"the database at {engine.url!r} was not made within {timeout} s: "
                                       "start 'twinstack serve' or run 'twinstack bootstrap' first")
            time.sleep(pause)
    finally:
        engine.dispose()
