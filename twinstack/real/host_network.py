"""Making this host's network stack match a :class:`~twinstack.real.net_plan.HostPlan` (blocking: workers only).

:meth:`HostNetwork.apply` is idempotent and converges: bridges per network, a DHCP namespace per network
(veth into the bridge, dnsmasq serving the plan's host entries, HUP'ed after each change), a namespace per
router (a leg on each tenant subnet with its gateway address, a leg on the external bridge with its
external and floating addresses, NAT), the external bridges with the host's address on them, and the
firewall tables. Then it removes what it made that the plan no longer names. A router's legs on tunnelled
networks hold permanent neighbour entries for the servers there (net_plan: distributed routers), and leave for
the tunnel with this host's own MAC (:func:`twinstack.real.net_names.tunnel_router_mac`, nft_rules).

VXLAN: a network the plan tunnels (``vni``) gets a VXLAN device on its bridge, bound to this host's endpoint
(its address and UDP port), learning nothing by itself (``nolearning``): the frames it floods (broadcast,
unknown unicast) go to exactly the peers the plan names, one all-zeros FDB entry each, as Neutron's
linuxbridge agent does under l2population; replies, learnt by the bridge, go back the same way.

Two agents on one machine: every name carries the agent's tag (twinstack.real.net_names), and the kernel holds
one VXLAN device per VNI and UDP port whatever its local address (tried: a second device for VNI 4242 on 4789
bound to 127.0.0.3 beside one bound to 127.0.0.2 is refused, "A VXLAN device with the specified VNI already
exists"), so each agent's endpoint has a port of its own (``real.tunnel_port``) and each FDB entry names its
peer's port.

What it made is written to a ledger (``<state_dir>/network/owned.json``) *before* it is made, so a crash
between the two leaves at worst a ledger entry for nothing; start-up reconciliation is one more apply, and
only what this agent's ledger names is ever removed (another cloud on the same machine keeps its own).
Every netlink request and command goes through :mod:`twinstack.real.privileged`.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import shutil
import signal
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from twinstack.real import net_names, nft_rules, privileged
from twinstack.real.dhcp_config import DhcpFiles, dnsmasq_argv, hosts_file, options_file
from twinstack.real.net_plan import HostPlan, NetworkPlan, RouterPlan

LOG = logging.getLogger(__name__)

FLOOD = "00:00:00:00:00:00"
"""The FDB address of the entries that replicate flooded frames to a VXLAN peer"""

Address = tuple[str, int]

NUD_PERMANENT = 0x80


class Ledger:
    """The links and namespaces this agent made (and may therefore remove), kept on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        data = json.loads(path.read_text()) if path.exists() else {}
        self.links: set[str] = set(data.get("links", []))
        self.namespaces: set[str] = set(data.get("namespaces", []))

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"links": sorted(self.links), "namespaces": sorted(self.namespaces)}))
        temporary.replace(self.path)

    def add(self, links: Iterable[str] = (), namespaces: Iterable[str] = ()) -> None:
        new_links, new_spaces = set(links) - self.links, set(namespaces) - self.namespaces
        if new_links or new_spaces:
            self.links |= new_links
            self.namespaces |= new_spaces
            self.save()


