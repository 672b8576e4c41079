"""Moves between two real agents on this machine, through the unmodified ``openstack`` CLI: resize, cold and live
migration, and rebuild.

The control plane and agent ``real-a`` run in ``twinstack serve --backend real``; agent ``real-b`` is a second
process (``twinstack agent``) with its own state directory, joining over RabbitMQ. One server lives through the
module (its user data prints the guest's uptime every two seconds), in order: a resize moves it to the other
host, where it boots afresh from its moved disk (grown to the new flavor's size, which its console reports)
while the source keeps its copy, powered off, until the resize is confirmed; a cold migration takes it back, and
a second one reverted leaves it running where it was; a live migration the destination cannot take leaves it
running where it was, and one it can moves it to the other host running (its console shows one boot and its uptime
going on); a rebuild from another image boots it afresh there (the new image's command line on its console, a new
disk); with ``real-b``'s agent dead and its service forced down, an evacuation builds it anew on ``real-a``, and
``real-b``'s agent, back, destroys the copy its host kept; deleting it leaves no domain, instance directory or
moved disk on either host.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import libvirt
import pytest

from tests.conftest import OpenStackCLI, Served
from tests.real.conftest import (
    IMAGE,
    STATE_ROOT,
    build_test_image,
    real_env,
    remove_domains_of,
    remove_network_of,
    serve_real,
    state_dir,
    wait_for,
)
from tests.rpc.broker import delete_prefix, unique_prefix
from twinstack.real.test_image import DISK_LINE, READY_LINE

pytestmark = pytest.mark.slow
NAME = "mover"
PREFIXES = {"real-a": "twinstack-", "real-b": "twinstack-b-"}
"""Each agent names its libvirt domains apart (both share this machine's libvirt)."""
BIGGER = "m1.resized"
"""The flavor resized to: twice the disk of m1.tiny (1 GiB), little memory (TCG guests need few)."""
UPTIME_SCRIPT = """#!/bin/sh
while true; do echo "twinstack-guest: uptime $(cut -d' ' -f1 /proc/uptime)"; sleep 2; done
"""
UPTIME_LINE = re.compile(r"twinstack-guest: uptime (\d+\.\d+)")
REBUILT_CMDLINE = "console=ttyS0 twinstack.rebuilt=yes"


class TwoHosts:
    def __init__(self, served: Served, states: dict[str, Path], moves: Path, tmp: Path, env: dict[str, str]) -> None:
        self.served, self.states, self.moves, self.tmp, self.env = served, states, moves, tmp, env
        self.agent: subprocess.Popen[bytes] | None = None
        self.exit_codes: list[int] = []
        self.log = (tmp / "agent-b.log").open("ab")

    def start_agent(self) -> None:
        """Agent ``real-b``: a process of its own, as on another machine."""
        self.agent = subprocess.Popen(
            [sys.executable, "-m", "twinstack.cli", "agent", "--data-dir", str(self.served.data_dir)],
            env={**os.environ, **real_env(self.states["real-b"]), **self.env, "TWINSTACK_REAL__HOST": "real-b",
                 "TWINSTACK_REAL__DOMAIN_PREFIX": PREFIXES["real-b"]},
            stdout=self.log, stderr=subprocess.STDOUT,
        )

    def stop_agent(self) -> int:
        assert self.agent is not None
        self.agent.terminate()
        code = self.agent.wait(20)
        self.agent = None
        self.exit_codes.append(code)
        return code


@contextlib.contextmanager
def two_hosts(tmp: Path, served_env: dict[str, str] | None = None, agent_env: dict[str, str] | None = None,
              before_cleanup: Callable[[TwoHosts], None] | None = None) -> Iterator[TwoHosts]:
    """``real-a`` served and ``real-b``'s agent joined over RabbitMQ (a bus prefix and a migration directory of their
    own), the test image built, both registered; afterwards everything of theirs gone (``before_cleanup`` runs once
    both processes stopped, before their domains, networks and state go). ``served_env``/``agent_env``: what one of
    them alone is given (a tunnel endpoint, a storage address)."""
    prefix = unique_prefix()
    states = {"real-a": state_dir(), "real-b": state_dir()}
    moves = state_dir()
    shared = {"TWINSTACK_BUS__TRANSPORT": "amqp", "TWINSTACK_BUS__PREFIX": prefix,
              "TWINSTACK_REAL__MIGRATION_DIR": str(moves)}
    served = serve_real(tmp, states["real-a"], {**shared, **(served_env or {}), "TWINSTACK_REAL__HOST": "real-a"})
    hosts = TwoHosts(served, states, moves, tmp, {**shared, **(agent_env or {})})
    hosts.start_agent()
    try:
        build_test_image(served)
        cli = OpenStackCLI(served)
        try:
            wait_for(lambda: len(cli.json("hypervisor", "list")) == 2, 90, "both agents to register", every=1)
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {(tmp / 'agent-b.log').read_text()[-3000:]}") from None
        yield hosts
    finally:
        if hosts.agent is not None:
            hosts.stop_agent()
        served.process.terminate()
        served.process.wait(20)
        if before_cleanup is not None:
            before_cleanup(hosts)
        for state in (*states.values(), moves):
            remove_domains_of(state)
            remove_network_of(state)
            shutil.rmtree(state, ignore_errors=True)
        delete_prefix(prefix)


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoHosts]:
    tmp = tmp_path_factory.mktemp("moves")
    with two_hosts(tmp) as running:
        yield running
    assert set(running.exit_codes) == {0}, (tmp / "agent-b.log").read_text()[-3000:]


