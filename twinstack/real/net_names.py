"""Names of what the real agent makes in the host's network stack, derived from the ids they serve.

Linux interface names hold at most 15 characters, so each name is a three-letter kind and the first 11
characters of an id (Neutron's habit: ``tap`` + port id). Namespaces have no such limit and carry whole ids.
Every name starts with a prefix of ours, so a look at ``ip link`` tells what is Twinstack's; what a given
agent may remove is decided by its own ledger, not by the prefix (two clouds may share one machine).

What every host with a port on a network makes for it (its bridge, DHCP namespace and veths, VXLAN device,
router namespaces and legs) also carries the agent's *tag* (:func:`agent_tag`: three hex characters drawn
from its state directory) after the kind, and then the id's first 9 characters but for its dashes: two agents
on one machine (two "hosts" of a test, or two clouds) each have a network's bridge of their own, joined by
VXLAN as two machines' would be, instead of sharing one by the accident of its name and removing it under
each other.
Taps stay ``tap`` + port id: a port is plugged on one host at a time (a move's source keeps its guest off).
"""

from __future__ import annotations

import hashlib

IFNAMSIZ = 15
ID_CHARS = 11
TAG_CHARS = 3


def agent_tag(state_dir: str) -> str:
    """The agent's tag in the names of what it makes (see the module's docstring)."""
    return hashlib.sha256(("tag:" + state_dir).encode()).hexdigest()[:TAG_CHARS]


def _ifname(kind: str, some_id: str, tag: str = "") -> str:
    name = (kind + tag + some_id.replace("-", ""))[:IFNAMSIZ] if tag else kind + some_id[:ID_CHARS]
    assert len(name) <= IFNAMSIZ, name
    return name


def tap(port_id: str) -> str:
    """The guest's NIC on the host (libvirt makes it with this name, plugged into the network's bridge)."""
    return _ifname("tap", port_id)


def bridge(network_id: str, tag: str = "") -> str:
    """One Linux bridge per network on this host."""
    return _ifname("tsb", network_id, tag)


def vxlan(network_id: str, tag: str = "") -> str:
    """A VXLAN network's tunnel device, plugged into its bridge."""
    return _ifname("tsv", network_id, tag)


def _namespace(kind: str, some_id: str, tag: str) -> str:
    return f"ts-{kind}-{tag}-{some_id}" if tag else f"ts-{kind}-{some_id}"


def dhcp_namespace(network_id: str, tag: str = "") -> str:
    return _namespace("dhcp", network_id, tag)


def dhcp_host_side(network_id: str, tag: str = "") -> str:
    """The DHCP namespace's veth: this end sits in the bridge..."""
    return _ifname("tsd", network_id, tag)


def dhcp_inside(network_id: str, tag: str = "") -> str:
    """...and this one in the namespace, with dnsmasq's address."""
    return _ifname("tsn", network_id, tag)


def router_namespace(router_id: str, tag: str = "") -> str:
    return _namespace("router", router_id, tag)


def router_interface_host_side(interface_port_id: str, tag: str = "") -> str:
    """A router's leg on a tenant subnet, named after its interface port (Neutron's ``qr-``): bridge end..."""
    return _ifname("tsr", interface_port_id, tag)


def router_interface_inside(interface_port_id: str, tag: str = "") -> str:
    """...and the end in the router's namespace, holding the subnet's gateway address."""
    return _ifname("tsq", interface_port_id, tag)


def router_gateway_host_side(gateway_port_id: str, tag: str = "") -> str:
    """A router's leg on the external network (Neutron's ``qg-``): bridge end..."""
    return _ifname("tsg", gateway_port_id, tag)


def router_gateway_inside(gateway_port_id: str, tag: str = "") -> str:
    """...and the end in the router's namespace, holding its external and floating addresses."""
    return _ifname("tso", gateway_port_id, tag)


def firewall_table(state_dir: str) -> str:
    """The nftables table (one in the bridge family, one in inet) of the agent keeping ``state_dir``: its own,
    so two agents on one machine never replace each other's rules."""
    return "twinstack_" + hashlib.sha256(state_dir.encode()).hexdigest()[:8]


ROUTER_NAT_TABLE = "twinstack_nat"
"""The router namespace's own table (a namespace holds one router, so the name need not be unique)."""


def router_mac(interface_port_id: str) -> str:
    """The MAC of a router's leg, the same on every host building the router (each host with a port behind it
    builds its own copy, as Neutron's DVR does): derived from the router port, locally administered (``fa``),
    never one of Neutron's ``fa:16:3e`` port MACs. The copies hide from each other across the tunnel
    (:func:`twinstack.real.nft_rules.firewall_ruleset`)."""
    digest = hashlib.sha256(interface_port_id.encode()).digest()
    return "fa:16:3f:" + ":".join(f"{b:02x}" for b in digest[:3])


def tunnel_router_mac(tunnel_ip: str, tunnel_port: int) -> str:
    """This host's own MAC for what its router copies route onto a tunnel (Neutron's per-host DVR MAC): the leg's
    MAC is every host's, so a routed frame takes this one as it leaves for the tunnel, and the bridges across
    learn one MAC per host, never a MAC that is also local to them. Derived from the host's tunnel endpoint (one
    per host), locally administered, apart from :func:`router_mac`'s."""
    digest = hashlib.sha256(f"tunnel:{tunnel_ip}:{tunnel_port}".encode()).digest()
    return "fa:16:3d:" + ":".join(f"{b:02x}" for b in digest[:3])
