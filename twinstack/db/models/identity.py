"""Storage models of the identity service (Keystone v3's entities)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from twinstack.db.base import Base, new_id

ID = String(64)


class Domain(Base):
    __tablename__ = "identity_domains"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(default=True)
    tags: Mapped[list[str]] = mapped_column(default=list)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Project(Base):
    __tablename__ = "identity_projects"
    __table_args__ = (UniqueConstraint("domain_id", "name"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    domain_id: Mapped[str] = mapped_column(ID, ForeignKey("identity_domains.id"), index=True)
    parent_id: Mapped[str | None] = mapped_column(ID, ForeignKey("identity_projects.id"), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(default=True)
    tags: Mapped[list[str]] = mapped_column(default=list)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)


class User(Base):
    __tablename__ = "identity_users"
    __table_args__ = (UniqueConstraint("domain_id", "name"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    domain_id: Mapped[str] = mapped_column(ID, ForeignKey("identity_domains.id"), index=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    password_expires_at: Mapped[dt.datetime | None]
    default_project_id: Mapped[str | None] = mapped_column(ID)
    description: Mapped[str | None] = mapped_column(Text)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime]


class Group(Base):
    __tablename__ = "identity_groups"
    __table_args__ = (UniqueConstraint("domain_id", "name"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    domain_id: Mapped[str] = mapped_column(ID, ForeignKey("identity_domains.id"), index=True)
    description: Mapped[str] = mapped_column(Text, default="")


class GroupMembership(Base):
    __tablename__ = "identity_group_memberships"
    user_id: Mapped[str] = mapped_column(
        ID, ForeignKey("identity_users.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[str] = mapped_column(
        ID, ForeignKey("identity_groups.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Role(Base):
    """A role; ``scope_key`` is the owning domain's id, or '' for a global role, so names stay unique."""

    __tablename__ = "identity_roles"
    __table_args__ = (UniqueConstraint("name", "scope_key"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    domain_id: Mapped[str | None] = mapped_column(ID, ForeignKey("identity_domains.id"))
    scope_key: Mapped[str] = mapped_column(ID, default="")
    description: Mapped[str | None] = mapped_column(Text)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ImpliedRole(Base):
    __tablename__ = "identity_implied_roles"
    prior_role_id: Mapped[str] = mapped_column(
        ID, ForeignKey("identity_roles.id", ondelete="CASCADE"), primary_key=True
    )
    implied_role_id: Mapped[str] = mapped_column(
        ID, ForeignKey("identity_roles.id", ondelete="CASCADE"), primary_key=True
    )


class RoleAssignment(Base):
    """One grant: an actor (user or group) holds a role on a target (project, domain or 'system').

    ``kind`` is one of UserProject, GroupProject, UserDomain, GroupDomain, UserSystem, GroupSystem.
    ``inherited`` grants apply to the target's sub-projects, not the target itself.
    """

    __tablename__ = "identity_role_assignments"
    __table_args__ = (Index("ix_identity_role_assignments_target", "target_id"),)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    actor_id: Mapped[str] = mapped_column(ID, primary_key=True)
    target_id: Mapped[str] = mapped_column(ID, primary_key=True)
    role_id: Mapped[str] = mapped_column(
        ID, ForeignKey("identity_roles.id", ondelete="CASCADE"), primary_key=True
    )
    inherited: Mapped[bool] = mapped_column(primary_key=True, default=False)


class Region(Base):
    __tablename__ = "identity_regions"
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    parent_region_id: Mapped[str | None] = mapped_column(String(255), ForeignKey("identity_regions.id"))


class Service(Base):
    __tablename__ = "identity_services"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    type: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(default=True)


class Endpoint(Base):
    __tablename__ = "identity_endpoints"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    service_id: Mapped[str] = mapped_column(
        ID, ForeignKey("identity_services.id", ondelete="CASCADE"), index=True
    )
    interface: Mapped[str] = mapped_column(String(8))
    region_id: Mapped[str | None] = mapped_column(String(255), ForeignKey("identity_regions.id"))
    url: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(default=True)


class Trust(Base):
    __tablename__ = "identity_trusts"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    trustor_user_id: Mapped[str] = mapped_column(ID, index=True)
    trustee_user_id: Mapped[str] = mapped_column(ID, index=True)
    project_id: Mapped[str | None] = mapped_column(ID)
    impersonation: Mapped[bool] = mapped_column(default=False)
    expires_at: Mapped[dt.datetime | None]
    remaining_uses: Mapped[int | None]
    allow_redelegation: Mapped[bool] = mapped_column(default=False)
    redelegation_count: Mapped[int] = mapped_column(default=0)
    redelegated_trust_id: Mapped[str | None] = mapped_column(ID)
    role_ids: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[dt.datetime]
    deleted_at: Mapped[dt.datetime | None]


class ApplicationCredential(Base):
    __tablename__ = "identity_application_credentials"
    __table_args__ = (UniqueConstraint("user_id", "name"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[str] = mapped_column(
        ID, ForeignKey("identity_users.id", ondelete="CASCADE"), index=True
    )
    project_id: Mapped[str | None] = mapped_column(ID)
    secret_hash: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[dt.datetime | None]
    unrestricted: Mapped[bool] = mapped_column(default=False)
    role_ids: Mapped[list[str]] = mapped_column(default=list)
    access_rules: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    """The credential's access rules as made ({id, service, method, path} each); none: any request."""
    created_at: Mapped[dt.datetime]


class AccessRule(Base):
    """One request a user's application credentials may be limited to: a service, an HTTP method, a path.

    Keystone keeps these per user, shared by the credentials that name them (one row per distinct
    rule), and keeps them after those credentials are gone until the user deletes them.
    """

    __tablename__ = "identity_access_rules"
    __table_args__ = (UniqueConstraint("user_id", "service", "path", "method"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(
        ID, ForeignKey("identity_users.id", ondelete="CASCADE"), index=True
    )
    service: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(225))
    method: Mapped[str] = mapped_column(String(16))


class Credential(Base):
    __tablename__ = "identity_credentials"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(
        ID, ForeignKey("identity_users.id", ondelete="CASCADE"), index=True
    )
    project_id: Mapped[str | None] = mapped_column(ID)
    type: Mapped[str] = mapped_column(String(255))
    blob: Mapped[str] = mapped_column(Text)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)


class RevocationEvent(Base):
    """Tokens matching every non-null field and issued before ``issued_before`` are revoked."""

    __tablename__ = "identity_revocation_events"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    user_id: Mapped[str | None] = mapped_column(ID)
    project_id: Mapped[str | None] = mapped_column(ID)
    domain_id: Mapped[str | None] = mapped_column(ID)
    role_id: Mapped[str | None] = mapped_column(ID)
    trust_id: Mapped[str | None] = mapped_column(ID)
    app_cred_id: Mapped[str | None] = mapped_column(ID)
    audit_id: Mapped[str | None] = mapped_column(String(64))
    audit_chain_id: Mapped[str | None] = mapped_column(String(64))
    issued_before: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime]


class SigningKey(Base):
    """An Ed25519 key pair for tokens; every process of one cloud reads the same keys from here."""

    __tablename__ = "identity_signing_keys"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    private_key: Mapped[str] = mapped_column(Text)
    public_key: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime]
    active: Mapped[bool] = mapped_column(default=True)
