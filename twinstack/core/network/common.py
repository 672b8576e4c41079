"""What every networking resource shares: ids, timestamps, ownership and who may see or change a row."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Protocol

from twinstack.core.clock import Clock, utcnow
from twinstack.core.errors import BadRequest, Forbidden
from twinstack.core.policy import Credentials


class Owned(Protocol):
    project_id: str


class Revised(Protocol):
    revision_number: int
    updated_at: dt.datetime


def new_uuid() -> str:
    """Neutron's ids are dashed UUIDs (unlike Keystone's 32 hex digits)."""
    return str(uuid.uuid4())


def now(clock: Clock) -> dt.datetime:
    """Neutron's timestamps have whole seconds."""
    return utcnow(clock).replace(microsecond=0)


def touch(row: Revised, clock: Clock) -> None:
    """Every change bumps the revision number (standard-attr-revisions) and the update time."""
    row.revision_number += 1
    row.updated_at = now(clock)


def owner_for(creds: Credentials, requested: str | None) -> str:
    """The project a new resource belongs to: the caller's, or (admins only) the one asked for."""
    if requested is None or requested == creds.project_id:
        if creds.project_id is None:
            raise BadRequest("A project_id (tenant_id) is required to create a resource without a project scope.")
        return creds.project_id
    if not creds.is_admin:
        raise Forbidden("Only admins may create a resource in another project (tenant_id/project_id).")
    return requested


def owns(creds: Credentials, row: Owned) -> bool:
    return creds.is_admin or (creds.project_id is not None and creds.project_id == row.project_id)


def check_tags(tags: list[str]) -> list[str]:
    """Neutron's tags: strings of at most 255 characters, no commas (they separate tags in filters)."""
    for tag in tags:
        if not isinstance(tag, str) or not tag or len(tag) > 255 or "," in tag:
            raise BadRequest(f"Invalid input for tags. Reason: '{tag}' is not a valid tag.")
    return sorted(set(tags))


def acting_for(project_id: str, user_id: str = "twinstack-network") -> Credentials:
    """The service's own credentials in ``project_id``, for ports it makes on a user's behalf (a router's
    gateway, a floating IP's address) on networks the user may not otherwise use."""
    return Credentials(user_id=user_id, user_domain_id="default", roles=frozenset({"admin", "member", "reader"}),
                       project_id=project_id)