@pytest.fixture(scope="module")
def openstack(hosts: TwoHosts) -> OpenStackCLI:
    return OpenStackCLI(hosts.served)


@pytest.fixture(scope="module")
def server(openstack: OpenStackCLI, hosts: TwoHosts) -> dict[str, Any]:
    openstack.json("flavor", "create", "--ram", "256", "--disk", "2", "--vcpus", "1", BIGGER)
    script = hosts.tmp / "uptime.sh"
    script.write_text(UPTIME_SCRIPT)
    created: dict[str, Any] = openstack.json("server", "create", "--image", IMAGE, "--flavor", "m1.tiny",
                                             "--nic", "none", "--user-data", str(script), "--wait", NAME)
    booted(openstack, 1024)
    return created


def host_of(openstack: OpenStackCLI) -> str:
    return str(openstack.json("server", "show", NAME)["OS-EXT-SRV-ATTR:host"])


def booted(openstack: OpenStackCLI, disk_mb: int) -> str:
    """The console once the guest is up: one boot only (a fresh log where it runs now), with a vda of ``disk_mb``."""
    log = str(wait_for(lambda: (out := openstack.run("console", "log", "show", NAME).stdout) and READY_LINE.search(out)
                       and out, 120, "the guest to boot", every=1))
    assert log.count(f"twinstack-guest: hostname {NAME}") == 1, log[-2000:]
    assert dict(DISK_LINE.findall(log)) == {"vda": str(disk_mb)}, log[-2000:]
    return log


def console(openstack: OpenStackCLI) -> str:
    return openstack.run("console", "log", "show", NAME).stdout


def uptimes(log: str) -> list[float]:
    return [float(u) for u in UPTIME_LINE.findall(log)]


def domains(virt: Any, server_id: str) -> dict[str, int]:
    """libvirt's state of the server's domain on each host that has one."""
    found = {}
    for host, prefix in PREFIXES.items():
        with contextlib.suppress(libvirt.libvirtError):
            found[host] = int(virt.lookupByName(f"{prefix}{server_id}").state()[0])
    return found


def other(host: str) -> str:
    return "real-b" if host == "real-a" else "real-a"


def test_a_resize_boots_the_moved_disk_on_the_other_host_until_it_is_confirmed(
    openstack: OpenStackCLI, server: dict[str, Any], hosts: TwoHosts, virt: Any
) -> None:
    source = host_of(openstack)
    openstack.run("server", "resize", "--flavor", BIGGER, "--wait", NAME)
    shown = openstack.json("server", "show", NAME)
    assert (shown["status"], shown["OS-EXT-SRV-ATTR:host"]) == ("VERIFY_RESIZE", other(source))
    booted(openstack, 2048)
    assert domains(virt, server["id"]) == {other(source): libvirt.VIR_DOMAIN_RUNNING,
                                           source: libvirt.VIR_DOMAIN_SHUTOFF}
    kept = hosts.states[source] / "instances" / server["id"] / "disk"
    assert kept.is_file(), "the source keeps its copy until the resize is confirmed"
    openstack.run("server", "resize", "confirm", NAME)
    shown = wait_for(lambda: (s := openstack.json("server", "show", NAME))["status"] == "ACTIVE" and s, 60,
                     "the resize to be confirmed", every=1)
    assert shown["flavor"]["name"] == BIGGER
    wait_for(lambda: not kept.parent.exists(), 30, "the source's copy to go")
    assert domains(virt, server["id"]) == {other(source): libvirt.VIR_DOMAIN_RUNNING}
    assert list(hosts.moves.iterdir()) == [], "the moved disk was taken, nothing is left in transit"


