"""A volume of one real host's back end attached to a guest of another host, over NBD, through the unmodified
``openstack`` CLI.

The control plane, agent ``real-a`` and its storage back ends run in ``twinstack serve --backend real`` (its NBD
exports on 127.0.0.2); agent ``real-b`` is a process of its own over RabbitMQ with no storage back end, so every
volume is a file of ``real-a``. One server on ``real-b`` lives through the module; its user data reads the first
bytes of each ``vdb`` it sees, prints them, and writes a mark of its own there. In order: attached, the volume is
``in-use`` with an ``nbd`` connection to ``real-a``'s export, the guest's domain on ``real-b`` has a network disk,
the guest sees the new disk and writes to it; detached, the guest saw it go and the export stops; attached again,
the guest reads what it wrote before (through a new export); a cold migration takes the server to ``real-a``,
where the volume (still attached, with what the guest wrote) is the back end's file again and the export stops;
reverted, the server is back on ``real-b`` reading over NBD (through a new export, on another port) what it wrote on
``real-a``, which keeps nothing; the server and volume deleted leave no export and no file.

A volume-backed server, built at the start beside the first (their guests boot at once), lives through the rest:
built on ``real-b`` from a volume of ``real-a``'s back end, it boots from the export; cold-migrated to ``real-a`` it
runs from the file (the export stopped), and reverted it runs on ``real-b`` from a new export again, ``real-a`` left
clean; resized to ``real-a`` and confirmed, ``real-b`` keeps nothing and no export runs; deleted, its volume goes
with it. Exports are counted per volume, the two servers' apart.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import signal
import socket
from collections.abc import Iterator
from typing import Any

import libvirt
import pytest

from tests.conftest import OpenStackCLI
from tests.real.conftest import (
    IMAGE,
    wait_for,
)
from tests.real.test_moves import PREFIXES, TwoHosts, two_hosts
from twinstack.real import privileged
from twinstack.real.test_image import DISK_GONE_LINE, DISK_LINE, READY_LINE

pytestmark = pytest.mark.slow
NAME = "nbd-vm"
ROOTED = "nbd-root"
"""The volume-backed server: its root volume is a file of real-a's back end."""
VOLUME = "nbd-vol"
STORAGE_IP = "127.0.0.2"
MARK_SCRIPT = """#!/bin/sh
n=0
while true; do
  if [ -b /dev/vdb ]; then
    if [ ! -f /tmp/marked ]; then
      n=$((n+1))
      echo "twinstack-guest: mark read [$(head -c 16 /dev/vdb | tr -dc 'a-z0-9-')]"
      printf 'written-%s' "$n" | dd of=/dev/vdb conv=fsync 2>/dev/null && echo "twinstack-guest: mark wrote written-$n"
      touch /tmp/marked
    fi
  else
    rm -f /tmp/marked
  fi
  sleep 1
done
"""
READ_LINE = re.compile(r"twinstack-guest: mark read \[([a-z0-9-]*)\]")
WROTE_LINE = re.compile(r"twinstack-guest: mark wrote (\S+)")


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoHosts]:
    ports = random.randrange(30000, 60000, 100)  # a range of our own: another run on this machine keeps its own
    storage = {"TWINSTACK_REAL__STORAGE_IP": STORAGE_IP, "TWINSTACK_REAL__NBD_PORT_MIN": str(ports),
               "TWINSTACK_REAL__NBD_PORT_MAX": str(ports + 99)}

    def stop_exports(hosts: TwoHosts) -> None:
        for pidfile in (hosts.states["real-a"] / "nbd").glob("*.pid"):  # exports outlive their agent: the test's end
            privileged.signal_pidfile(pidfile, signal.SIGTERM, "qemu-nbd")

    with two_hosts(tmp_path_factory.mktemp("nbd"), storage, before_cleanup=stop_exports) as running:
        yield running


@pytest.fixture(scope="module")
def openstack(hosts: TwoHosts) -> OpenStackCLI:
    return OpenStackCLI(hosts.served)


