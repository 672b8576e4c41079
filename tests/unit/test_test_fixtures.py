"""The test fixtures themselves: a module gets PostgreSQL only when it asks for it."""

from __future__ import annotations

from twinstack.cloud import Cloud


def test_the_plain_cloud_fixture_is_sqlite_only(cloud: Cloud) -> None:
    """Modules that do not import ``tests.databases.on_each_database`` run once, on SQLite: were the opt-in to
    leak into every module, this test would be collected a second time, on PostgreSQL, and fail there."""
    assert cloud.engine.dialect.name == "sqlite"
