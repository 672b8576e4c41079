"""Each tunnelling host's DHCP port on a VXLAN network, reserved in IPAM as Neutron's DHCP agent reserves its own.

A real agent runs a dnsmasq for each DHCP-enabled IPv4 subnet of a network it has ports on; over VXLAN the network
is one L2 segment across its hosts, so each dnsmasq needs an address no guest and no other host's dnsmasq holds.
Choosing it on the host from the ports the host holds could not know the others' (a user port at the top address
on another host, another host's dnsmasq). So, as Neutron does, the network service gives each such host a port
(``device_owner`` ``network:dhcp``, ``device_id`` ``dhcp<uuid5 of the host>-<network id>``, bound to the host) when
a plug first takes a port of the network there (:func:`ensure`), its addresses taken from the pool as any port's,
and deletes it once the host holds no server's port on the network any more (:func:`release_unused`). The plug
carries its addresses (PlugPorts 1.5 ``dhcp_servers``) and the agent's dnsmasq takes them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from twinstack.core.network import ipam
from twinstack.core.network.common import new_uuid
from twinstack.core.network.errors import IpAddressGenerationFailure
from twinstack.db.models.network import IpAllocationRow, NetworkRow, PortRow, SubnetRow
from twinstack.db.stores.network_locks import lock_keys

DHCP_OWNER = "network:dhcp"


def device_id(host: str, network_id: str) -> str:
    """Neutron's DHCP port device id: ``dhcp`` + a UUID of the host + ``-`` + the network."""
    return f"dhcp{uuid.uuid5(uuid.NAMESPACE_DNS, host)}-{network_id}"


def _mac(host: str, network_id: str) -> str:
    digest = hashlib.sha256(f"{host}/{network_id}".encode()).digest()
    return "fa:16:3e:" + ":".join(f"{b:02x}" for b in digest[:3])


def ensure(session: Session, host: str, network_ids: Sequence[str]) -> dict[str, str]:
    """``host``'s DHCP port on each of these networks that has a DHCP-enabled IPv4 subnet (made if missing);
    answers subnet id -> its address there. A subnet whose pool is full gets none (the agent then picks one)."""
    found: dict[str, str] = {}
    for network_id in sorted(set(network_ids)):
        subnets = list(session.scalars(select(SubnetRow).where(
            SubnetRow.network_id == network_id, SubnetRow.enable_dhcp.is_(True), SubnetRow.ip_version == 4)
            .order_by(SubnetRow.created_at, SubnetRow.id)))
        if not subnets:
            continue
        wanted = device_id(host, network_id)
        port = session.scalar(select(PortRow).where(PortRow.device_id == wanted, PortRow.device_owner == DHCP_OWNER))
        if port is None:
            network = session.get(NetworkRow, network_id)
            if network is None:
                continue
            lock_keys(session, [ipam.network_lock(network_id)])
            moment = dt.datetime.now(dt.UTC).replace(microsecond=0)
            port = PortRow(id=new_uuid(), project_id=network.project_id, network_id=network_id, name="",
                           description="", admin_state_up=True, status="ACTIVE", mac_address=_mac(host, network_id),
                           device_id=wanted, device_owner=DHCP_OWNER, port_security_enabled=False,
                           allowed_address_pairs=[], binding_host_id=host, binding_vnic_type="normal",
                           binding_profile={}, tags=[], revision_number=0, created_at=moment, updated_at=moment)
            session.add(port)
            session.flush()
            for subnet in subnets:  # one at a time: a full pool leaves only its subnet without an address
                try:  # writes nothing when it fails
                    ipam.allocate(session, network_id, port.id, [ipam.FixedIp(subnet_id=subnet.id)],
                                  port.mac_address, DHCP_OWNER)
                except IpAddressGenerationFailure:
                    continue
        for allocation in session.scalars(select(IpAllocationRow).where(IpAllocationRow.port_id == port.id)):
            found[allocation.subnet_id] = allocation.ip_address
    return found


def release_unused(session: Session, network_ids: Sequence[str], hosts_on: dict[str, dict[str, list[str]]]) -> None:
    """Delete the DHCP ports of hosts holding no server's port on these networks any more (``hosts_on``: network
    -> host -> ports, :func:`twinstack.core.network.instance_ports.ports_by_host`)."""
    if not network_ids:
        return
    for port in session.scalars(select(PortRow).where(PortRow.network_id.in_(list(network_ids)),
                                                      PortRow.device_owner == DHCP_OWNER)).all():
        if port.device_id == device_id(port.binding_host_id, port.network_id) and \
                port.binding_host_id not in hosts_on.get(port.network_id, {}):
            lock_keys(session, [ipam.network_lock(port.network_id)])
            session.delete(port)
    session.flush()
