"""``twinstack cell``: create a cell with its own database, list the cells, open or close one to new builds, delete
an empty one (nova-manage cell_v2's job).

Works on the cloud's database directly, as nova-manage does, so it runs beside a serving cloud: the
scheduler of a running cloud sees the change when it next re-reads its hosts, every
``scheduler.host_refresh_seconds`` (10 s by default), as Nova's scheduler re-reads its cell list; the stores
of a running cloud re-read the cell records every 10 s.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from twinstack.cli_options import DatabaseUrl, DataDir, database_sessions
from twinstack.core.compute.cells import Cell, UnknownCell

if TYPE_CHECKING:
    from twinstack.db.stores.cells import SqlCellStore

cell_app = typer.Typer(help="Create, list, disable, enable or delete cells.", no_args_is_help=True)
ApiDatabaseUrl = Annotated[str | None, typer.Option(
    "--api-database-url", help="The main (API) database's SQLAlchemy URL (default: the data dir's SQLite).")]


@contextmanager
def _store(data_dir: Path | None, database_url: str | None) -> Iterator[SqlCellStore]:
    from twinstack.db.cell_databases import CellDatabases
    from twinstack.db.stores.cells import SqlCellStore

    with database_sessions(data_dir, database_url) as (_settings, sessions):
        databases = CellDatabases(sessions)
        try:
            yield SqlCellStore(sessions, databases)
        finally:
            databases.close()


def _database_state(cell: Cell) -> str:
    if cell.database_url is None:
        return "main"
    return "down" if cell.down else "up"


def _row(cell: Cell) -> str:
    from twinstack.db.cell_databases import mask

    database = mask(cell.database_url) if cell.database_url else "(main)"
    transport = mask(cell.transport_url) if cell.transport_url else "(main)"
    return (f"{cell.name:<20} {cell.uuid:<36} {'disabled' if cell.disabled else 'enabled':<9} {cell.hosts:>6} "
            f"{cell.instances:>9} {_database_state(cell):<5} {database} {transport}")


@cell_app.command("list")
def list_cells(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Every cell with its uuid, whether it takes new builds, how many hosts report it, its live instances, whether
    its own database answers, and its database and bus (passwords masked; "(main)": the main one)."""
    with _store(data_dir, database_url) as cells:
        typer.echo(f"{'Name':<20} {'UUID':<36} {'Status':<9} {'Hosts':>6} {'Instances':>9} {'DB':<5} Database "
                   "Transport")
        for cell in cells.listing():
            typer.echo(_row(cell))


@cell_app.command("create")
def create_cell(
    name: Annotated[str, typer.Option("--name", help="The new cell's name (the one its hosts will report).")],
    database_url: Annotated[str, typer.Option("--database-url", help="The cell's own database (SQLAlchemy URL).")],
    transport_url: Annotated[str | None, typer.Option(
        "--transport-url", help="The cell's own bus: an AMQP URL (its queues named <bus prefix>.<name>, or "
        "?prefix=P), where 'twinstack conductor --cell NAME' and the cell's agents run; inprocess://NAME: inside "
        "'twinstack serve'. Default: the main bus.")] = None,
    data_dir: DataDir = None, api_database_url: ApiDatabaseUrl = None,
) -> None:
    """Create a cell with its own database: the database is migrated (it holds the cell's instances and their
    actions), then the cell is recorded in the main database. Hosts reporting this cell afterwards keep their
    instances there."""
    import time

    from twinstack.core.errors import Conflict
    from twinstack.db import migrate
    from twinstack.db.session import make_engine

    if database_url.startswith("sqlite:///"):
        Path(database_url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    with database_sessions(data_dir, api_database_url) as (settings, _sessions):
        if settings.effective_database_url.startswith("sqlite:///"):
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        main = make_engine(settings.effective_database_url)
        try:
            migrate.upgrade(main)  # the cell mapping columns may be newer than the cloud's last start
        finally:
            main.dispose()
    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    with _store(data_dir, api_database_url) as cells:
        try:
            cell = cells.create(name, database_url, transport_url, time.time())
        except Conflict as exc:
            typer.echo(exc.message, err=True)
            raise typer.Exit(1) from None
    typer.echo(_row(cell))


@cell_app.command("delete")
def delete_cell(name: Annotated[str, typer.Argument(help="The cell's name.")],
                data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Forget a cell's record; refused while hosts report it or live instances are mapped to it. Its database is
    left as it is."""
    from twinstack.core.errors import Conflict

    with _store(data_dir, database_url) as cells:
        try:
            cells.delete(name)
        except (Conflict, UnknownCell) as exc:
            typer.echo(exc.message, err=True)
            raise typer.Exit(1) from None
    typer.echo(f"Cell {name} deleted.")


def _switch(name: str, disabled: bool, data_dir: Path | None, database_url: str | None) -> None:
    with _store(data_dir, database_url) as cells:
        try:
            cell = cells.set_disabled(name, disabled)
        except UnknownCell as exc:
            typer.echo(exc.message, err=True)
            raise typer.Exit(1) from None
    typer.echo(_row(cell))
    typer.echo("A running cloud's scheduler sees this within scheduler.host_refresh_seconds.")


@cell_app.command("disable")
def disable_cell(name: Annotated[str, typer.Argument(help="The cell's name.")],
                 data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Close the cell to new builds; what runs there keeps running and can still be listed and deleted."""
    _switch(name, True, data_dir, database_url)


@cell_app.command("enable")
def enable_cell(name: Annotated[str, typer.Argument(help="The cell's name.")],
                data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Open the cell to new builds again."""
    _switch(name, False, data_dir, database_url)
