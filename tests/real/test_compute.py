"""A real guest through the unmodified ``openstack`` CLI against ``twinstack serve --backend real``.

One server lives through the whole module: it boots ACTIVE and its console shows its boot, stop/start/
reboot do to its libvirt domain what they say, and deleting it leaves no domain and no disk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import libvirt
import pytest

from tests.conftest import OpenStackCLI, Served
from tests.real.conftest import IMAGE, domain_state, wait_for

pytestmark = pytest.mark.slow
NAME = "real-web-1"


@pytest.fixture(scope="module")
def server(openstack: OpenStackCLI) -> dict[str, Any]:
    created: dict[str, Any] = openstack.json("server", "create", "--image", IMAGE, "--flavor", "m1.tiny",
                                             "--nic", "none", "--wait", NAME)
    return created


def status(openstack: OpenStackCLI) -> str:
    return str(openstack.json("server", "show", NAME)["status"])


def test_server_create_wait_reaches_active_on_a_running_domain(server: dict[str, Any], virt: Any) -> None:
    assert server["status"] == "ACTIVE"
    assert domain_state(virt, server["id"]) == libvirt.VIR_DOMAIN_RUNNING


def test_hypervisor_shows_how_guests_run(openstack: OpenStackCLI) -> None:
    (hypervisor,) = openstack.json("hypervisor", "list", "--long")
    assert hypervisor["Hypervisor Type"] in ("QEMU", "KVM")  # KVM only when a KVM guest really ran at start-up
    assert hypervisor["State"] == "up"


def test_console_log_shows_the_guest_boot_with_its_hostname(server: dict[str, Any], openstack: OpenStackCLI) -> None:
    log = wait_for(lambda: (out := openstack.run("console", "log", "show", NAME).stdout)
                   and "twinstack-guest: ready" in out and out, 90, "the guest to finish booting", every=1)
    assert "Linux version" in log
    assert f"twinstack-guest: hostname {NAME}" in log
    tail = openstack.run("console", "log", "show", "--lines", "2", NAME).stdout
    assert len(tail.splitlines()) <= 2


def test_stop_shuts_the_domain_off_and_start_runs_it(server: dict[str, Any], openstack: OpenStackCLI,
                                                     virt: Any) -> None:
    openstack.run("server", "stop", NAME)
    wait_for(lambda: status(openstack) == "SHUTOFF", 30, "SHUTOFF")
    assert domain_state(virt, server["id"]) == libvirt.VIR_DOMAIN_SHUTOFF
    openstack.run("server", "start", NAME)
    wait_for(lambda: status(openstack) == "ACTIVE", 30, "ACTIVE after start")
    assert domain_state(virt, server["id"]) == libvirt.VIR_DOMAIN_RUNNING


def test_reboot_hard_and_soft_restart_the_guest(server: dict[str, Any], openstack: OpenStackCLI, virt: Any) -> None:
    def domain() -> Any:  # looked up afresh: a virDomain object keeps the id it had when it was looked up
        return virt.lookupByName(f"twinstack-{server['id']}")

    before = domain().ID()
    openstack.run("server", "reboot", "--hard", "--wait", NAME)
    assert status(openstack) == "ACTIVE"
    hard = domain().ID()
    assert hard != before  # a new QEMU process: the guest really restarted
    assert domain().state()[0] == libvirt.VIR_DOMAIN_RUNNING
    openstack.run("server", "reboot", "--wait", NAME)
    assert status(openstack) == "ACTIVE"
    assert domain().state()[0] == libvirt.VIR_DOMAIN_RUNNING
    assert domain().ID() != hard


def test_delete_leaves_no_domain_and_no_disk(server: dict[str, Any], openstack: OpenStackCLI, virt: Any,
                                             real_cloud: tuple[Served, Path]) -> None:
    state = real_cloud[1]
    assert (state / "instances" / server["id"] / "disk").is_file()
    openstack.run("server", "delete", "--wait", NAME)
    assert domain_state(virt, server["id"]) is None
    assert not (state / "instances" / server["id"]).exists()
    assert list((state / "instances").iterdir()) == []
