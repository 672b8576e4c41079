"""Tags on any resource with standard attributes (standard-attr-tag): replace, add, check, remove.

A tag change is a change of the resource: it bumps its revision number. Only the resource's owner
(or an admin) may change its tags; someone who cannot see the resource gets its NotFound.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from twinstack.core.clock import Clock
from twinstack.core.errors import Forbidden, NotFound
from twinstack.core.network import floating_ips, networks, ports, routers, security_groups, subnet_pools, subnets
from twinstack.core.network.common import check_tags, owns, touch
from twinstack.core.policy import Credentials

Getter = Callable[[Session, Credentials, str], Any]

GETTERS: dict[str, Getter] = {
    "networks": networks.get_network,
    "subnets": subnets.get_subnet,
    "ports": ports.get_port,
    "routers": routers.get_router,
    "floatingips": floating_ips.get_floating_ip,
    "security-groups": security_groups.get_group,
    "security_groups": security_groups.get_group,
    "subnetpools": subnet_pools.get_pool,
}

MAX_TAGS = 50


class TagNotFound(NotFound):
    title = "TagNotFound"


def _resource(session: Session, creds: Credentials, collection: str, resource_id: str, write: bool) -> Any:
    getter = GETTERS.get(collection)
    if getter is None:
        raise NotFound(f"Resource {collection} does not support tags.")
    row = getter(session, creds, resource_id)
    if write and not owns(creds, row):
        raise Forbidden(f"{collection} {resource_id} belongs to another project.")
    return row


def get_tags(session: Session, creds: Credentials, collection: str, resource_id: str) -> list[str]:
    return list(_resource(session, creds, collection, resource_id, write=False).tags)


def has_tag(session: Session, creds: Credentials, collection: str, resource_id: str, tag: str) -> None:
    if tag not in _resource(session, creds, collection, resource_id, write=False).tags:
        raise TagNotFound(f"Tag {tag} could not be found for {collection[:-1]} {resource_id}.")


def replace_tags(session: Session, clock: Clock, creds: Credentials, collection: str, resource_id: str,
                 tags: Sequence[str]) -> list[str]:
    row = _resource(session, creds, collection, resource_id, write=True)
    checked = check_tags(list(tags))
    if len(checked) > MAX_TAGS:
        raise Forbidden(f"Quota exceeded for resources: ['tags']: at most {MAX_TAGS} tags per resource.")
    row.tags = checked
    touch(row, clock)
    return checked


def add_tag(session: Session, clock: Clock, creds: Credentials, collection: str, resource_id: str, tag: str) -> None:
    row = _resource(session, creds, collection, resource_id, write=True)
    if tag not in row.tags:
        replace_tags(session, clock, creds, collection, resource_id, [*row.tags, tag])


def remove_tag(session: Session, clock: Clock, creds: Credentials, collection: str, resource_id: str,
               tag: str) -> None:
    row = _resource(session, creds, collection, resource_id, write=True)
    if tag not in row.tags:
        raise TagNotFound(f"Tag {tag} could not be found for {collection[:-1]} {resource_id}.")
    replace_tags(session, clock, creds, collection, resource_id, [t for t in row.tags if t != tag])
