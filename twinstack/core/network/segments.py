"""Segments: how a network's traffic is carried (flat, VLAN or VXLAN), and the ids they hold.

A tenant network gets the next free id of the configured tenant type; an admin may name the type,
physical network and id (the provider attributes). An id is held while its network exists: the
primary key of ``net_segments`` refuses a second holder even if two requests race, and the caller
holds the ``segments`` lock key while choosing so the race does not happen in the first place.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from twinstack.config import NetworkSettings
from twinstack.core.errors import CloudError
from twinstack.core.network.errors import (
    FlatNetworkInUse,
    InvalidInput,
    NoNetworkAvailable,
    SegmentationIdInUse,
    TunnelIdInUse,
)
from twinstack.db.models.network import SegmentRow

NETWORK_TYPES = ("flat", "vlan", "vxlan")
LOCK_KEY = "segments"


@dataclass(frozen=True)
class ProviderRequest:
    """The provider attributes of a create request (all None: a tenant network)."""

    network_type: str | None = None
    physical_network: str | None = None
    segmentation_id: int | None = None

    @property
    def given(self) -> bool:
        return any(v is not None for v in (self.network_type, self.physical_network, self.segmentation_id))


def _ranges_for(settings: NetworkSettings, network_type: str, physical_network: str) -> list[tuple[int, int]]:
    if network_type == "vxlan":
        return list(settings.vni_ranges)
    if network_type == "vlan":
        span = settings.network_vlan_ranges.get(physical_network)
        return [span] if span else []
    return [(0, 0)]


def validate(settings: NetworkSettings, request: ProviderRequest) -> tuple[str, str, int | None]:
    """The (type, physical network, id or None to allocate) a request means, or InvalidInput."""
    network_type = request.network_type or settings.tenant_network_type
    if network_type not in NETWORK_TYPES:
        raise InvalidInput(f"network_type value '{network_type}' not supported")
    physnet = request.physical_network or ""
    segmentation_id = request.segmentation_id
    if network_type == "flat":
        if segmentation_id is not None:
            raise InvalidInput("segmentation_id specified for flat provider network")
        if not physnet:
            raise InvalidInput("physical_network required for flat provider network")
        if physnet not in settings.flat_networks and "*" not in settings.flat_networks:
            raise InvalidInput(f"physical_network '{physnet}' unknown for flat provider network")
        return network_type, physnet, 0
    if network_type == "vlan":
        if not physnet:
            if request.given:
                raise InvalidInput("physical_network required for VLAN provider network")
            physnet = next(iter(settings.network_vlan_ranges), "")
        if physnet not in settings.network_vlan_ranges:
            raise InvalidInput(f"physical_network '{physnet}' unknown for VLAN provider network")
        if segmentation_id is not None and not 1 <= segmentation_id <= 4094:
            raise InvalidInput("segmentation_id out of range (1 through 4094)")
        return network_type, physnet, segmentation_id
    if physnet:
        raise InvalidInput("provider:physical_network specified for vxlan network")
    if segmentation_id is not None and not 1 <= segmentation_id <= 2**24 - 1:
        raise InvalidInput(f"segmentation_id out of range (1 through {2**24 - 1})")
    return network_type, "", segmentation_id


def _in_use(network_type: str, physnet: str, segmentation_id: int) -> CloudError:
    """Neutron's error for a segment already held: one per type driver."""
    if network_type == "flat":
        return FlatNetworkInUse(physnet)
    if network_type == "vlan":
        return SegmentationIdInUse(network_type, segmentation_id, physnet)
    return TunnelIdInUse(segmentation_id)


def allocate(session: Session, settings: NetworkSettings, network_id: str, request: ProviderRequest) -> SegmentRow:
    """Give the network its segment: the id asked for if free, else the lowest free id of the ranges."""
    network_type, physnet, segmentation_id = validate(settings, request)
    taken = set(session.scalars(select(SegmentRow.segmentation_id).where(
        SegmentRow.network_type == network_type, SegmentRow.physical_network == physnet)))
    if segmentation_id is not None:
        if segmentation_id in taken:
            raise _in_use(network_type, physnet, segmentation_id)
    else:
        segmentation_id = next((candidate for low, high in _ranges_for(settings, network_type, physnet)
                                for candidate in range(low, high + 1) if candidate not in taken), None)
        if segmentation_id is None:
            raise NoNetworkAvailable()
    row = SegmentRow(network_type=network_type, physical_network=physnet, segmentation_id=segmentation_id,
                     network_id=network_id)
    session.add(row)
    session.flush()
    return row


def mtu_for(settings: NetworkSettings, network_type: str) -> int:
    """The largest MTU the segment can carry: VXLAN loses its encapsulation overhead."""
    overhead = settings.vxlan_overhead if network_type == "vxlan" else 0
    return settings.global_physnet_mtu - overhead


def segments_of(session: Session, network_ids: list[str]) -> dict[str, SegmentRow]:
    if not network_ids:
        return {}
    rows = session.scalars(select(SegmentRow).where(SegmentRow.network_id.in_(network_ids)))
    return {row.network_id: row for row in rows}
