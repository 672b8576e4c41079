"""An agent upgraded from one that named its bridges and namespaces without the per-agent tag (``tsb`` + id, not
``tsb`` + tag + id): its first apply builds the tagged ones and removes the old ones from its ledger, but a running
guest's tap, in an old bridge, is moved into the new one first, so the guest keeps its network (a DHCP lease taken
again through the new bridge, from the new namespace's dnsmasq); and the guests' definitions name the new bridges,
so their next start finds them."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from tests.real.conftest import state_dir
from twinstack.real import net_names, privileged
from twinstack.real.domain_edits import rebridged
from twinstack.real.domain_xml import DomainSpec, Nic, domain_xml
from twinstack.real.host_network import HostNetwork
from twinstack.real.net_plan import plan
from twinstack.rpc.network import FixedIpSpec, PortSpec, SegmentSpec

NET = "up-net-0001-4000-8000-000000000001"
PORT = PortSpec(port_id="up-port-0001-4000-8000", mac_address="fa:16:3e:79:00:05", network_id=NET,
                segment=SegmentSpec(mtu=1500),
                fixed_ips=[FixedIpSpec(subnet_id="up-sub", ip_address="10.79.0.5", cidr="10.79.0.0/24",
                                       gateway_ip="10.79.0.1")],
                port_security_enabled=False)
GUEST = "tsup-guest"


@pytest.fixture
def state() -> Iterator[Path]:
    path = state_dir()
    try:
        yield path
    finally:
        if GUEST in privileged.namespaces():
            privileged.remove_namespace(GUEST)
        subprocess.run(["ip", "link", "del", net_names.tap(PORT.port_id)], capture_output=True)
        for tag in ("", net_names.agent_tag(str(path))):
            old = HostNetwork(path)
            old.tag = tag
            old.apply(plan({}))
        shutil.rmtree(path, ignore_errors=True)


def plug_guest(bridge: str) -> None:
    """The guest's tap (a veth named as libvirt names the tap) in ``bridge``, its other end in a namespace."""
    privileged.add_namespace(GUEST)
    tap = net_names.tap(PORT.port_id)
    privileged.netlink(None, "link", "add", ifname=tap, kind="veth",
                       peer={"ifname": "eth0", "net_ns_fd": GUEST, "address": PORT.mac_address})
    privileged.netlink(None, "link", "set", index=privileged.netlink(None, "link_lookup", ifname=tap)[0],
                       master=privileged.netlink(None, "link_lookup", ifname=bridge)[0], state="up")
    inside = privileged.netlink(GUEST, "link_lookup", ifname="eth0")[0]
    privileged.netlink(GUEST, "link", "set", index=inside, state="up")


def lease() -> str:
    done = subprocess.run(["ip", "netns", "exec", GUEST, "busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t",
                           "4", "-T", "1", "-s", "/bin/true"], capture_output=True, text=True, timeout=30)
    found = re.search(r"lease of ([\d.]+) obtained", done.stdout + done.stderr)
    return found[1] if found else done.stdout + done.stderr


def master_of(name: str) -> str | None:
    shown = subprocess.run(["ip", "-o", "link", "show", "dev", name], capture_output=True, text=True).stdout
    found = re.search(r" master (\S+) ", shown)
    return found[1] if found else None


def test_an_upgraded_agent_moves_a_running_guests_tap_into_its_tagged_bridge_before_the_old_one_goes(
    state: Path,
) -> None:
    old = HostNetwork(state)
    old.tag = ""  # what an agent from before the tag made, and wrote in its ledger
    old.apply(plan({"vm": [PORT]}))
    untagged = net_names.bridge(NET)
    plug_guest(untagged)
    assert lease() == "10.79.0.5", "the guest is served through the old bridge"

    upgraded = HostNetwork(state)
    upgraded.apply(plan({"vm": [PORT]}))
    tagged = net_names.bridge(NET, upgraded.tag)
    assert tagged != untagged
    assert master_of(net_names.tap(PORT.port_id)) == tagged
    assert subprocess.run(["ip", "link", "show", "dev", untagged], capture_output=True).returncode != 0
    assert net_names.dhcp_namespace(NET) not in privileged.namespaces()
    links, spaces = upgraded.owned()
    assert untagged not in links and spaces == {net_names.dhcp_namespace(NET, upgraded.tag)}
    assert lease() == "10.79.0.5", "and served through the new one, by the new namespace's dnsmasq"


def test_a_guests_definition_names_the_bridges_the_upgraded_agent_has() -> None:
    spec = DomainSpec("uuid-1", "qemu", 1, 64, Path("/d"), Path("/c"),
                      nics=(Nic(PORT.mac_address, net_names.bridge(NET), net_names.tap(PORT.port_id), 1500),))
    tagged = net_names.bridge(NET, "abc")
    xml = rebridged(domain_xml(spec), {PORT.mac_address: tagged})
    assert xml is not None
    [source] = ET.fromstring(xml).iterfind("devices/interface/source")
    assert source.get("bridge") == tagged
    assert rebridged(xml, {PORT.mac_address: tagged}) is None, "nothing to change: no redefinition"
