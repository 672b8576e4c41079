"""nftables rulesets as text, from what is plugged: pure functions, one ``nft -f`` transaction each.

Security groups (:func:`firewall_ruleset`). Two tables of the agent's own, replaced whole in one
transaction on every change, so a re-plug swaps a port's rules atomically and a removed port leaves none:

* ``table bridge <name>``: anti-spoofing, per tap. A frame the guest sends must carry its MAC (or an
  allowed pair's), ARP and IP from its fixed IPs (or allowed pairs), DHCP only as a client; stateless, so
  the bridge family is enough.
* ``table inet <name>``: the groups' part (default deny, the rules of the port's groups; for a port in
  stateful groups also ``ct state established,related accept``, so replies need no rule). A port in
  stateless groups (stateful-security-group; Neutron refuses a port in both kinds) has no connection state
  consulted at all: its chains accept only what its rules say, so, as in Neutron, its groups must allow the
  replies in the other direction explicitly. Connection tracking still sees its packets (no ``notrack``):
  only the verdict ignores it. The bridge family's own conntrack (nf_conntrack_bridge) is
  missing from kernels like this machine's, so it sits in the inet family's forward hook, which the
  bridge feeds with bridged IP traffic (``net.bridge.bridge-nf-call-iptables``, br_netfilter). There a
  port is recognised by its network's bridge and its MAC (``oifname``/``iifname`` are the bridge for
  bridged packets), which is exact: MACs are unique per network. A packet between two guests of this
  host passes the sender's egress chain, then the receiver's ingress chain: egress allows by returning,
  only ingress accepts.

Routers (:func:`router_nat_ruleset`): SNAT of the tenant subnets to the external gateway address, and
DNAT/SNAT of each floating IP to its fixed IP, in the router's namespace.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from twinstack.real import net_names
from twinstack.real.net_plan import RouterPlan
from twinstack.rpc.network import PortSpec, RuleSpec

PROTOCOL_NUMBERS = {"icmp": 1, "tcp": 6, "udp": 17, "icmpv6": 58, "ipv6-icmp": 58, "sctp": 132}
WITH_PORTS = {"tcp", "udp", "sctp"}


def chain_id(port_id: str) -> str:
    return port_id.replace("-", "")[:16]


def _set(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else "{ " + ", ".join(items) + " }"


def _protocol(rule: RuleSpec) -> str | None:
    """The rule's protocol as nftables names it, None for any."""
    protocol = (rule.protocol or "").lower()
    if protocol in ("", "any", "0"):
        return None
    if protocol.isdigit():
        number = int(protocol)
        by_number = {v: k for k, v in PROTOCOL_NUMBERS.items() if k != "ipv6-icmp"}
        protocol = by_number.get(number, protocol)
    if protocol == "icmp" and rule.ethertype == "IPv6":
        return "icmpv6"
    if protocol == "ipv6-icmp":
        return "icmpv6"
    return protocol


def rule_statement(rule: RuleSpec, verdict: str = "accept") -> str | None:
    """One security group rule as an nftables rule body ending in ``verdict``; None when it can match nothing
    (a remote group with no member of the rule's family)."""
    v6 = rule.ethertype == "IPv6"
    family = "ip6" if v6 else "ip"
    parts = [f"meta nfproto {'ipv6' if v6 else 'ipv4'}"]
    remote_field = "saddr" if rule.direction == "ingress" else "daddr"
    if rule.remote_group_id is not None:
        if not rule.remote_addresses:
            return None
        parts.append(f"{family} {remote_field} {_set(rule.remote_addresses)}")
    elif rule.remote_ip_prefix:
        prefix = ipaddress.ip_network(rule.remote_ip_prefix, strict=False)
        if (prefix.version == 6) != v6:
            return None
        if prefix.prefixlen:
            parts.append(f"{family} {remote_field} {prefix}")
    protocol = _protocol(rule)
    if protocol is not None:
        parts.append(f"meta l4proto {protocol}")
        low, high = rule.port_range_min, rule.port_range_max
        if protocol in WITH_PORTS and low is not None:
            parts.append(f"{protocol} dport {low}" if high in (None, low) else f"{protocol} dport {low}-{high}")
        elif protocol in ("icmp", "icmpv6") and low is not None:
            parts.append(f"{protocol} type {low}")
            if high is not None:
                parts.append(f"{protocol} code {high}")
    return " ".join([*parts, verdict])


