"""The service catalog: every enabled service with its enabled endpoints, as tokens carry it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from twinstack.db.models.identity import Endpoint, Service


@dataclass(frozen=True)
class CatalogEndpoint:
    id: str
    interface: str
    region_id: str | None
    url: str


@dataclass(frozen=True)
class CatalogEntry:
    id: str
    type: str
    name: str
    endpoints: tuple[CatalogEndpoint, ...]


def service_catalog(session: Session) -> list[CatalogEntry]:
    services = session.scalars(select(Service).where(Service.enabled.is_(True)).order_by(Service.type))
    endpoints: dict[str, list[CatalogEndpoint]] = {}
    for ep in session.scalars(select(Endpoint).where(Endpoint.enabled.is_(True)).order_by(Endpoint.interface)):
        endpoints.setdefault(ep.service_id, []).append(
            CatalogEndpoint(ep.id, ep.interface, ep.region_id, ep.url)
        )
    return [CatalogEntry(s.id, s.type, s.name, tuple(endpoints.get(s.id, ()))) for s in services]
