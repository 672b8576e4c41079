"""``twinstack cell``: list the cells and open or close one to new builds (nova-manage cell_v2's job).

Works on the cloud's database directly, as nova-manage does, so it runs beside a serving cloud: the
scheduler of a running cloud sees the change when it next re-reads its hosts, every
``scheduler.host_refresh_seconds`` (10 s by default), as Nova's scheduler re-reads its cell list.
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

cell_app = typer.Typer(help="List cells; disable or enable one for new builds.", no_args_is_help=True)



@contextmanager
def _store(data_dir: Path | None, database_url: str | None) -> Iterator[SqlCellStore]:
    from twinstack.db.stores.cells import SqlCellStore

    with database_sessions(data_dir, database_url) as (_settings, sessions):
        yield SqlCellStore(sessions)


def _row(cell: Cell) -> str:
    return f"{cell.name:<20} {cell.uuid:<36} {'disabled' if cell.disabled else 'enabled':<9} {cell.hosts:>6}"


@cell_app.command("list")
def list_cells(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Every cell with its uuid, whether it takes new builds, and how many hosts report it."""
    with _store(data_dir, database_url) as cells:
        typer.echo(f"{'Name':<20} {'UUID':<36} {'Status':<9} {'Hosts':>6}")
        for cell in cells.all():
            typer.echo(_row(cell))


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