def _addresses(port: PortSpec) -> tuple[list[str], list[str], list[str]]:
    """The MACs, IPv4 and IPv6 sources the port may send from (fixed IPs and allowed address pairs)."""
    macs = [port.mac_address.lower()]
    v4: list[str] = []
    v6: list[str] = []
    sources = [f.ip_address for f in port.fixed_ips]
    for pair in port.allowed_address_pairs:
        if pair.get("mac_address"):
            macs.append(pair["mac_address"].lower())
        if pair.get("ip_address"):
            sources.append(pair["ip_address"])
    for source in sources:
        network = ipaddress.ip_network(source, strict=False)
        (v6 if network.version == 6 else v4).append(
            str(network.network_address) if network.num_addresses == 1 else str(network)
        )
    return sorted(set(macs)), sorted(set(v4)), sorted(set(v6))


def _spoof_chain(port: PortSpec) -> list[str]:
    macs, v4, v6 = _addresses(port)
    lines = [
        f"ether saddr != {_set(macs)} drop",
        "udp sport 67 drop",  # no rogue DHCP server
        "ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 accept",
    ]
    lines.append(f"arp saddr ip != {_set(['0.0.0.0', *v4])} drop")
    lines.append(f"ip saddr != {_set(v4)} drop" if v4 else "ether type ip drop")
    lines.append(f"ip6 saddr != {_set(['fe80::/10', *v6])} drop")
    lines.append("ether type { arp, ip, ip6 } accept")
    lines.append("drop")
    return lines


def stateful(port: PortSpec) -> bool:
    """Whether the port's chains consult connection state: not for a port whose rules are all of stateless
    groups. A port with no rules is treated as stateful (with no rule nothing is accepted either way)."""
    rules = port.security_group_rules
    return not rules or any(r.stateful for r in rules)


def _tracked(port: PortSpec, verdict: str) -> list[str]:
    if not stateful(port):
        return []
    return [f"ct state established,related {verdict}", "ct state invalid drop"]


def _ingress_chain(port: PortSpec) -> list[str]:
    lines = [
        *_tracked(port, "accept"),
        "udp sport 67 udp dport 68 accept",  # DHCP answers
        "meta l4proto icmpv6 icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert } accept",
    ]
    lines += [s for r in port.security_group_rules if r.direction == "ingress" if (s := rule_statement(r))]
    return [*lines, "drop"]


def _egress_chain(port: PortSpec) -> list[str]:
    """What the port may send. Allowed traffic *returns* rather than being accepted: between two ports on this
    host the packet must still pass the receiving port's ingress chain (an accept here would end the hook)."""
    lines = [
        *_tracked(port, "return"),
        "udp sport 68 udp dport 67 return",  # DHCP requests
        "meta l4proto icmpv6 icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit } return",
    ]
    lines += [s for r in port.security_group_rules if r.direction == "egress" if (s := rule_statement(r, "return"))]
    return [*lines, "drop"]


def _chain(name: str, lines: Sequence[str], hook: str | None = None) -> list[str]:
    head = [f"  chain {name} {{"]
    if hook is not None:
        head.append(f"    {hook}")
    return head + [f"    {line}" for line in lines] + ["  }"]


@dataclass(frozen=True)
class LocalRouterLeg:
    """A leg of a router this host builds on a VXLAN network: its tunnel device, MAC (the same on every host:
    :func:`twinstack.real.net_names.router_mac`), address, and the host's own MAC for what the leg routes onto
    the tunnel (:func:`twinstack.real.net_names.tunnel_router_mac`; empty: nothing it routes crosses)."""

    vxlan: str
    mac: str
    ip: str
    tunnel_mac: str = ""


def _router_leg_lines(leg: LocalRouterLeg) -> list[str]:
    """Every host behind a router builds it (one gateway IP and MAC on each), so its copies must not meet over
    the tunnel: no ARP for or from its address crosses, either way, nor anything to its MAC, nor anything from it
    but the IPv4 packets the copy routes to a server on another host (east-west, the copy holding the server's
    address as a permanent neighbour), which leave with the host's own MAC in place of the leg's (Neutron's DVR
    rewrites them to its per-host MAC the same way). Each host's guests reach their own host's copy, and their
    gateway traffic never leaves the host."""
    lines = []
    for way in ("iifname", "oifname"):
        lines += [f'{way} "{leg.vxlan}" arp daddr ip {leg.ip} drop', f'{way} "{leg.vxlan}" arp saddr ip {leg.ip} drop']
        if way == "oifname" and leg.tunnel_mac:
            lines.append(f'{way} "{leg.vxlan}" ether saddr {leg.mac} ether type ip ether saddr set {leg.tunnel_mac} '
                         "accept")
        lines += [f'{way} "{leg.vxlan}" ether saddr {leg.mac} drop', f'{way} "{leg.vxlan}" ether daddr {leg.mac} drop']
    return lines