class HostNetwork:
    def __init__(self, state_dir: Path) -> None:
        self.directory = state_dir / "network"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o755)  # dnsmasq drops to 'nobody' and rereads its files on HUP
        self.ledger = Ledger(self.directory / "owned.json")
        self.table = net_names.firewall_table(str(state_dir))
        self.tag = net_names.agent_tag(str(state_dir))
        self._lock = threading.Lock()
        self._bridged_ip_filtered = False
        self._applied: HostPlan | None = None
        self._netlink = privileged.NetlinkSession()

    def dhcp_files(self, network_id: str) -> DhcpFiles:
        return DhcpFiles(self.directory / "dhcp" / network_id)

    def apply(self, plan: HostPlan) -> None:
        """Make the host match ``plan`` and remove what the plan no longer needs (see the module's docstring).
        The plan this object last applied in full is not applied again (a spawn right after its plug)."""
        with self._lock:
            if plan == self._applied:
                return
            self._applied = None
            try:
                self._apply(plan)
            finally:
                self._netlink.close()
            self._applied = plan

    def _apply(self, plan: HostPlan) -> None:
        self._filter_bridged_ip()
        links: set[str] = set()
        spaces: set[str] = set()
        for external in plan.external.values():
            bridge = net_names.bridge(external.network_id, self.tag)
            self._bridge(bridge, external.mtu)
            links.add(bridge)
            if external.host_ip:
                prefix = ipaddress.ip_network(external.cidr).prefixlen
                self._exact_addresses(None, bridge, {(external.host_ip, prefix)})
        for network in plan.networks.values():
            bridge = net_names.bridge(network.network_id, self.tag)
            self._bridge(bridge, network.mtu)
            links.add(bridge)
            if network.vni is not None:
                links.add(self._vxlan(network, bridge))
            if network.dhcp_subnets:
                self._dhcp(network)
                links.add(net_names.dhcp_host_side(network.network_id, self.tag))
                spaces.add(net_names.dhcp_namespace(network.network_id, self.tag))
        for router in plan.routers.values():
            links |= self._router(router, {n.network_id: n.mtu for n in plan.networks.values()})
            spaces.add(net_names.router_namespace(router.router_id, self.tag))
        legs = [nft_rules.LocalRouterLeg(net_names.vxlan(leg.network_id, self.tag), net_names.router_mac(leg.port_id),
                                         leg.ip, net_names.tunnel_router_mac(carried.local.ip, carried.local.port))
                for router in plan.routers.values() for leg in router.interfaces
                if (carried := plan.networks.get(leg.network_id)) is not None and carried.vni is not None
                and carried.local is not None]
        privileged.run_input(["nft", "-f", "-"], nft_rules.firewall_ruleset(self.table, plan.ports, self.tag, legs))
        self._adopt_taps(plan, self.ledger.links - links)
        self._remove_unneeded(links, spaces, {n.network_id for n in plan.networks.values() if n.dhcp_subnets})

    def owned(self) -> tuple[set[str], set[str]]:
        """(links, namespaces) this agent's ledger names."""
        return set(self.ledger.links), set(self.ledger.namespaces)

    # pieces

    def _index(self, namespace: str | None, name: str) -> int | None:
        found = self._netlink.netlink(namespace, "link_lookup", ifname=name)
        return int(found[0]) if found else None

    def _addresses(self, namespace: str | None, index: int) -> set[Address]:
        return {
            (str(a.get("address")), int(a["prefixlen"]))
            for a in self._netlink.netlink(namespace, "get_addr", index=index, family=2)
        }

    def _filter_bridged_ip(self) -> None:
        """Bridged IP traffic must pass the inet family's hooks, where the stateful rules sit (nft_rules)."""
        if not self._bridged_ip_filtered:
            if not Path("/proc/sys/net/bridge").is_dir():
                privileged.run(["modprobe", "br_netfilter"])
            for key in ("net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables"):
                privileged.run(["sysctl", "-w", f"{key}=1"])
            self._bridged_ip_filtered = True

    def _bridge(self, name: str, mtu: int) -> None:
        index = self._index(None, name)
        if index is None:
            self.ledger.add(links={name})
            self._netlink.netlink(None, "link", "add", ifname=name, kind="bridge", mtu=mtu)
            index = self._index(None, name)
            self._netlink.netlink(None, "link", "set", index=index, state="up")

    def _vxlan(self, network: NetworkPlan, bridge: str) -> str:
        """The network's VXLAN device on ``bridge`` (made again if its VNI or endpoint changed) with exactly one
        flooding entry per peer; its name."""
        name = net_names.vxlan(network.network_id, self.tag)
        local = network.local
        assert network.vni is not None and local is not None
        index = self._index(None, name)
        if index is not None and self._vxlan_identity(index) != (network.vni, local.ip, local.port):
            self._netlink.delete_link(None, name)
            index = None
        if index is None:
            self.ledger.add(links={name})
            self._netlink.netlink(None, "link", "add", ifname=name, kind="vxlan", vxlan_id=network.vni,
                                  vxlan_local=local.ip, vxlan_port=local.port, vxlan_learning=0, mtu=network.mtu)
            index = self._index(None, name)
        self._netlink.netlink(None, "link", "set", index=index, master=self._index(None, bridge), state="up")
        # the kernel leaves an entry's port out of the dump when it is the device's own (vxlan_fdb_info), so
        # a missing port is ``local.port``, not 4789: a departed peer on the same port is then deleted
        have = {
            (str(entry.get_attr("NDA_DST")), int(entry.get_attr("NDA_PORT") or local.port))
            for entry in self._netlink.netlink(None, "fdb", "dump", ifindex=index)
            if entry["ifindex"] == index and entry.get_attr("NDA_LLADDR") == FLOOD and entry.get_attr("NDA_DST")
        }
        wanted = {(peer.ip, peer.port) for peer in network.peers}
        for ip, port in sorted(wanted - have):
            self._netlink.netlink(None, "fdb", "append", ifindex=index, lladdr=FLOOD, dst=ip, port=port)
        for ip, port in sorted(have - wanted):
            self._netlink.netlink(None, "fdb", "del", ifindex=index, lladdr=FLOOD, dst=ip, port=port)
        return name

    def _vxlan_identity(self, index: int) -> tuple[int, str, int] | None:
        for link in self._netlink.netlink(None, "get_links", index):
            info = link.get_attr("IFLA_LINKINFO")
            data = info.get_attr("IFLA_INFO_DATA") if info is not None else None
            if data is not None and info.get_attr("IFLA_INFO_KIND") == "vxlan":
                return (int(data.get_attr("IFLA_VXLAN_ID")), str(data.get_attr("IFLA_VXLAN_LOCAL")),
                        int(data.get_attr("IFLA_VXLAN_PORT")))
        return None

    def _veth(self, host_side: str, inside: str, namespace: str, bridge: str, mtu: int,
              inside_mac: str | None = None) -> None:
        """A veth pair: ``host_side`` plugged into ``bridge``, ``inside`` in ``namespace`` (with ``inside_mac``
        if given), both up."""
        self._namespace(namespace)
        if self._index(None, host_side) is None:
            self.ledger.add(links={host_side})
            stale = self._index(namespace, inside)
            if stale is not None:  # its peer went away (a crash between the two): start again
                self._netlink.delete_link(namespace, inside)
            self._netlink.netlink(
                None,
                "link",
                "add",
                ifname=host_side,
                kind="veth",
                mtu=mtu,
                peer={"ifname": inside, "net_ns_fd": namespace, "mtu": mtu},
            )
        self._netlink.netlink(
            None, "link", "set", index=self._index(None, host_side), master=self._index(None, bridge), state="up"
        )
        if inside_mac is not None:  # also on a leg made before its MAC was derived
            self._netlink.netlink(namespace, "link", "set", index=self._index(namespace, inside), address=inside_mac)
        self._netlink.netlink(namespace, "link", "set", index=self._index(namespace, inside), state="up")

    def _namespace(self, name: str) -> bool:
        """Make the namespace if missing (loopback up); whether it was made now."""
        if name in privileged.namespaces():
            return False
        self.ledger.add(namespaces={name})
        privileged.add_namespace(name)
        self._netlink.netlink(name, "link", "set", index=self._index(name, "lo"), state="up")
        return True

    def _exact_addresses(self, namespace: str | None, ifname: str, wanted: set[Address]) -> None:
        """Give the interface exactly these IPv4 addresses (added first, then the stale ones removed). Removing
        a subnet's primary address takes its secondaries with it (``promote_secondaries`` is off in a new
        namespace): a DHCP server moving from .253 to .254 loses both, so what went is added again."""
        index = self._index(namespace, ifname)
        if index is None:
            raise RuntimeError(f"{ifname} is missing in namespace {namespace or 'of the host'}")
        have = self._addresses(namespace, index)
        for address, prefix in sorted(wanted - have):
            self._netlink.netlink(namespace, "addr", "add", index=index, address=address, prefixlen=prefix)
        if have - wanted:
            for address, prefix in sorted(have - wanted):
                self._netlink.netlink(namespace, "addr", "del", index=index, address=address, prefixlen=prefix)
            for address, prefix in sorted(wanted - self._addresses(namespace, index)):
                self._netlink.netlink(namespace, "addr", "add", index=index, address=address, prefixlen=prefix)

    def _exact_neighbours(self, namespace: str, ifname: str, wanted: set[tuple[str, str]]) -> None:
        """Give the router leg exactly these permanent IPv4 neighbour entries (address, MAC): the servers on a
        tunnelled network, whom the copy must not ask for over the tunnel (learnt entries are left alone)."""
        index = self._index(namespace, ifname)
        have = {(str(n.get_attr("NDA_DST")), str(n.get_attr("NDA_LLADDR")).lower())
                for n in self._netlink.netlink(namespace, "get_neighbours", ifindex=index, family=2)
                if n["state"] & NUD_PERMANENT and n.get_attr("NDA_LLADDR")}
        for ip, mac in sorted(have - wanted):
            self._netlink.netlink(namespace, "neigh", "del", dst=ip, lladdr=mac, ifindex=index)
        for ip, mac in sorted(wanted - have):
            self._netlink.netlink(namespace, "neigh", "replace", dst=ip, lladdr=mac, ifindex=index,
                                  state=NUD_PERMANENT)

    def _dhcp(self, network: NetworkPlan) -> None:
        namespace = net_names.dhcp_namespace(network.network_id, self.tag)
        inside = net_names.dhcp_inside(network.network_id)
        self._veth(
            net_names.dhcp_host_side(network.network_id, self.tag),
            inside,
            namespace,
            net_names.bridge(network.network_id, self.tag),
            network.mtu,
        )
        self._exact_addresses(namespace, inside, {(s.server_ip, s.prefixlen) for s in network.dhcp_subnets})
        files = self.dhcp_files(network.network_id)
        files.directory.mkdir(parents=True, exist_ok=True)
        for directory in (files.directory.parent, files.directory):
            directory.chmod(0o755)
        for path, text in ((files.hosts, hosts_file(network)), (files.options, options_file(network))):
            path.write_text(text)
            path.chmod(0o644)
        argv = dnsmasq_argv(network, inside, files)
        # the namespace too: an agent from before the per-agent tag ran it in another one, gone with the upgrade
        started = "\n".join([namespace, *argv])
        same = files.argv_file.exists() and files.argv_file.read_text() == started
        if same and privileged.signal_pidfile(files.pid, signal.SIGHUP, "dnsmasq"):
            return  # it rereads the hosts and options files
        self._stop_dnsmasq(files)
        files.argv_file.write_text(started)
        privileged.run(["ip", "netns", "exec", namespace, *argv], timeout=30)

    def _stop_dnsmasq(self, files: DhcpFiles) -> None:
        if privileged.signal_pidfile(files.pid, signal.SIGTERM, "dnsmasq"):
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and privileged.running(files.pid, "dnsmasq"):
                time.sleep(0.05)
        files.pid.unlink(missing_ok=True)

    def _router(self, router: RouterPlan, mtus: dict[str, int]) -> set[str]:
        """The router's namespace and legs (each with its network's MTU: what it routes onto a tunnel must fit
        it); the host-side names it uses."""
        namespace = net_names.router_namespace(router.router_id, self.tag)
        if self._namespace(namespace):
            privileged.run(["ip", "netns", "exec", namespace, "sysctl", "-w", "net.ipv4.ip_forward=1"])
        links = set()
        for leg in router.interfaces:
            host_side, inside = (
                net_names.router_interface_host_side(leg.port_id, self.tag),
                net_names.router_interface_inside(leg.port_id),
            )
            self._veth(host_side, inside, namespace, net_names.bridge(leg.network_id, self.tag),
                       mtus.get(leg.network_id, 1500), net_names.router_mac(leg.port_id))
            self._exact_addresses(namespace, inside, {(leg.ip, leg.prefixlen)})
            self._exact_neighbours(namespace, inside, {(n.ip, n.mac) for n in leg.neighbours})
            links.add(host_side)
        gateway = router.gateway
        if gateway is not None:
            host_side, inside = (
                net_names.router_gateway_host_side(gateway.port_id, self.tag),
                net_names.router_gateway_inside(gateway.port_id),
            )
            self._veth(host_side, inside, namespace, net_names.bridge(gateway.network_id, self.tag), gateway.mtu)
            prefix = ipaddress.ip_network(gateway.cidr).prefixlen
            self._exact_addresses(
                namespace, inside, {(gateway.ip_address, prefix), *((f.floating_ip, 32) for f in router.floating_ips)}
            )
            if gateway.gateway_ip:
                self._netlink.netlink(namespace, "route", "replace", dst="0.0.0.0/0", gateway=gateway.gateway_ip)
            links.add(host_side)
        privileged.run_input(["ip", "netns", "exec", namespace, "nft", "-f", "-"], nft_rules.router_nat_ruleset(router))
        return links

    def _adopt_taps(self, plan: HostPlan, leaving: set[str]) -> None:
        """Move a plugged port's tap into its network's bridge when it sits in a bridge of ours about to go: a
        guest started by an agent from before the per-agent tag (its bridges named ``tsb`` + id, not ``tsb`` + tag
        + id) keeps its network through the upgrade instead of losing it with the old bridge. Only bridges this
        agent's ledger names and the plan no longer does are left this way (another agent's are never touched)."""
        if not leaving:
            return
        for port in plan.ports:
            tap = self._index(None, net_names.tap(port.port_id))
            master = self._master(tap) if tap is not None else None
            if master is not None and master in leaving:
                wanted = net_names.bridge(port.network_id, self.tag)
                LOG.info("tap of port %s: from bridge %s to %s", port.port_id, master, wanted)
                self._netlink.netlink(None, "link", "set", index=tap, master=self._index(None, wanted))

    def _master(self, index: int) -> str | None:
        """The name of the bridge the link is in, None if in none."""
        for link in self._netlink.netlink(None, "get_links", index):
            master = link.get_attr("IFLA_MASTER")
            if master:
                for bridge in self._netlink.netlink(None, "get_links", master):
                    return str(bridge.get_attr("IFLA_IFNAME"))
        return None

    def _remove_unneeded(self, links: set[str], spaces: set[str], dhcp_networks: set[str]) -> None:
        dhcp_root = self.directory / "dhcp"
        if dhcp_root.is_dir():
            for directory in dhcp_root.iterdir():
                if directory.name not in dhcp_networks:
                    self._stop_dnsmasq(DhcpFiles(directory))
                    shutil.rmtree(directory, ignore_errors=True)
        for namespace in sorted(self.ledger.namespaces - spaces):
            self._netlink.forget(namespace)
            privileged.remove_namespace(namespace)
            self.ledger.namespaces.discard(namespace)
            self.ledger.save()
        for link in sorted(self.ledger.links - links):
            self._netlink.delete_link(None, link)
            self.ledger.links.discard(link)
            self.ledger.save()
