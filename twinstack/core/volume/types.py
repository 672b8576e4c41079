"""Volume types and their extra specs: what a user picks, and what the scheduler matches against pools.

Bootstrap gives every cloud Cinder's ``__DEFAULT__`` type (no requirements: any pool) and one type per
configured back end name, whose ``volume_backend_name`` extra spec sends volumes to that back end.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from twinstack.core.errors import BadRequest, Conflict, NotFound
from twinstack.core.policy import Credentials
from twinstack.db.models.volume import VolumeRow, VolumeTypeAccessRow, VolumeTypeRow

DEFAULT_TYPE_NAME = "__DEFAULT__"


def ensure_default_types(session: Session, now: dt.datetime, backend_names: Iterable[str]) -> None:
    """Idempotent: ``__DEFAULT__`` and a type per back end name (``ssd``, ``hdd``...) exist afterwards."""
    wanted: dict[str, tuple[str, dict[str, Any]]] = {DEFAULT_TYPE_NAME: ("Default Volume Type", {})}
    for name in backend_names:
        wanted.setdefault(name, (f"Volumes on the {name} back end", {"volume_backend_name": name}))
    have = set(session.scalars(select(VolumeTypeRow.name).where(VolumeTypeRow.name.in_(wanted))))
    for name, (description, specs) in wanted.items():
        if name not in have:
            session.add(VolumeTypeRow(id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://twinstack/volume-types/{name}")),
                                      name=name, description=description, is_public=True, extra_specs=specs,
                                      created_at=now, updated_at=now))


def _visible(creds: Credentials, is_admin: bool) -> Any:
    if is_admin:
        return None
    return or_(VolumeTypeRow.is_public.is_(True),
               exists().where(VolumeTypeAccessRow.volume_type_id == VolumeTypeRow.id,
                              VolumeTypeAccessRow.project_id == (creds.project_id or "")))


def list_types(session: Session, creds: Credentials, is_admin: bool, is_public: bool | None = None,
               extra_specs: Mapping[str, str] | None = None) -> list[VolumeTypeRow]:
    """Public types and those shared with the caller's project (an admin sees all, or the ``is_public`` ones)."""
    query = select(VolumeTypeRow).order_by(VolumeTypeRow.name)
    visible = _visible(creds, is_admin)
    if visible is not None:
        query = query.where(visible)
    if is_public is not None and is_admin:
        query = query.where(VolumeTypeRow.is_public.is_(is_public))
    rows = list(session.scalars(query))
    if extra_specs:
        rows = [r for r in rows if all(str(r.extra_specs.get(k)) == v for k, v in extra_specs.items())]
    return rows


def get_type(session: Session, creds: Credentials, is_admin: bool, name_or_id: str) -> VolumeTypeRow:
    query = select(VolumeTypeRow).where(or_(VolumeTypeRow.id == name_or_id, VolumeTypeRow.name == name_or_id))
    visible = _visible(creds, is_admin)
    if visible is not None:
        query = query.where(visible)
    row = session.scalars(query).first()
    if row is None:
        raise NotFound(f"Volume type {name_or_id} could not be found.")
    return row


def default_type(session: Session, name: str) -> VolumeTypeRow:
    row = session.scalar(select(VolumeTypeRow).where(VolumeTypeRow.name == name))
    if row is None:
        raise NotFound(f"Volume type {name} could not be found.")
    return row


def create_type(session: Session, now: dt.datetime, name: str, description: str | None, is_public: bool,
                extra_specs: Mapping[str, Any]) -> VolumeTypeRow:
    if not name.strip():
        raise BadRequest("Volume type name can not be empty.")
    if session.scalar(select(VolumeTypeRow.id).where(VolumeTypeRow.name == name)) is not None:
        raise Conflict(f"Volume Type {name} already exists.")
    row = VolumeTypeRow(id=str(uuid.uuid4()), name=name, description=description, is_public=is_public,
                        extra_specs={k: str(v) for k, v in extra_specs.items()}, created_at=now, updated_at=now)
    session.add(row)
    session.flush()
    return row


def update_type(row: VolumeTypeRow, now: dt.datetime, name: str | None, description: str | None,
                is_public: bool | None) -> None:
    if row.name == DEFAULT_TYPE_NAME and name not in (None, DEFAULT_TYPE_NAME):
        raise BadRequest("The __DEFAULT__ volume type cannot be renamed.")
    if name is not None:
        row.name = name
    if description is not None:
        row.description = description
    if is_public is not None:
        row.is_public = is_public
    row.updated_at = now


def delete_type(session: Session, row: VolumeTypeRow, default_name: str) -> None:
    """Refused (400, as Cinder) for the default type and for a type some volume still has."""
    if row.name in (DEFAULT_TYPE_NAME, default_name):
        raise BadRequest("Default volume type can not be deleted.")
    used = session.scalar(select(func.count()).select_from(VolumeRow).where(VolumeRow.volume_type_id == row.id))
    if used:
        raise BadRequest("Target volume type is still in use.")
    session.delete(row)


def set_extra_specs(row: VolumeTypeRow, now: dt.datetime, specs: Mapping[str, Any]) -> dict[str, str]:
    row.extra_specs = {**row.extra_specs, **{k: str(v) for k, v in specs.items()}}
    row.updated_at = now
    return dict(row.extra_specs)


def unset_extra_spec(row: VolumeTypeRow, now: dt.datetime, key: str) -> None:
    if key not in row.extra_specs:
        raise NotFound(f"Volume Type {row.id} has no extra specs with key {key}.")
    row.extra_specs = {k: v for k, v in row.extra_specs.items() if k != key}
    row.updated_at = now


def add_project_access(session: Session, row: VolumeTypeRow, project_id: str) -> None:
    if row.is_public:
        raise BadRequest("Invalid volume type: Type access modification is not applicable to public volume type.")
    if session.get(VolumeTypeAccessRow, (row.id, project_id)) is not None:
        raise Conflict(f"Volume type access for {row.id} / {project_id} combination already exists.")
    session.add(VolumeTypeAccessRow(volume_type_id=row.id, project_id=project_id))


def remove_project_access(session: Session, row: VolumeTypeRow, project_id: str) -> None:
    found = session.get(VolumeTypeAccessRow, (row.id, project_id))
    if found is None:
        raise NotFound(f"Volume type access not found for {row.id} / {project_id} combination.")
    session.delete(found)


def project_access(session: Session, row: VolumeTypeRow) -> list[str]:
    return list(session.scalars(select(VolumeTypeAccessRow.project_id)
                                .where(VolumeTypeAccessRow.volume_type_id == row.id)))