def test_a_cold_migration_takes_it_back_and_a_reverted_one_leaves_it_where_it_was(
    openstack: OpenStackCLI, server: dict[str, Any], hosts: TwoHosts, virt: Any
) -> None:
    before = host_of(openstack)
    openstack.run("server", "migrate", "--wait", NAME)
    assert host_of(openstack) == other(before)
    booted(openstack, 2048)
    openstack.run("server", "migrate", "confirm", NAME)
    wait_for(lambda: openstack.json("server", "show", NAME)["status"] == "ACTIVE", 60, "the migration confirmed")
    assert not (hosts.states[before] / "instances" / server["id"]).exists()
    here = host_of(openstack)
    openstack.run("server", "migrate", "--wait", NAME)
    assert host_of(openstack) == other(here)
    openstack.run("server", "resize", "revert", NAME)
    wait_for(lambda: (s := openstack.json("server", "show", NAME))["status"] == "ACTIVE"
             and s["OS-EXT-SRV-ATTR:host"] == here, 60, "the migration to be reverted", every=1)
    assert (hosts.states[here] / "instances" / server["id"] / "disk").is_file()
    assert not (hosts.states[other(here)] / "instances" / server["id"]).exists()
    assert domains(virt, server["id"]) == {here: libvirt.VIR_DOMAIN_RUNNING}  # the copy kept here runs again


def test_a_live_migration_the_destination_cannot_take_leaves_the_guest_running_where_it_was(
    openstack: OpenStackCLI, server: dict[str, Any], hosts: TwoHosts, virt: Any
) -> None:
    here = host_of(openstack)
    before = uptimes(wait_for(lambda: uptimes(log := console(openstack)) and log, 60, "the guest's uptime"))
    blocker = hosts.states[other(here)] / "instances" / server["id"]
    blocker.write_text("a file where the destination makes the instance's directory: it cannot take the guest")
    try:
        openstack.run("server", "migrate", "--live-migration", "--wait", NAME)
    finally:
        blocker.unlink()
    shown = openstack.json("server", "show", NAME)
    assert (shown["status"], shown["OS-EXT-SRV-ATTR:host"]) == ("ACTIVE", here)
    assert domains(virt, server["id"]) == {here: libvirt.VIR_DOMAIN_RUNNING}, "restored here from its saved state"
    assert list(hosts.moves.iterdir()) == [], "nothing is left in transit"
    log = wait_for(lambda: (log := console(openstack)) and uptimes(log)[-1] > before[-1] + 4 and log, 60,
                   "the guest to go on running here")
    assert log.count(f"twinstack-guest: hostname {NAME}") == 1 and uptimes(log) == sorted(uptimes(log)), "no reboot"
    [action] = [a for a in openstack.json("server", "event", "list", NAME) if a["Action"] == "live-migration"]
    events = openstack.json("server", "event", "show", NAME, action["Request ID"])["events"]
    failed = [e for e in events if e["event"] == "compute_live_migration"]
    assert [e["result"] for e in failed] == ["Error"], events


def test_a_live_migration_moves_the_running_guest_to_the_other_host_without_a_reboot(
    openstack: OpenStackCLI, server: dict[str, Any], hosts: TwoHosts, virt: Any
) -> None:
    here = host_of(openstack)
    before = uptimes(wait_for(lambda: uptimes(log := console(openstack)) and log, 60, "the guest's uptime"))
    openstack.run("server", "migrate", "--live-migration", "--wait", NAME)
    shown = openstack.json("server", "show", NAME)
    assert (shown["status"], shown["OS-EXT-SRV-ATTR:host"]) == ("ACTIVE", other(here)), shown.get("fault")
    assert domains(virt, server["id"]) == {other(here): libvirt.VIR_DOMAIN_RUNNING}
    assert not (hosts.states[here] / "instances" / server["id"]).exists(), "the source keeps nothing"
    assert list(hosts.moves.iterdir()) == [], "nothing is left in transit"
    log = wait_for(lambda: (log := console(openstack)) and uptimes(log)[-1] > before[-1] + 4 and log, 60,
                   "the guest to go on running there")
    assert log.count(f"twinstack-guest: hostname {NAME}") == 1, "one boot in the guest's whole console"
    assert uptimes(log)[:len(before) - 1] == before[:-1], "the console's history came along"  # (the last line
    # read before may have been half written)
    assert uptimes(log) == sorted(uptimes(log)), "the guest's uptime never went back (no reboot)"


