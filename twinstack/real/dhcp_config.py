"""dnsmasq's configuration for one network: pure functions from its :class:`NetworkPlan` to files and argv.

dnsmasq serves exactly the fixed IPs IPAM chose: each port is a host entry (MAC, IP) and each subnet's
range is ``static``, so a MAC it does not know gets no address at all, and is not even answered
(``--dhcp-ignore=tag:!known``): on a network spanning hosts each host's dnsmasq serves only its own ports, and
must stay silent, not refuse, when another host's port asks (twinstack.real.net_plan says why). It answers
DHCP only (``--port=0`` turns DNS off) from its own namespace, and a SIGHUP makes it reread the hosts and
options files, which is how a plug or unplug reaches it without a restart.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from twinstack.real.net_plan import NetworkPlan

LEASE_SECONDS = 86400


@dataclass(frozen=True)
class DhcpFiles:
    """Where one network's dnsmasq keeps its files (under the agent's state directory)."""

    directory: Path

    @property
    def hosts(self) -> Path:
        return self.directory / "hosts"

    @property
    def options(self) -> Path:
        return self.directory / "opts"

    @property
    def pid(self) -> Path:
        return self.directory / "pid"

    @property
    def argv_file(self) -> Path:
        """The argv dnsmasq was started with: a change of it (a new subnet) needs a restart, not a HUP."""
        return self.directory / "argv"


def tag(index: int) -> str:
    return f"subnet{index}"


def hosts_file(network: NetworkPlan) -> str:
    """One ``mac,ip`` line per fixed IPv4 address of a port on the network."""
    return "".join(f"{host.mac},{host.ip}\n" for host in network.dhcp_hosts)


def options_file(network: NetworkPlan) -> str:
    """Per subnet: the gateway as router (none given: no router option at all, so the guest takes no default
    route through dnsmasq's own address)."""
    lines = []
    for index, subnet in enumerate(network.dhcp_subnets):
        if subnet.gateway_ip:
            lines.append(f"tag:{tag(index)},option:router,{subnet.gateway_ip}\n")
        else:
            lines.append(f"tag:{tag(index)},option:router\n")
    return "".join(lines)


def dnsmasq_argv(network: NetworkPlan, interface: str, files: DhcpFiles) -> list[str]:
    argv = [
        "dnsmasq",
        "--conf-file=/dev/null",
        "--no-hosts",
        "--no-resolv",
        "--port=0",
        "--bind-interfaces",
        f"--interface={interface}",
        "--except-interface=lo",
        f"--pid-file={files.pid}",
        f"--dhcp-hostsfile={files.hosts}",
        f"--dhcp-optsfile={files.options}",
        "--dhcp-authoritative",
        "--dhcp-ignore=tag:!known",
        "--leasefile-ro",
    ]
    for index, subnet in enumerate(network.dhcp_subnets):
        net = ipaddress.ip_network(subnet.cidr)
        argv.append(f"--dhcp-range=set:{tag(index)},{net.network_address},static,{net.netmask},{LEASE_SECONDS}s")
    return argv