@pytest.fixture(scope="module")
def server(openstack: OpenStackCLI, hosts: TwoHosts) -> dict[str, Any]:
    script = hosts.tmp / "mark.sh"
    script.write_text(MARK_SCRIPT)
    created: dict[str, Any] = openstack.json(
        "server", "create", "--image", IMAGE, "--flavor", "m1.tiny", "--nic", "none", "--user-data", str(script),
        "--availability-zone", "nova:real-b", "--wait", NAME)
    assert created["OS-EXT-SRV-ATTR:host"] == "real-b"
    console(hosts, created["id"], "real-b", lambda log: READY_LINE.search(log), "the guest to boot")
    return created


@pytest.fixture(scope="module")
def rooted(openstack: OpenStackCLI, hosts: TwoHosts) -> dict[str, Any]:
    """Asked for (not waited for) before the first server, so that both guests boot at once."""
    created: dict[str, Any] = openstack.json(
        "server", "create", "--image", IMAGE, "--boot-from-volume", "1", "--delete-on-termination", "--flavor",
        "m1.tiny", "--nic", "none", "--availability-zone", "nova:real-b", ROOTED)
    return created


@pytest.fixture(scope="module")
def volume(openstack: OpenStackCLI) -> dict[str, Any]:
    openstack.json("volume", "create", "--size", "1", VOLUME)
    shown = wait_status(openstack, "available")
    assert shown["os-vol-host-attr:host"].startswith("real-a@"), "real-b has no back end"
    return shown


def console(hosts: TwoHosts, server_id: str, host: str, seen: Any, what: str, timeout: float = 90) -> str:
    """The guest's console log on ``host`` (read from its file: polling through the CLI costs seconds a look)
    once ``seen(log)`` holds."""
    path = hosts.states[host] / "instances" / server_id / "console.log"
    return str(wait_for(lambda: path.is_file() and (log := path.read_text(errors="replace")) and seen(log) and log,
                        timeout, what, every=0.5))


def wait_status(openstack: OpenStackCLI, status: str) -> dict[str, Any]:
    def shown() -> dict[str, Any] | None:
        found: dict[str, Any] = openstack.json("volume", "show", VOLUME)
        assert found["status"] not in ("error", "error_attaching", "error_detaching"), found
        return found if found["status"] == status else None

    return dict(wait_for(shown, 60, f"volume {VOLUME} to be {status}", every=1))


def records(hosts: TwoHosts, volume_id: str) -> list[str]:
    """The attachments real-a's back ends keep an export of the volume for."""
    found = []
    for record in (hosts.states["real-a"] / "nbd").glob("*.json"):
        try:
            if json.loads(record.read_text())["volume_id"] == volume_id:
                found.append(record.stem)
        except (OSError, ValueError):
            continue  # written or removed meanwhile
    return found


def exports(hosts: TwoHosts, volume_id: str) -> list[str]:
    """The NBD exports of the volume real-a's back ends run now (their qemu-nbd alive)."""
    nbd = hosts.states["real-a"] / "nbd"
    return [a for a in records(hosts, volume_id) if privileged.running(nbd / f"{a}.pid", "qemu-nbd")]


def attach(openstack: OpenStackCLI) -> dict[str, Any]:
    openstack.run("server", "add", "volume", NAME, VOLUME)
    [attachment] = wait_status(openstack, "in-use")["attachments"]
    shown: dict[str, Any] = openstack.json("--os-volume-api-version", "3.27", "volume", "attachment", "show",
                                           attachment["attachment_id"])
    return shown


