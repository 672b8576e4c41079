"""Flavors: the sizes servers come in, their extra specs, and which projects may use a private one.

Visibility follows Nova: an admin sees every flavor; anyone else sees the public ones and the
private ones their project was given access to. A flavor someone cannot see is "not found".
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.orm import Session

from twinstack.core.errors import BadRequest, Conflict, NotFound
from twinstack.core.policy import Credentials
from twinstack.db.models.compute import FlavorAccessRow, FlavorRow
from twinstack.rpc.compute import FlavorSpec


@dataclass(frozen=True)
class NewFlavor:
    name: str
    vcpus: int
    ram: int
    disk: int
    flavorid: str | None = None
    """None (or "auto") makes a UUID, as Nova does."""
    ephemeral: int = 0
    swap: int = 0
    rxtx_factor: float = 1.0
    is_public: bool = True
    description: str | None = None


DEFAULT_FLAVORS = (
    NewFlavor("m1.tiny", 1, 512, 1, "1"),
    NewFlavor("m1.small", 1, 2048, 20, "2"),
    NewFlavor("m1.medium", 2, 4096, 40, "3"),
    NewFlavor("m1.large", 4, 8192, 80, "4"),
    NewFlavor("m1.xlarge", 8, 16384, 160, "5"),
)
"""The flavors every OpenStack user expects to find (DevStack's, with Nova's ids 1 to 5)."""

SORT_COLUMNS: dict[str, Any] = {
    "created_at": FlavorRow.created_at, "description": FlavorRow.description, "disabled": FlavorRow.disabled,
    "ephemeral_gb": FlavorRow.ephemeral_gb, "flavorid": FlavorRow.flavorid, "id": FlavorRow.id,
    "is_public": FlavorRow.is_public, "memory_mb": FlavorRow.memory_mb, "name": FlavorRow.name,
    "root_gb": FlavorRow.root_gb, "rxtx_factor": FlavorRow.rxtx_factor, "swap": FlavorRow.swap,
    "vcpus": FlavorRow.vcpus,
}
NOVA_ONLY_SORT_KEYS = frozenset({"updated_at", "vcpu_weight"})
"""Sort keys Nova accepts that we keep no column for: accepted, and the default order is used."""


@dataclass(frozen=True)
class FlavorQuery:
    is_public: bool | None = True
    """True: public (and, for a project, those it may use); False: private only; None: all (admin)."""
    min_ram: int | None = None
    min_disk: int | None = None
    sort_key: str = "flavorid"
    sort_dir: str = "asc"
    limit: int | None = None
    marker: str | None = None


def _access_of(project_id: str) -> ColumnElement[bool]:
    return exists().where(FlavorAccessRow.flavor_id == FlavorRow.id, FlavorAccessRow.project_id == project_id)


def _visible(creds: Credentials) -> list[ColumnElement[bool]]:
    if creds.is_admin:
        return []
    if creds.project_id is None:
        return [FlavorRow.is_public.is_(True)]
    return [or_(FlavorRow.is_public.is_(True), _access_of(creds.project_id))]


def list_flavors(session: Session, creds: Credentials, query: FlavorQuery) -> list[FlavorRow]:
    """Non-admins see enabled flavors they may use, whatever ``is_public`` asks (as Nova filters)."""
    statement = select(FlavorRow)
    if not creds.is_admin:
        statement = statement.where(*_visible(creds), FlavorRow.disabled.is_(False))
    elif query.is_public is not None:
        if query.is_public and creds.project_id is not None:
            statement = statement.where(or_(FlavorRow.is_public.is_(True), _access_of(creds.project_id)))
        else:
            statement = statement.where(FlavorRow.is_public.is_(query.is_public))
    if query.min_ram is not None:
        statement = statement.where(FlavorRow.memory_mb >= query.min_ram)
    if query.min_disk is not None:
        statement = statement.where(FlavorRow.root_gb >= query.min_disk)
    column = SORT_COLUMNS.get(query.sort_key, FlavorRow.flavorid)
    order = column.desc() if query.sort_dir == "desc" else column.asc()
    tie = FlavorRow.id.desc() if query.sort_dir == "desc" else FlavorRow.id.asc()
    rows = list(session.scalars(statement.order_by(order, tie)))
    if query.marker is not None:
        index = next((n for n, row in enumerate(rows) if row.flavorid == query.marker), None)
        if index is None:
            raise BadRequest(f"marker [{query.marker}] not found")
        rows = rows[index + 1:]
    return rows if query.limit is None else rows[:query.limit]


def get_flavor(session: Session, creds: Credentials, flavorid: str) -> FlavorRow:
    row = session.scalar(select(FlavorRow).where(FlavorRow.flavorid == flavorid, *_visible(creds)))
    if row is None:
        raise NotFound(f"Flavor {flavorid} could not be found.")
    return row


def database_ids(session: Session, flavorids: set[str]) -> dict[str, int]:
    """The table ids of flavors (Nova's instance_type_id, which migration records show) by flavorid."""
    if not flavorids:
        return {}
    rows = session.execute(select(FlavorRow.flavorid, FlavorRow.id).where(FlavorRow.flavorid.in_(sorted(flavorids))))
    return {flavorid: ident for flavorid, ident in rows}


def create_flavor(session: Session, new: NewFlavor, now: dt.datetime) -> FlavorRow:
    flavorid = new.flavorid if new.flavorid not in (None, "auto") else str(uuid.uuid4())
    assert flavorid is not None
    if session.scalar(select(FlavorRow.id).where(FlavorRow.name == new.name)) is not None:
        raise Conflict(f"Flavor with name {new.name} already exists.")
    if session.scalar(select(FlavorRow.id).where(FlavorRow.flavorid == flavorid)) is not None:
        raise Conflict(f"Flavor with ID {flavorid} already exists.")
    row = FlavorRow(flavorid=flavorid, name=new.name, vcpus=new.vcpus, memory_mb=new.ram, root_gb=new.disk,
                    ephemeral_gb=new.ephemeral, swap=new.swap, rxtx_factor=new.rxtx_factor, is_public=new.is_public,
                    disabled=False, description=new.description, extra_specs={}, created_at=now)
    session.add(row)
    session.flush()
    return row


def ensure_default_flavors(session: Session, now: dt.datetime) -> None:
    """Idempotent: each default flavor whose name and id are both free is created."""
    for flavor in DEFAULT_FLAVORS:
        taken = session.scalar(select(FlavorRow.id).where(
            or_(FlavorRow.name == flavor.name, FlavorRow.flavorid == flavor.flavorid)))
        if taken is None:
            create_flavor(session, flavor, now)


def delete_flavor(session: Session, creds: Credentials, flavorid: str) -> None:
    """Servers keep their own copy of the flavor they were built with, so deleting it harms none."""
    session.delete(get_flavor(session, creds, flavorid))


def describe_flavor(session: Session, creds: Credentials, flavorid: str, description: str | None) -> FlavorRow:
    row = get_flavor(session, creds, flavorid)
    row.description = description
    return row


# extra specs

def extra_spec(session: Session, creds: Credentials, flavorid: str, key: str) -> str:
    specs = get_flavor(session, creds, flavorid).extra_specs
    if key not in specs:
        raise NotFound(f"Flavor {flavorid} has no extra specs with key {key}.")
    return str(specs[key])


def set_extra_specs(session: Session, creds: Credentials, flavorid: str, specs: Mapping[str, str]) -> dict[str, str]:
    """Merge ``specs`` into the flavor's; returns what was set."""
    row = get_flavor(session, creds, flavorid)
    row.extra_specs = {**row.extra_specs, **specs}
    return dict(specs)


def delete_extra_spec(session: Session, creds: Credentials, flavorid: str, key: str) -> None:
    row = get_flavor(session, creds, flavorid)
    if key not in row.extra_specs:
        raise NotFound(f"Flavor {flavorid} has no extra specs with key {key}.")
    row.extra_specs = {k: v for k, v in row.extra_specs.items() if k != key}


# access to private flavors

def access_list(session: Session, creds: Credentials, flavorid: str) -> list[str]:
    """The projects a private flavor is open to (a public flavor has no such list: 404)."""
    row = get_flavor(session, creds, flavorid)
    if row.is_public:
        raise NotFound("Access list not available for public flavors.")
    return _projects(session, row)


def _projects(session: Session, row: FlavorRow) -> list[str]:
    return list(session.scalars(select(FlavorAccessRow.project_id).where(FlavorAccessRow.flavor_id == row.id)
                                .order_by(FlavorAccessRow.project_id)))


def add_access(session: Session, creds: Credentials, flavorid: str, project_id: str) -> list[str]:
    row = get_flavor(session, creds, flavorid)
    if row.is_public:
        raise Conflict("Can not add access to a public flavor.")
    if session.get(FlavorAccessRow, (row.id, project_id)) is not None:
        raise Conflict(f"Flavor access already exists for flavor {flavorid} and project {project_id} combination.")
    session.add(FlavorAccessRow(flavor_id=row.id, project_id=project_id))
    session.flush()
    return _projects(session, row)


def remove_access(session: Session, creds: Credentials, flavorid: str, project_id: str) -> list[str]:
    row = get_flavor(session, creds, flavorid)
    access = session.get(FlavorAccessRow, (row.id, project_id))
    if access is None:
        raise NotFound(f"Flavor access not found for {flavorid} / {project_id} combination.")
    session.delete(access)
    session.flush()
    return _projects(session, row)


def flavor_spec(row: FlavorRow) -> FlavorSpec:
    """The flavor as an instance keeps it (and as the conductor and host agents read it)."""
    return FlavorSpec(id=row.flavorid, name=row.name, vcpus=row.vcpus, ram_mb=row.memory_mb, disk_gb=row.root_gb,
                      ephemeral_gb=row.ephemeral_gb, swap_mb=row.swap,
                      extra_specs={k: str(v) for k, v in row.extra_specs.items()})
