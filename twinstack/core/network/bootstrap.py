"""The network a new cloud starts with: devstack's external network ``public`` and its subnet, so the
first ``floating ip create public`` and ``router set --external-gateway public`` just work; and devstack's
shared default IPv4 subnet pool, so ``subnet create --use-default-subnet-pool`` and get-me-a-network
(``server create --nic auto``) do."""

from __future__ import annotations

import ipaddress

from sqlalchemy import select
from sqlalchemy.orm import Session

from twinstack.config import NetworkSettings
from twinstack.core.clock import Clock
from twinstack.core.network import networks, segments, subnet_pools, subnets
from twinstack.core.network.common import acting_for
from twinstack.db.models.network import NetworkRow, SubnetPoolRow

PUBLIC_NETWORK = "public"
PUBLIC_SUBNET = "public-subnet"
PUBLIC_PHYSNET = "public"
DEFAULT_POOL_V4 = "shared-default-subnetpool-v4"


def ensure_public_network(session: Session, clock: Clock, settings: NetworkSettings,
                          admin_project_id: str) -> str | None:
    """Idempotent: the id of the external network ``public`` (made, flat on physnet ``public``, if missing);
    None when the settings ask for none."""
    if not settings.public_network:
        return None
    existing = session.scalar(select(NetworkRow.id).where(NetworkRow.name == PUBLIC_NETWORK,
                                                          NetworkRow.external.is_(True)))
    if existing is not None:
        return existing
    admin = acting_for(admin_project_id)
    network = networks.create_network(session, clock, settings, admin, networks.NetworkSpec(
        name=PUBLIC_NETWORK, external=True, is_default=True,
        provider=segments.ProviderRequest("flat", PUBLIC_PHYSNET, None)))
    cidr = ipaddress.ip_network(settings.public_cidr)
    subnets.create_subnet(session, clock, admin, subnets.SubnetSpec(
        network_id=network.id, ip_version=cidr.version, cidr=str(cidr), name=PUBLIC_SUBNET,
        gateway_ip=settings.public_gateway, enable_dhcp=False))
    return network.id


def ensure_default_subnetpool(session: Session, clock: Clock, settings: NetworkSettings,
                              admin_project_id: str) -> str | None:
    """Idempotent: the id of the pool ``shared-default-subnetpool-v4`` (made shared and default, unless another
    IPv4 pool is the default by then); None when the settings ask for none."""
    if not settings.default_subnetpool_v4:
        return None
    existing = session.scalar(select(SubnetPoolRow.id).where(SubnetPoolRow.name == DEFAULT_POOL_V4))
    if existing is not None:
        return existing
    has_default = session.scalar(select(SubnetPoolRow.id).where(SubnetPoolRow.is_default.is_(True),
                                                                SubnetPoolRow.ip_version == 4))
    pool = subnet_pools.create_pool(session, clock, acting_for(admin_project_id), subnet_pools.PoolSpec(
        name=DEFAULT_POOL_V4, prefixes=[settings.default_subnetpool_v4],
        default_prefixlen=settings.default_subnetpool_v4_prefixlen, shared=True, is_default=has_default is None))
    return pool.id