def test_a_volume_of_real_a_attached_to_a_server_on_real_b_is_reached_over_nbd_and_the_guest_writes_to_it(
    openstack: OpenStackCLI, rooted: dict[str, Any], server: dict[str, Any], volume: dict[str, Any],
    hosts: TwoHosts, virt: Any
) -> None:
    assert exports(hosts, volume["id"]) == []
    attachment = attach(openstack)
    info = attachment["Properties"]
    assert info["driver_volume_type"] == "nbd", "a file of another host: exported, not local"
    data = info["data"]
    assert (data["host"], data["name"]) == (STORAGE_IP, f"volume-{volume['id']}")
    assert len(exports(hosts, volume["id"])) == 1
    domain = virt.lookupByName(f"{PREFIXES['real-b']}{server['id']}").XMLDesc(0)
    assert f"protocol='nbd' name='volume-{volume['id']}'" in domain
    assert f"<host name='{STORAGE_IP}' port='{data['port']}'/>" in domain
    # the guest's disk watcher and its mark script each poll every second: wait for both (one once lagged)
    log = console(hosts, server["id"], "real-b", lambda log: WROTE_LINE.search(log) and "vdb" in dict(
        DISK_LINE.findall(log)), "the guest to see vdb and write to it")
    assert dict(DISK_LINE.findall(log)).get("vdb") == "1024"
    assert READ_LINE.findall(log) == [""], "a new volume reads blank"
    assert WROTE_LINE.findall(log) == ["written-1"]


def test_detached_the_guest_sees_the_disk_go_and_the_export_stops(
    openstack: OpenStackCLI, server: dict[str, Any], volume: dict[str, Any], hosts: TwoHosts, virt: Any
) -> None:
    openstack.run("server", "remove", "volume", NAME, VOLUME)
    assert wait_status(openstack, "available")["attachments"] == []
    console(hosts, server["id"], "real-b", lambda log: "vdb" in DISK_GONE_LINE.findall(log), "the guest to see vdb go")
    # the record goes just after its server: wait for both (the test once looked between the two)
    wait_for(lambda: not records(hosts, volume["id"]) and exports(hosts, volume["id"]) == [], 30,
             "the export to stop and be forgotten")
    assert "protocol='nbd'" not in virt.lookupByName(f"{PREFIXES['real-b']}{server['id']}").XMLDesc(0)


def test_attached_again_the_guest_reads_what_it_wrote_through_a_new_export(
    openstack: OpenStackCLI, server: dict[str, Any], volume: dict[str, Any], hosts: TwoHosts
) -> None:
    attachment = attach(openstack)
    assert attachment["Properties"]["driver_volume_type"] == "nbd"
    log = console(hosts, server["id"], "real-b", lambda log: len(READ_LINE.findall(log)) == 2,
                  "the guest to read vdb again")
    assert READ_LINE.findall(log) == ["", "written-1"], "the guest's write survived the detach"


@contextlib.contextmanager
def port_taken(port: int) -> Iterator[None]:
    """Something else listens on ``port`` of the storage address meanwhile: an export served again while it is
    taken comes on another port, which the guest kept on the host it returns to must follow."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((STORAGE_IP, port))
        listener.listen()
        yield


def export_port(openstack: OpenStackCLI, volume: str) -> int:
    """The port of the export the volume's (one) attachment reaches it through."""
    [attachment] = openstack.json("volume", "show", volume)["attachments"]
    shown = openstack.json("--os-volume-api-version", "3.27", "volume", "attachment", "show",
                           attachment["attachment_id"])["Properties"]
    assert shown["driver_volume_type"] == "nbd", shown
    return int(shown["data"]["port"])


