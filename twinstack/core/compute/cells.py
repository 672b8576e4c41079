"""Cells: the shards hosts belong to, the operator's switch that closes one to new builds, and where a cell keeps
its instances.

A host reports its cell when it registers, so a cell exists as soon as one of its hosts does; a record is kept
only once an operator changes something about it (disables it) or creates it with a database of its own
(``twinstack cell create``, Nova's cell mapping). A cell without its own database keeps its instances in the main
database (the default cell). The API lists instances and hosts across every cell; the scheduler never sends a new
build to a disabled cell, as Nova's host manager skips disabled cells when it loads host states, nor to a cell whose
database does not answer (its instances could not be recorded).
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from twinstack.core.errors import CloudError, NotFound

CELL_NAMESPACE = uuidlib.UUID("5b1f7c2e-63a4-4f7e-9d0a-2f6c4d8e1a37")
"""Cell uuids are derived from names, so a cell has the same uuid before and after it gets a record."""


def cell_uuid(name: str) -> str:
    return str(uuidlib.uuid5(CELL_NAMESPACE, name))


@dataclass(frozen=True)
class Cell:
    name: str
    uuid: str
    disabled: bool = False
    hosts: int = 0
    """How many compute hosts report this cell."""
    database_url: str | None = None
    """The cell's own database; None: the main database."""
    transport_url: str | None = None
    """The cell's own bus; None: the main bus."""
    instances: int = 0
    """Its live instances (those its database held when last asked)."""
    down: bool = False
    """Its own database did not answer, or its own bus refused a message a moment ago: it takes no new builds
    meanwhile."""


class UnknownCell(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"Cell {name} could not be found.")


class CellUnavailable(CloudError):
    """A cell's database did not answer (a server of that cell cannot be read nor changed meanwhile)."""

    status = 503
    title = "Service Unavailable"

    def __init__(self, cell: str) -> None:
        super().__init__(f"Cell {cell} is not reachable at the moment.")
        self.cell = cell


class CellStore(Protocol):
    def all(self) -> list[Cell]:
        """Every cell a host reports or a record names, by name."""
        ...

    def set_disabled(self, name: str, disabled: bool) -> Cell:
        """Open or close the cell to new builds; UnknownCell if no host reports it and no record names it."""
        ...


def closed_cells(cells: Iterable[Cell]) -> frozenset[str]:
    """The names of the cells that take no new builds: disabled, or with a database that does not answer."""
    return frozenset(c.name for c in cells if c.disabled or c.down)


class MemoryCellStore:
    """Cells over a callable listing the hosts' cell names (the memory host store's, in a simulation)."""

    def __init__(self, host_cells: Callable[[], Iterable[str]]) -> None:
        self._host_cells = host_cells
        self._disabled: dict[str, bool] = {}

    def all(self) -> list[Cell]:
        counts: dict[str, int] = {}
        for name in self._host_cells():
            counts[name] = counts.get(name, 0) + 1
        names = sorted(set(counts) | set(self._disabled))
        return [Cell(n, cell_uuid(n), self._disabled.get(n, False), counts.get(n, 0)) for n in names]

    def set_disabled(self, name: str, disabled: bool) -> Cell:
        if name not in self._disabled and name not in set(self._host_cells()):
            raise UnknownCell(name)
        self._disabled[name] = disabled
        return next(c for c in self.all() if c.name == name)
