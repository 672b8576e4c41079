"""Subnet pools: prefixes a project carves subnets from, by prefix length instead of by CIDR.

A subnet asked from a pool (``subnetpool_id`` or ``use_default_subnetpool``, with an optional
``prefixlen``) gets the lowest block of that length inside the pool's prefixes that overlaps no
subnet already carved from the pool. The caller holds the network's lock key; two networks
carving from one pool at once are kept apart by the pool's own key, taken here.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from twinstack.core.clock import Clock
from twinstack.core.errors import BadRequest, Conflict, Forbidden
from twinstack.core.network import addresses, quotas
from twinstack.core.network.common import new_uuid, now, owner_for, owns, touch
from twinstack.core.network.errors import BadRequestWithType, InvalidInput, SubnetPoolNotFound
from twinstack.core.policy import Credentials
from twinstack.db.models.network import SubnetPoolRow, SubnetRow
from twinstack.db.stores.network_locks import lock_keys

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

if TYPE_CHECKING:
    from twinstack.core.network.subnets import SubnetSpec


@dataclass
class PoolSpec:
    name: str
    prefixes: list[str]
    description: str = ""
    project_id: str | None = None
    default_prefixlen: int | None = None
    min_prefixlen: int | None = None
    max_prefixlen: int | None = None
    shared: bool = False
    is_default: bool = False
    default_quota: int | None = None
    tags: list[str] = field(default_factory=list)


def visible(creds: Credentials) -> ColumnElement[bool] | None:
    if creds.is_admin:
        return None
    return or_(SubnetPoolRow.shared.is_(True), SubnetPoolRow.project_id == (creds.project_id or ""))


def get_pool(session: Session, creds: Credentials, pool_id: str) -> SubnetPoolRow:
    row = session.get(SubnetPoolRow, pool_id)
    if row is None or not (owns(creds, row) or row.shared):
        raise SubnetPoolNotFound(pool_id)
    return row


def list_pools(session: Session, creds: Credentials) -> list[SubnetPoolRow]:
    statement = select(SubnetPoolRow).order_by(SubnetPoolRow.created_at, SubnetPoolRow.id)
    clause = visible(creds)
    if clause is not None:
        statement = statement.where(clause)
    return list(session.scalars(statement))


def _prefixes(values: list[str]) -> list[addresses.IPNetwork]:
    if not values:
        raise BadRequest("Invalid input for prefixes. Reason: a subnet pool needs at least one prefix.")
    networks = [ipaddress.ip_network(str(addresses.parse_cidr(v, "prefixes"))) for v in values]
    if len({n.version for n in networks}) != 1:
        raise BadRequest("Illegal subnetpool association: prefixes mix IPv4 and IPv6.")
    collapsed: list[addresses.IPNetwork] = []
    for version in (4, 6):
        same = [n for n in networks if n.version == version]
        collapsed += list(ipaddress.collapse_addresses(same))  # type: ignore[type-var]
    return collapsed


def create_pool(session: Session, clock: Clock, creds: Credentials, spec: PoolSpec) -> SubnetPoolRow:
    owner = owner_for(creds, spec.project_id)
    prefixes = _prefixes(spec.prefixes)
    version = prefixes[0].version
    top = 32 if version == 4 else 128
    min_len = spec.min_prefixlen if spec.min_prefixlen is not None else min(p.prefixlen for p in prefixes)
    max_len = spec.max_prefixlen if spec.max_prefixlen is not None else top
    default_len = spec.default_prefixlen if spec.default_prefixlen is not None else min_len
    if not 0 <= min_len <= default_len <= max_len <= top:
        raise BadRequest(f"Illegal prefix bounds: min_prefixlen={min_len}, default_prefixlen={default_len}, "
                         f"max_prefixlen={max_len}.")
    if (spec.shared or spec.is_default) and not creds.is_admin:
        raise Forbidden("(rule:create_subnetpool:shared) is disallowed by policy")
    lock_keys(session, [quotas.quota_key(owner), *([default_key(version)] if spec.is_default else [])])
    quotas.check(session, owner, "subnetpool")
    if spec.is_default:
        _check_no_default(session, version)
    moment = now(clock)
    row = SubnetPoolRow(id=new_uuid(), project_id=owner, name=spec.name, description=spec.description,
                        ip_version=version, prefixes=[str(p) for p in prefixes], default_prefixlen=default_len,
                        min_prefixlen=min_len, max_prefixlen=max_len, shared=spec.shared, is_default=spec.is_default,
                        default_quota=spec.default_quota, address_scope_id=None, tags=list(spec.tags),
                        revision_number=0, created_at=moment, updated_at=moment)
    session.add(row)
    session.flush()
    return row


def default_key(version: int) -> str:
    return f"default-subnetpool:{version}"


def _check_no_default(session: Session, version: int) -> None:
    """One default pool per IP family (default-subnetpools); Neutron refuses a second with InvalidInput. The caller
    holds :func:`default_key`."""
    if session.scalar(select(SubnetPoolRow.id).where(SubnetPoolRow.is_default.is_(True),
                                                     SubnetPoolRow.ip_version == version)) is not None:
        raise InvalidInput("A default subnetpool for this IP family has already been set. Only one default may "
                           "exist per IP family")


def update_pool(session: Session, clock: Clock, creds: Credentials, pool_id: str,
                changes: Mapping[str, Any]) -> SubnetPoolRow:
    row = get_pool(session, creds, pool_id)
    if not owns(creds, row):
        raise Forbidden(f"Subnet pool {pool_id} belongs to another project.")
    if changes.get("is_default") and not row.is_default:
        lock_keys(session, [default_key(row.ip_version)])
        _check_no_default(session, row.ip_version)
    if "prefixes" in changes:
        new = _prefixes(changes["prefixes"])
        old = [ipaddress.ip_network(p) for p in row.prefixes]
        if not all(any(o.subnet_of(n) for n in new) for o in old):  # type: ignore[arg-type]
            raise BadRequest("Illegal update to prefixes: existing prefixes may only grow.")
        row.prefixes = [str(p) for p in new]
    for name in ("name", "description", "default_prefixlen", "min_prefixlen", "max_prefixlen", "is_default",
                 "default_quota"):
        if name in changes:
            setattr(row, name, changes[name])
    touch(row, clock)
    session.flush()
    return row


def delete_pool(session: Session, creds: Credentials, pool_id: str) -> None:
    row = get_pool(session, creds, pool_id)
    if not owns(creds, row):
        raise Forbidden(f"Subnet pool {pool_id} belongs to another project.")
    if session.scalar(select(SubnetRow.id).where(SubnetRow.subnetpool_id == pool_id).limit(1)) is not None:
        raise Conflict(f"Unable to delete subnet pool: Subnet pool {pool_id} has allocated subnets.")
    session.delete(row)
    session.flush()


def default_pool(session: Session, creds: Credentials, version: int) -> SubnetPoolRow | None:
    """The default pool of an IP family the caller may see (``use_default_subnetpool``, get-me-a-network)."""
    statement = select(SubnetPoolRow).where(SubnetPoolRow.is_default.is_(True), SubnetPoolRow.ip_version == version)
    clause = visible(creds)
    return session.scalar(statement.where(clause) if clause is not None else statement)


def carve(session: Session, creds: Credentials, spec: SubnetSpec) -> tuple[str, str]:
    """The (cidr, pool id) a subnet request without a CIDR gets from its pool."""
    if spec.subnetpool_id is not None:
        pool = get_pool(session, creds, spec.subnetpool_id)
    else:
        found = default_pool(session, creds, spec.ip_version)
        if found is None:
            raise BadRequestWithType(f"Bad subnets request: No default subnetpool found for IPv{spec.ip_version}.")
        pool = found
    if pool.ip_version != spec.ip_version:
        raise BadRequest(f"Cannot allocate IPv{spec.ip_version} subnet from IPv{pool.ip_version} subnet pool")
    length = spec.prefixlen if spec.prefixlen is not None else pool.default_prefixlen
    if not pool.min_prefixlen <= length <= pool.max_prefixlen:
        raise BadRequest(f"Unsupported prefix length {length}: the pool allows {pool.min_prefixlen} to "
                         f"{pool.max_prefixlen}.")
    lock_keys(session, [f"subnetpool:{pool.id}"])
    carved = [ipaddress.ip_network(c) for c in session.scalars(select(SubnetRow.cidr)
                                                              .where(SubnetRow.subnetpool_id == pool.id))]
    for prefix in (ipaddress.ip_network(p) for p in pool.prefixes):
        if prefix.prefixlen > length:
            continue
        free = first_free(prefix, length, carved)
        if free is not None:
            return str(free), pool.id
    raise Conflict(f"Insufficient prefix space to allocate subnet size /{length}.")


def first_free(prefix: IPNetwork, length: int, carved: Sequence[IPNetwork]) -> IPNetwork | None:
    """The lowest /``length`` block of ``prefix`` that overlaps nothing ``carved``: one walk over the blocks and the
    carved ranges, both in address order (a pool of thousands of subnets is not compared block by subnet)."""
    taken = sorted((int(c.network_address), int(c.broadcast_address)) for c in carved if c.version == prefix.version)
    size = 1 << (prefix.max_prefixlen - length)
    start, last, index = int(prefix.network_address), int(prefix.broadcast_address), 0
    while start + size - 1 <= last:
        end = start + size - 1
        while index < len(taken) and taken[index][1] < start:
            index += 1
        if index == len(taken) or taken[index][0] > end:
            return ipaddress.ip_network((start, length))
        start = (taken[index][1] // size + 1) * size  # the first block past the range in the way
    return None