def test_a_rebuild_boots_it_afresh_from_another_image_where_it_is(
    openstack: OpenStackCLI, server: dict[str, Any], hosts: TwoHosts, virt: Any
) -> None:
    here = host_of(openstack)
    properties = openstack.json("image", "show", IMAGE)["properties"]
    blank = hosts.tmp / "rebuilt.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(blank), "64M"], check=True)
    image = openstack.json("image", "create", "--disk-format", "qcow2", "--container-format", "bare",
                           "--file", str(blank), "--property", f"kernel_id={properties['kernel_id']}",
                           "--property", f"ramdisk_id={properties['ramdisk_id']}",
                           "--property", f"os_command_line={REBUILT_CMDLINE}", "rebuilt")
    disk = hosts.states[here] / "instances" / server["id"] / "disk"
    old_disk = disk.stat().st_ino
    openstack.run("server", "rebuild", "--image", "rebuilt", "--wait", NAME)
    shown = openstack.json("server", "show", NAME)
    assert (shown["status"], shown["OS-EXT-SRV-ATTR:host"]) == ("ACTIVE", here), shown.get("fault")
    assert image["id"] in str(shown["image"])
    log = booted(openstack, 2048)  # a fresh console with one boot, the flavor's disk
    assert REBUILT_CMDLINE in log, "the kernel booted with the new image's command line"
    assert uptimes(log) and uptimes(log)[0] < 60, "the user data runs again, from a fresh boot"
    assert domains(virt, server["id"]) == {here: libvirt.VIR_DOMAIN_RUNNING}
    assert disk.stat().st_ino != old_disk, "a new root disk"
    info = subprocess.run(["qemu-img", "info", "-U", "--output=json", str(disk)], capture_output=True, text=True,
                          check=True).stdout
    assert f"_base/{image['id']}" in info, info


def test_an_evacuation_builds_it_anew_on_the_other_host_and_its_dead_hosts_copy_goes_when_that_host_returns(
    openstack: OpenStackCLI, server: dict[str, Any], hosts: TwoHosts, virt: Any
) -> None:
    if host_of(openstack) != "real-b":  # the host that dies is the agent of its own (real-a serves the API too)
        openstack.run("server", "migrate", "--live-migration", "--wait", NAME)
    assert hosts.stop_agent() == 0  # the agent dies, libvirtd keeps the guest: the host is silent, not empty
    down = ("--os-compute-api-version", "2.11", "compute", "service", "set")
    openstack.run(*down, "--down", "real-b", "nova-compute")
    openstack.run("server", "evacuate", NAME)  # (not --wait: OSC 10.5 waits for "ACTIVE" in lower-cased statuses)
    shown = wait_for(lambda: (s := openstack.json("server", "show", NAME))["status"] in ("ACTIVE", "ERROR") and s,
                     120, "the evacuation to end", every=2)
    assert (shown["status"], shown["OS-EXT-SRV-ATTR:host"]) == ("ACTIVE", "real-a"), shown.get("fault")
    log = booted(openstack, 2048)  # built anew from its image on a disk of the flavor's size
    assert REBUILT_CMDLINE in log, "from the image it was last rebuilt from"
    assert domains(virt, server["id"]) == {"real-a": libvirt.VIR_DOMAIN_RUNNING,
                                           "real-b": libvirt.VIR_DOMAIN_RUNNING}, "the silent host's copy runs on"
    openstack.run(*down, "--up", "real-b", "nova-compute")
    hosts.start_agent()
    wait_for(lambda: domains(virt, server["id"]) == {"real-a": libvirt.VIR_DOMAIN_RUNNING}, 60,
             "the returning host to destroy its copy of a server now elsewhere")
    assert not (hosts.states["real-b"] / "instances" / server["id"]).exists()
    wait_for(lambda: all(h["State"] == "up" for h in openstack.json("compute", "service", "list",
                                                                      "--service", "nova-compute")),
             60, "real-b to be up again")


def test_deleting_it_leaves_nothing_on_either_host(
    openstack: OpenStackCLI, server: dict[str, Any], hosts: TwoHosts, virt: Any
) -> None:
    openstack.run("server", "delete", "--wait", NAME)
    assert domains(virt, server["id"]) == {}
    for state in hosts.states.values():
        assert list((state / "instances").iterdir()) == []
    assert list(hosts.moves.iterdir()) == []
    assert STATE_ROOT in hosts.moves.parents