def firewall_ruleset(table: str, ports: Sequence[PortSpec], tag: str = "",
                     router_legs: Sequence[LocalRouterLeg] = ()) -> str:
    """Both tables for every port with port security, and the bridge table's forward chain keeping this host's
    router legs on VXLAN networks off the tunnel (:func:`_router_leg_lines`); the text deletes the previous
    tables first (``add`` then ``delete`` makes deleting one that is not there a no-op), so it is one atomic
    replacement."""
    secured = [p for p in sorted(ports, key=lambda p: p.port_id) if p.port_security_enabled]
    out = [f"table bridge {table}", f"delete table bridge {table}", f"table inet {table}", f"delete table inet {table}"]
    legs = sorted(set(router_legs), key=lambda leg: (leg.vxlan, leg.mac, leg.ip, leg.tunnel_mac))
    if not secured and not legs:
        return "\n".join(out) + "\n"
    bridge_body: list[str] = []
    if legs:
        bridge_body += _chain("router_legs", [line for leg in legs for line in _router_leg_lines(leg)],
                              "type filter hook forward priority filter; policy accept;")
    if not secured:
        return "\n".join([*out, f"table bridge {table} {{", *bridge_body, "}"]) + "\n"
    dispatch = [f'iifname "{net_names.tap(p.port_id)}" jump spoof_{chain_id(p.port_id)}' for p in secured]
    bridge_body += _chain("prerouting", dispatch, "type filter hook prerouting priority filter; policy accept;")
    for port in secured:
        bridge_body += _chain(f"spoof_{chain_id(port.port_id)}", _spoof_chain(port))
    inet_body: list[str] = []
    # every sender's egress first (it drops or returns), then the receiver's ingress (it drops or accepts)
    forward = [f'iifname "{net_names.bridge(p.network_id, tag)}" ether saddr {p.mac_address.lower()} '
               f"jump out_{chain_id(p.port_id)}" for p in secured]
    forward += [f'oifname "{net_names.bridge(p.network_id, tag)}" ether daddr {p.mac_address.lower()} '
                f"jump in_{chain_id(p.port_id)}" for p in secured]
    inet_body += _chain("forward", forward, "type filter hook forward priority filter; policy accept;")
    for port in secured:
        inet_body += _chain(f"in_{chain_id(port.port_id)}", _ingress_chain(port))
        inet_body += _chain(f"out_{chain_id(port.port_id)}", _egress_chain(port))
    out += [f"table bridge {table} {{", *bridge_body, "}", f"table inet {table} {{", *inet_body, "}"]
    return "\n".join(out) + "\n"


def router_nat_ruleset(router: RouterPlan) -> str:
    """The router namespace's NAT: floating IPs both ways, then SNAT of what else leaves by the gateway."""
    table = net_names.ROUTER_NAT_TABLE
    out = [f"table ip {table}", f"delete table ip {table}"]
    gateway = router.gateway
    if gateway is None:
        return "\n".join(out) + "\n"
    outside = net_names.router_gateway_inside(gateway.port_id)
    pre = [f"ip daddr {f.floating_ip} dnat to {f.fixed_ip}" for f in router.floating_ips]
    post = [f'oifname "{outside}" ip saddr {f.fixed_ip} snat to {f.floating_ip}' for f in router.floating_ips]
    if router.enable_snat:
        post += [
            f'oifname "{outside}" ip saddr {i.cidr} snat to {gateway.ip_address}'
            for i in router.interfaces
            if ipaddress.ip_network(i.cidr).version == 4
        ]
    body = _chain("prerouting", pre, "type nat hook prerouting priority dstnat; policy accept;")
    body += _chain("output", pre, "type nat hook output priority -100; policy accept;")
    body += _chain("postrouting", post, "type nat hook postrouting priority srcnat; policy accept;")
    out += [f"table ip {table} {{", *body, "}"]
    return "\n".join(out) + "\n"
