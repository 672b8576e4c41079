"""Options every ``twinstack`` command that opens a cloud's database takes, spelled once, and the opening."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from twinstack.config import Settings, load_settings

if TYPE_CHECKING:
    from twinstack.db.session import SessionFactory

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Where the cloud keeps its state.")]
DatabaseUrl = Annotated[str | None, typer.Option("--database-url", help="SQLAlchemy URL (default: SQLite).")]


@contextmanager
def database_sessions(data_dir: Path | None, database_url: str | None) -> Iterator[tuple[Settings, SessionFactory]]:
    """The cloud's settings and sessions on its database, as it is (not migrated), for a command beside it; the
    engine is disposed of when the block ends."""
    from twinstack.db.session import make_engine, make_session_factory

    settings = load_settings(data_dir=data_dir, database_url=database_url)
    engine = make_engine(settings.effective_database_url)
    try:
        yield settings, make_session_factory(engine)
    finally:
        engine.dispose()
