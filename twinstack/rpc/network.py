"""The host-agent protocol for networking: plug and unplug an instance's ports on its host.

Why messages of their own rather than a port list on SpawnInstance: a port's content changes while the
instance runs (a security group rule added, a floating IP associated), and the agent must hear it then,
not only at boot. One PlugPorts serves the first plug and every re-plug (it carries each port whole, so
the agent replaces what it holds: a repeat or a reordering cannot leave stale rules), and SpawnInstance
stays as it was for agents and simulations that do no networking.

Order: the conductor sends PlugPorts to the host's agent just before SpawnInstance (the bus keeps a
topic's order), UnplugPorts before DestroyInstance. The agent answers PortsResult to the conductor.
The API reaches the conductor with RefreshPorts when something a bound port carries changed.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from twinstack.rpc.messages import Command, Message, register


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class FixedIpSpec(_Part):
    subnet_id: str
    ip_address: str
    cidr: str
    gateway_ip: str | None = None
    enable_dhcp: bool = True
    """1.2: False when the subnet has DHCP off: the host serves no lease for this address (True from a 1.0 or 1.1
    sender)."""


class RuleSpec(_Part):
    """One security group rule as it applies to the port. ``remote_addresses`` resolves ``remote_group_id``
    to the fixed IPs of the group's member ports when the plug was made."""

    id: str
    direction: Literal["ingress", "egress"]
    ethertype: str = "IPv4"
    protocol: str | None = None
    port_range_min: int | None = None
    port_range_max: int | None = None
    remote_ip_prefix: str | None = None
    remote_group_id: str | None = None
    remote_addresses: list[str] = Field(default_factory=list)
    stateful: bool = True
    """1.2: False for a rule of a stateless group (stateful-security-group): no connection tracking, so its
    return traffic passes only if another rule allows it (True from a 1.0 or 1.1 sender)."""


class SegmentSpec(_Part):
    network_type: str = "local"
    segmentation_id: int | None = None
    physical_network: str | None = None
    mtu: int = 1500


class FloatingIpSpec(_Part):
    floating_ip_address: str
    fixed_ip_address: str | None = None


class ExternalGatewaySpec(_Part):
    """A router's leg on an external network: its gateway port's address there, and that subnet's gateway
    (where the router's default route points)."""

    port_id: str
    network_id: str
    ip_address: str
    cidr: str
    gateway_ip: str | None = None
    mtu: int = 1500


class RouterLegSpec(_Part):
    """One of a router's interfaces on a tenant subnet, wherever the ports behind it are: a host holding a copy of
    the router builds every leg, so that it routes between the router's subnets itself (Neutron's DVR)."""

    port_id: str
    network_id: str
    subnet_id: str
    ip_address: str
    cidr: str
    segment: SegmentSpec = Field(default_factory=SegmentSpec)


class NeighbourSpec(_Part):
    """A server's port address on a routed network: a router copy's permanent neighbour entry, so that it never
    asks over the tunnel (another host's copy of the same leg would take the answer)."""

    ip_address: str
    mac_address: str


class RouterSpec(_Part):
    """A router with an interface on one of the port's subnets: what the host needs to build it (a namespace
    between the tenant network and the external one, SNAT, the port's floating IPs)."""

    router_id: str
    subnet_id: str
    interface_port_id: str
    interface_ip: str
    cidr: str
    enable_snat: bool = True
    external_gateway: ExternalGatewaySpec | None = None
    interfaces: list[RouterLegSpec] = Field(default_factory=list)
    """PlugPorts 1.6: every interface of the router on a tenant subnet, this one included (empty from an older
    sender: the host builds the leg on the port's subnet only)."""


class PortSpec(_Part):
    """Everything an agent needs to program one port (VIF, VLAN/VXLAN, firewall, NAT)."""

    port_id: str
    mac_address: str
    network_id: str
    segment: SegmentSpec
    fixed_ips: list[FixedIpSpec] = Field(default_factory=list)
    port_security_enabled: bool = True
    security_group_ids: list[str] = Field(default_factory=list)
    security_group_rules: list[RuleSpec] = Field(default_factory=list)
    allowed_address_pairs: list[dict[str, str]] = Field(default_factory=list)
    floating_ips: list[FloatingIpSpec] = Field(default_factory=list)
    routers: list[RouterSpec] = Field(default_factory=list)
    """1.1: the routers on the port's subnets (empty from a 1.0 sender: the port is not routed)"""


