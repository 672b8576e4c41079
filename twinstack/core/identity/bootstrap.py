"""Bootstrap: the least a new cloud needs so its admin can log in and find every service.

Idempotent: run on every start, it creates what is missing and leaves what exists alone, except
the catalog URLs of the cloud's own services, which follow the address the cloud is served at.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from twinstack.core.clock import Clock, utcnow
from twinstack.core.identity.assignments import SYSTEM_TARGET, USER_PROJECT, USER_SYSTEM
from twinstack.core.identity.passwords import hash_password
from twinstack.db.models.identity import (
    Domain,
    Endpoint,
    ImpliedRole,
    Project,
    Region,
    Role,
    RoleAssignment,
    Service,
    User,
)

DEFAULT_DOMAIN_ID = "default"
INTERFACES = ("public", "internal", "admin")
ROLE_CHAIN = (("admin", "member"), ("member", "reader"))


@dataclass(frozen=True)
class ServiceEntry:
    """One service the cloud serves, as the catalog lists it."""

    type: str
    name: str
    url: str
    description: str = ""


@dataclass(frozen=True)
class BootstrapResult:
    admin_user_id: str
    admin_project_id: str
    admin_password: str | None
    """The admin's password when bootstrap set it (new cloud, or asked to); None when unchanged."""


def _role(session: Session, name: str) -> Role:
    role = session.scalar(select(Role).where(Role.name == name, Role.scope_key == ""))
    if role is None:
        role = Role(name=name, scope_key="", options={})
        session.add(role)
        session.flush()
    return role


def _grant(session: Session, kind: str, actor: str, target: str, role_id: str) -> None:
    key = {"kind": kind, "actor_id": actor, "target_id": target, "role_id": role_id, "inherited": False}
    if session.get(RoleAssignment, key) is None:
        session.add(RoleAssignment(**key))


def bootstrap_identity(
    session: Session,
    clock: Clock,
    *,
    region: str,
    services: list[ServiceEntry],
    admin_user: str = "admin",
    admin_project: str = "admin",
    admin_password: str | None = None,
    reset_password: bool = False,
    kdf_n: int = 2**14,
) -> BootstrapResult:
    domain = session.get(Domain, DEFAULT_DOMAIN_ID)
    if domain is None:
        domain = Domain(id=DEFAULT_DOMAIN_ID, name="Default", description="The default domain",
                        enabled=True, tags=[], options={})
        session.add(domain)
        session.flush()
    roles = {name: _role(session, name) for name in ("admin", "member", "reader", "service")}
    for prior, implied in ROLE_CHAIN:
        key = {"prior_role_id": roles[prior].id, "implied_role_id": roles[implied].id}
        if session.get(ImpliedRole, key) is None:
            session.add(ImpliedRole(**key))

    project = session.scalar(select(Project).where(Project.domain_id == domain.id, Project.name == admin_project))
    if project is None:
        project = Project(name=admin_project, domain_id=domain.id, description="Bootstrap project for "
                          "initializing the cloud.", enabled=True, tags=[], options={}, extra={})
        session.add(project)
        session.flush()

    user = session.scalar(select(User).where(User.domain_id == domain.id, User.name == admin_user))
    password_set: str | None = None
    if user is None or reset_password or (admin_password is not None):
        password_set = admin_password or secrets.token_urlsafe(18)
    if user is None:
        user = User(name=admin_user, domain_id=domain.id, enabled=True, options={}, extra={},
                    created_at=utcnow(clock), default_project_id=project.id)
        session.add(user)
    if password_set is not None:
        user.password_hash = hash_password(password_set, kdf_n)
    session.flush()
    _grant(session, USER_PROJECT, user.id, project.id, roles["admin"].id)
    _grant(session, USER_SYSTEM, user.id, SYSTEM_TARGET, roles["admin"].id)

    if session.get(Region, region) is None:
        session.add(Region(id=region, description=""))
        session.flush()
    register_services(session, region, services)
    return BootstrapResult(user.id, project.id, password_set)


def register_services(session: Session, region: str, services: list[ServiceEntry]) -> None:
    """Make the catalog list each service at its URL on every interface (kept in step with the URL)."""
    for entry in services:
        service = session.scalar(select(Service).where(Service.type == entry.type, Service.name == entry.name))
        if service is None:
            service = Service(type=entry.type, name=entry.name, description=entry.description, enabled=True)
            session.add(service)
            session.flush()
        existing = {
            ep.interface: ep
            for ep in session.scalars(
                select(Endpoint).where(Endpoint.service_id == service.id, Endpoint.region_id == region)
            )
        }
        for interface in INTERFACES:
            endpoint = existing.get(interface)
            if endpoint is None:
                session.add(Endpoint(service_id=service.id, interface=interface, region_id=region,
                                     url=entry.url, enabled=True))
            elif endpoint.url != entry.url:
                endpoint.url = entry.url
