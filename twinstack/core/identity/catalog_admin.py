"""Administering the service catalog: services, their endpoints, and the regions endpoints sit in.

Rules, as Keystone has them: an endpoint's interface is public, internal or admin; its service and
region must exist (400 otherwise), except that an endpoint naming only a legacy ``region`` gets that
region made for it. Deleting a service deletes its endpoints. Regions form a tree without cycles;
deleting one deletes its sub-regions, and is refused while any of them still holds an endpoint.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from twinstack.core.errors import BadRequest, Conflict, Forbidden, NotFound
from twinstack.core.identity.bootstrap import INTERFACES
from twinstack.db.models.identity import Endpoint, Region, Service

URL_PATTERN = re.compile(r"^[a-zA-Z0-9+.-]+:.+")


# services


def get_service(session: Session, service_id: str) -> Service:
    service = session.get(Service, service_id)
    if service is None:
        raise NotFound(f"Could not find service: {service_id}.")
    return service


def create_service(session: Session, type_: str, name: str = "", description: str = "",
                   enabled: bool = True) -> Service:
    service = Service(type=type_, name=name, description=description, enabled=enabled)
    session.add(service)
    session.flush()
    return service


def list_services(session: Session, type_: str | None = None, name: str | None = None) -> list[Service]:
    query = select(Service)
    if type_ is not None:
        query = query.where(Service.type == type_)
    if name is not None:
        query = query.where(Service.name == name)
    return list(session.scalars(query.order_by(Service.type, Service.name, Service.id)))


def update_service(session: Session, service: Service, changes: dict[str, Any]) -> Service:
    for key in ("type", "name", "description", "enabled"):
        if key in changes:
            setattr(service, key, changes[key])
    session.flush()
    return service


def delete_service(session: Session, service: Service) -> None:
    """Remove the service and every endpoint it has."""
    for endpoint in session.scalars(select(Endpoint).where(Endpoint.service_id == service.id)):
        session.delete(endpoint)
    session.flush()
    session.delete(service)


# endpoints


@dataclass(frozen=True)
class NewEndpoint:
    service_id: str
    interface: str
    url: str
    region_id: str | None = None
    legacy_region: str | None = None
    """The v2-era ``region`` field: used when ``region_id`` is absent, and made if missing."""
    enabled: bool = True


def get_endpoint(session: Session, endpoint_id: str) -> Endpoint:
    endpoint = session.get(Endpoint, endpoint_id)
    if endpoint is None:
        raise NotFound(f"Could not find endpoint: {endpoint_id}.")
    return endpoint


def _check_interface(interface: str) -> None:
    if interface not in INTERFACES:
        raise BadRequest(f"Invalid input for field 'interface': '{interface}' is not one of "
                         f"{', '.join(INTERFACES)}.")


def _check_url(url: str) -> None:
    if not URL_PATTERN.match(url):
        raise BadRequest(f"Invalid input for field 'url': '{url}' is not a URL.")


def _endpoint_region(session: Session, region_id: str | None, legacy_region: str | None) -> str | None:
    if region_id is None and legacy_region is not None:
        if session.get(Region, legacy_region) is None:
            session.add(Region(id=legacy_region, description=""))
            session.flush()
        return legacy_region
    if region_id is not None and session.get(Region, region_id) is None:
        raise BadRequest(f"Expecting to find endpoint region_id in region table: region {region_id} "
                         "does not exist.")
    return region_id


def _check_service(session: Session, service_id: str) -> None:
    if session.get(Service, service_id) is None:
        raise BadRequest(f"Expecting to find endpoint service_id in service table: service {service_id} "
                         "does not exist.")


def create_endpoint(session: Session, new: NewEndpoint) -> Endpoint:
    _check_interface(new.interface)
    _check_url(new.url)
    _check_service(session, new.service_id)
    region_id = _endpoint_region(session, new.region_id, new.legacy_region)
    endpoint = Endpoint(service_id=new.service_id, interface=new.interface, url=new.url, region_id=region_id,
                        enabled=new.enabled)
    session.add(endpoint)
    session.flush()
    return endpoint


def list_endpoints(session: Session, service_id: str | None = None, interface: str | None = None,
                   region_id: str | None = None) -> list[Endpoint]:
    query = select(Endpoint)
    if service_id is not None:
        query = query.where(Endpoint.service_id == service_id)
    if interface is not None:
        query = query.where(Endpoint.interface == interface)
    if region_id is not None:
        query = query.where(Endpoint.region_id == region_id)
    return list(session.scalars(query.order_by(Endpoint.service_id, Endpoint.interface, Endpoint.id)))


def update_endpoint(session: Session, endpoint: Endpoint, changes: dict[str, Any]) -> Endpoint:
    """Apply ``changes`` (service_id, interface, url, region_id or legacy region, enabled)."""
    if "interface" in changes:
        _check_interface(changes["interface"])
        endpoint.interface = changes["interface"]
    if "url" in changes:
        _check_url(changes["url"])
        endpoint.url = changes["url"]
    if "service_id" in changes:
        _check_service(session, changes["service_id"])
        endpoint.service_id = changes["service_id"]
    if "region_id" in changes or changes.get("region") is not None:
        endpoint.region_id = _endpoint_region(session, changes.get("region_id"), changes.get("region"))
    if "enabled" in changes:
        endpoint.enabled = changes["enabled"]
    session.flush()
    return endpoint


def delete_endpoint(session: Session, endpoint: Endpoint) -> None:
    session.delete(endpoint)


# regions


def get_region(session: Session, region_id: str) -> Region:
    region = session.get(Region, region_id)
    if region is None:
        raise NotFound(f"Could not find region: {region_id}.")
    return region


def create_region(session: Session, region_id: str | None, description: str | None = None,
                  parent_region_id: str | None = None) -> Region:
    """A new region with the id asked for (or a generated one); 409 if taken, 404 for a missing parent."""
    region_id = region_id or uuid.uuid4().hex
    if session.get(Region, region_id) is not None:
        raise Conflict(f"Conflict occurred attempting to store region - Duplicate ID, {region_id}.")
    if parent_region_id is not None:
        get_region(session, parent_region_id)
    region = Region(id=region_id, description=description or "", parent_region_id=parent_region_id)
    session.add(region)
    session.flush()
    return region


def list_regions(session: Session, parent_region_id: str | None = None) -> list[Region]:
    query = select(Region)
    if parent_region_id is not None:
        query = query.where(Region.parent_region_id == parent_region_id)
    return list(session.scalars(query.order_by(Region.id)))


def update_region(session: Session, region: Region, changes: dict[str, Any]) -> Region:
    """Change the description or move the region under another parent (never under itself)."""
    if "description" in changes:
        region.description = changes["description"] or ""
    if "parent_region_id" in changes:
        parent_id = changes["parent_region_id"]
        ancestor = parent_id
        while ancestor is not None:
            if ancestor == region.id:
                raise BadRequest(f"The specified parent region {parent_id} would cause a circular region "
                                 "hierarchy.")
            ancestor = get_region(session, ancestor).parent_region_id
        region.parent_region_id = parent_id
    session.flush()
    return region


def _subtree(session: Session, region_id: str) -> list[str]:
    """The region and every region below it, parents before children."""
    found = [region_id]
    frontier = [region_id]
    while frontier:
        children = [r for r in session.scalars(select(Region.id).where(Region.parent_region_id.in_(frontier)))
                    if r not in found]
        found += children
        frontier = children
    return found


def delete_region(session: Session, region: Region) -> None:
    """Remove the region and its sub-regions; 403 while any of them still holds an endpoint."""
    subtree = _subtree(session, region.id)
    if session.scalar(select(Endpoint.id).where(Endpoint.region_id.in_(subtree)).limit(1)) is not None:
        raise Forbidden(f"Unable to delete region {region.id} because it or its child regions have "
                        "associated endpoints.")
    for region_id in reversed(subtree):
        child = session.get(Region, region_id)
        if child is not None:
            session.delete(child)
            session.flush()