def test_a_cold_migration_to_the_volumes_own_host_attaches_the_file_and_reverted_reads_it_over_a_new_export(
    openstack: OpenStackCLI, server: dict[str, Any], volume: dict[str, Any], hosts: TwoHosts, virt: Any
) -> None:
    assert len(exports(hosts, volume["id"])) == 1
    old_port = export_port(openstack, VOLUME)
    openstack.run("server", "migrate", "--wait", NAME)
    shown = openstack.json("server", "show", NAME)
    assert (shown["status"], shown["OS-EXT-SRV-ATTR:host"]) == ("VERIFY_RESIZE", "real-a")
    log = console(hosts, server["id"], "real-a", lambda log: WROTE_LINE.search(log), "the moved guest to write vdb",
                  timeout=120)
    assert READ_LINE.findall(log) == ["written-2"], "the same volume, with what the guest wrote on real-b"
    [attachment] = wait_status(openstack, "in-use")["attachments"]
    assert attachment["host_name"] == "real-a"
    info = openstack.json("--os-volume-api-version", "3.27", "volume", "attachment", "show",
                          attachment["attachment_id"])["Properties"]
    assert info["driver_volume_type"] == "local", "on the back end's own host the file is attached, not exported"
    assert f"volume-{volume['id']}.qcow2" in virt.lookupByName(f"{PREFIXES['real-a']}{server['id']}").XMLDesc(0)
    wait_for(lambda: exports(hosts, volume["id"]) == [], 30, "the export real-b used to stop")

    with port_taken(old_port):  # the export comes back on another port: the guest kept on real-b must follow
        openstack.run("server", "migrate", "revert", NAME)
        wait_for(lambda: openstack.json("server", "show", NAME)["status"] in ("ACTIVE", "ERROR"), 90, "the revert",
                 every=1)
    shown = openstack.json("server", "show", NAME)
    assert (shown["status"], shown["OS-EXT-SRV-ATTR:host"]) == ("ACTIVE", "real-b"), shown.get("fault")
    log = console(hosts, server["id"], "real-b", lambda log: READ_LINE.search(log), "the guest back on real-b to read")
    assert READ_LINE.findall(log) == ["written-1"], "back on real-b: what the guest wrote on real-a"
    [attachment] = wait_status(openstack, "in-use")["attachments"]
    assert attachment["host_name"] == "real-b"
    port = export_port(openstack, VOLUME)
    assert port != old_port and len(exports(hosts, volume["id"])) == 1
    domain = virt.lookupByName(f"{PREFIXES['real-b']}{server['id']}").XMLDesc(0)
    assert f"<host name='{STORAGE_IP}' port='{port}'/>" in domain, "the guest reaches the new export"
    assert not (hosts.states["real-a"] / "instances" / server["id"]).exists(), "real-a keeps nothing"


def test_deleting_the_server_frees_the_volume_and_leaves_no_export(
    openstack: OpenStackCLI, server: dict[str, Any], volume: dict[str, Any], hosts: TwoHosts
) -> None:
    openstack.run("server", "delete", "--wait", NAME)
    wait_status(openstack, "available")
    wait_for(lambda: exports(hosts, volume["id"]) == [], 30, "the export to stop")
    openstack.run("volume", "delete", VOLUME)
    wait_for(lambda: not list((hosts.states["real-a"] / "volumes").rglob(f"volume-{volume['id']}.qcow2")), 30,
             "the volume file to go")




def root_volume(openstack: OpenStackCLI) -> str:
    [attached] = openstack.json("server", "show", ROOTED)["volumes_attached"]
    return str(attached["id"])


def root_disk(virt: Any, host: str, server_id: str) -> str:
    """The ``<disk>`` at vda of the server's domain on ``host``, as it runs."""
    xml = virt.lookupByName(f"{PREFIXES[host]}{server_id}").XMLDesc(0)
    return str(next(d for d in re.findall(r"<disk .*?</disk>", xml, re.S) if "dev='vda'" in d))


def wait_server(openstack: OpenStackCLI, status: str) -> dict[str, Any]:
    def shown() -> dict[str, Any] | None:
        found: dict[str, Any] = openstack.json("server", "show", ROOTED)
        assert found["status"] != "ERROR", found.get("fault")
        return found if found["status"] == status else None

    return dict(wait_for(shown, 90, f"{ROOTED} to be {status}", every=1))


def test_a_server_on_real_b_boots_from_a_volume_of_real_a_through_its_export(
    openstack: OpenStackCLI, rooted: dict[str, Any], hosts: TwoHosts, virt: Any
) -> None:
    shown = wait_server(openstack, "ACTIVE")
    assert shown["OS-EXT-SRV-ATTR:host"] == "real-b"
    volume_id = root_volume(openstack)
    disk = root_disk(virt, "real-b", rooted["id"])
    assert f"protocol='nbd' name='volume-{volume_id}'" in disk and f"<serial>{volume_id}</serial>" in disk
    assert len(exports(hosts, volume_id)) == 1
    log = console(hosts, rooted["id"], "real-b", lambda log: READY_LINE.search(log), "the guest to boot from NBD")
    assert dict(DISK_LINE.findall(log)).get("vda") == "1024", "the guest sees its root volume"
    assert not (hosts.states["real-b"] / "instances" / rooted["id"] / "disk").exists(), "the volume is the root"


