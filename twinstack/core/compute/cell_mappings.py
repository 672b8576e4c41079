"""Where an instance of a cell with its own database is kept, and what the API still knows of it while that
database does not answer (Nova's instance mappings, and the request spec fields it shows for a down cell from
microversion 2.69)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from twinstack.core.compute.model import Instance
from twinstack.core.compute.stores import InstanceQuery


@dataclass(frozen=True)
class InstanceMapping:
    instance_uuid: str
    cell: str | None
    """The cell whose own database holds the record; None: the main database."""
    project_id: str
    user_id: str
    created_at: float
    flavor: dict[str, Any] = field(default_factory=dict)
    image_id: str | None = None
    availability_zone: str | None = None
    """The zone asked for at boot, if any."""
    server_group_id: str | None = None
    moving: bool = False
    """A move between databases is under way (or was cut short): the record may still be in ``moved_from``."""
    moved_from: str | None = None
    deleted: bool = False


@dataclass(frozen=True)
class CellListing:
    """A listing across cells: the instances of the cells that answered, and the cells that did not."""

    instances: list[Instance]
    down: frozenset[str] = frozenset()


@runtime_checkable
class SpansCells(Protocol):
    """An instance store over several cell databases, which can say what it could not read."""

    def find_across(self, query: InstanceQuery) -> CellListing:
        """:meth:`InstanceStore.find`, with the cells whose database did not answer (their instances left out)."""
        ...

    def mappings_in(self, cells: frozenset[str], project_id: str | None) -> list[InstanceMapping]:
        """The live instances mapped to ``cells`` (of one project, or every one for None), newest first."""
        ...

    def mapping(self, instance_uuid: str) -> InstanceMapping | None: ...
