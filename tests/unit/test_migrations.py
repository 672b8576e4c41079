"""Migrations build exactly the schema the models describe, on SQLite and on PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from twinstack.db import migrate
from twinstack.db.base import Base
from twinstack.db.session import make_engine


def test_upgrade_reaches_head_and_matches_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    assert migrate.current_revision(engine) is None
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
    engine.dispose()


def test_upgrade_twice_changes_nothing(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    engine.dispose()