def test_a_volume_backed_server_migrated_to_real_a_boots_from_the_file_and_reverted_from_a_new_export(
    openstack: OpenStackCLI, rooted: dict[str, Any], hosts: TwoHosts, virt: Any
) -> None:
    volume_id = root_volume(openstack)
    old_port = export_port(openstack, volume_id)
    openstack.run("server", "migrate", "--wait", ROOTED)
    shown = wait_server(openstack, "VERIFY_RESIZE")
    assert shown["OS-EXT-SRV-ATTR:host"] == "real-a"
    assert f"volume-{volume_id}.qcow2" in root_disk(virt, "real-a", rooted["id"]), "its back end's host: the file"
    assert virt.lookupByName(f"{PREFIXES['real-a']}{rooted['id']}").isActive()
    wait_for(lambda: exports(hosts, volume_id) == [], 30, "the export real-b booted from to stop")
    with port_taken(old_port):
        openstack.run("server", "migrate", "revert", ROOTED)
        assert wait_server(openstack, "ACTIVE")["OS-EXT-SRV-ATTR:host"] == "real-b"
    [attachment] = openstack.json("volume", "show", volume_id)["attachments"]
    port = export_port(openstack, volume_id)
    assert attachment["host_name"] == "real-b" and port != old_port
    assert f"<host name='{STORAGE_IP}' port='{port}'/>" in root_disk(virt, "real-b", rooted["id"])
    assert len(exports(hosts, volume_id)) == 1 and virt.lookupByName(f"{PREFIXES['real-b']}{rooted['id']}").isActive()
    assert not (hosts.states["real-a"] / "instances" / rooted["id"]).exists(), "real-a keeps nothing"
    with pytest.raises(libvirt.libvirtError):
        virt.lookupByName(f"{PREFIXES['real-a']}{rooted['id']}")


def test_a_volume_backed_server_resized_to_real_a_and_confirmed_leaves_nothing_on_real_b_and_no_export(
    openstack: OpenStackCLI, rooted: dict[str, Any], hosts: TwoHosts, virt: Any
) -> None:
    volume_id = root_volume(openstack)
    openstack.json("flavor", "create", "--ram", "256", "--disk", "1", "--vcpus", "1", "m1.rooted")
    openstack.run("server", "resize", "--flavor", "m1.rooted", "--wait", ROOTED)
    assert wait_server(openstack, "VERIFY_RESIZE")["OS-EXT-SRV-ATTR:host"] == "real-a"
    openstack.run("server", "resize", "confirm", ROOTED)
    shown = wait_server(openstack, "ACTIVE")
    assert (shown["OS-EXT-SRV-ATTR:host"], shown["flavor"]["original_name"]) == ("real-a", "m1.rooted")
    domain = virt.lookupByName(f"{PREFIXES['real-a']}{rooted['id']}")
    assert domain.isActive() and "<memory unit='KiB'>262144</memory>" in domain.XMLDesc(0)
    assert f"volume-{volume_id}.qcow2" in root_disk(virt, "real-a", rooted["id"])
    wait_for(lambda: exports(hosts, volume_id) == [], 30, "no export left")
    assert not (hosts.states["real-b"] / "instances" / rooted["id"]).exists(), "real-b keeps nothing"
    with pytest.raises(libvirt.libvirtError):
        virt.lookupByName(f"{PREFIXES['real-b']}{rooted['id']}")


def test_deleting_the_volume_backed_server_deletes_its_volume(
    openstack: OpenStackCLI, rooted: dict[str, Any], hosts: TwoHosts
) -> None:
    volume_id = root_volume(openstack)
    openstack.run("server", "delete", "--wait", ROOTED)
    wait_for(lambda: volume_id not in {v["ID"] for v in openstack.json("volume", "list")}, 60,
             "the root volume to go with its server", every=1)
    assert exports(hosts, volume_id) == [] and not list((hosts.states["real-a"] / "volumes").rglob("*.qcow2"))