class VtepSpec(_Part):
    """A host's VXLAN tunnel endpoint: where frames for the ports behind it are sent."""

    ip: str
    port: int = 4789


@register
class PlugPorts(Command):
    """Plug (or re-plug: replace whole) these ports of the instance on ``host``. Answered with PortsResult.

    1.1: each port carries the routers on its subnets (PortSpec.routers).
    1.2: each rule says whether its group is stateful (RuleSpec.stateful), each fixed IP whether its subnet has
    DHCP on (FixedIpSpec.enable_dhcp).
    1.3: ``tunnel_peers``, for each VXLAN network of the ports: the tunnel endpoints of the *other* hosts with a
    port bound on it, as they are when the plug is sent (Neutron's l2population). The agent replicates broadcast
    and unknown frames to them; a network absent (an older sender) keeps the peers the agent last heard of. The
    conductor sends a re-plug to every host on a network whose set of endpoints may have changed.
    1.4: ``peer_generations``, each ``tunnel_peers`` network's generation (raised in the database by every look
    at the network's hosts): the agent keeps the peers of the newest generation it heard, so plugs arriving out
    of order (two conductors, a redelivery) never put back an older list. Absent (an older sender): 0.
    1.5: ``dhcp_servers``, subnet id -> the address of the host's DHCP port (``network:dhcp``, reserved in IPAM)
    on each DHCP-enabled subnet of those VXLAN networks: its dnsmasq serves there. Absent: the agent picks one.
    1.6: distributed routers. Each port's routers name all their legs (RouterSpec.interfaces), which the host
    builds, so ``tunnel_peers`` and ``peer_generations`` also cover the VXLAN networks of those legs (a host
    holding a copy of a router counts as a member of each of its networks); ``neighbours``, for each of those
    legs' VXLAN networks, the servers' port addresses there, which the router copies hold as permanent entries
    (taken with the network's peers, under the same generation). Absent: no routed network."""

    name = "network.plug_ports"
    version = "1.6"
    host: str
    instance_uuid: str
    ports: list[PortSpec]
    tunnel_peers: dict[str, list[VtepSpec]] = Field(default_factory=dict)
    peer_generations: dict[str, int] = Field(default_factory=dict)
    dhcp_servers: dict[str, str] = Field(default_factory=dict)
    neighbours: dict[str, list[NeighbourSpec]] = Field(default_factory=dict)


@register
class UnplugPorts(Command):
    """Unplug ``port_ids`` of the instance on ``host``; none listed: every port the host holds for it
    (the conductor may no longer know them: a deleted server's ports are gone from the database).
    Idempotent: a port not plugged is unplugged."""

    name = "network.unplug_ports"
    version = "1.0"
    host: str
    instance_uuid: str
    port_ids: list[str] = Field(default_factory=list)


@register
class PortsResult(Message):
    name = "network.ports_result"
    version = "1.0"
    command_id: str
    action: Literal["plug", "unplug"]
    host: str
    instance_uuid: str
    port_ids: list[str] = Field(default_factory=list)
    ok: bool = True
    fault: str | None = None


@register
class RefreshPorts(Command):
    """API -> conductor: what these ports carry changed (rules, floating IPs); re-plug the bound ones.

    1.1: ``group_ids``, groups whose membership changed (a port joined or left one, or a member's addresses
    changed): the bound ports whose rules name one of them as remote group are re-plugged too, with the new
    ``remote_addresses``. The conductor resolves them, so the API need not list every such port."""

    name = "network.refresh_ports"
    version = "1.2"
    port_ids: list[str]
    group_ids: list[str] = Field(default_factory=list)
    tunnelled: dict[str, list[str]] = Field(default_factory=dict)
    """1.2: VXLAN network -> the hosts released ports on it were bound on (read before the release): the
    conductor re-plugs the networks' hosts with their new tunnel peers."""
