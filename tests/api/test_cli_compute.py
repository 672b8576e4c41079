"""Compute and image through the unmodified ``openstack`` CLI and openstacksdk against ``twinstack serve``.

The served cloud runs a small simulated datacenter (four hosts of 8 vCPUs and 16 GiB) whose hosts
boot a server in one second, so ``--wait`` returns quickly.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openstack.connection
import pytest
from openstack.config.loader import OpenStackConfig

from tests.conftest import OpenStackCLI, Served, serving_datacenter

pytestmark = pytest.mark.slow

DATACENTER = {
    "cells": [{"name": "cell1", "zones": [{"name": "nova", "racks": [
        {"name": "r1", "hosts": {"profile": "small", "count": 4}}]}]}],
    "profiles": {"small": {"vcpus": 8, "ram_mb": 16384 + 512, "disk_gb": 200, "cpu_allocation_ratio": 1.0}},
    "behaviour": {"boot_seconds": {"kind": "fixed", "value": 1}, "delete_seconds": {"kind": "fixed", "value": 0.5},
                  "power_seconds": {"kind": "fixed", "value": 0.5}},
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """This module's own cloud: a datacenter with one-second boots instead of the default ~8 s."""
    yield from serving_datacenter(tmp_path_factory, "served-compute", DATACENTER, "--hosts", "10")


def show(openstack_cli: OpenStackCLI, server: str) -> dict[str, Any]:
    shown: dict[str, Any] = openstack_cli.json("server", "show", server)
    return shown


def test_flavor_and_image_lists(openstack: OpenStackCLI) -> None:
    flavors = {f["Name"]: f for f in openstack.json("flavor", "list")}
    assert {"m1.tiny", "m1.small", "m1.medium", "m1.large", "m1.xlarge"} <= set(flavors)
    assert flavors["m1.tiny"]["RAM"] == 512 and flavors["m1.tiny"]["VCPUs"] == 1
    images = openstack.json("image", "list")
    assert [(i["Name"], i["Status"]) for i in images] == [("twinstack-test", "active")]
    image = openstack.json("image", "show", "twinstack-test")
    assert image["disk_format"] == "qcow2" and image["visibility"] == "public"


def test_a_servers_life_through_the_cli(openstack: OpenStackCLI) -> None:
    created = openstack.json("server", "create", "--image", "twinstack-test", "--flavor", "m1.tiny", "--wait", "vm1")
    assert created["status"] == "ACTIVE" and created["name"] == "vm1"
    listed = {s["Name"]: s for s in openstack.json("server", "list")}
    assert listed["vm1"]["Status"] == "ACTIVE" and listed["vm1"]["Image"] == "twinstack-test"
    assert listed["vm1"]["Flavor"] == "m1.tiny"
    shown = show(openstack, "vm1")
    assert shown["OS-EXT-STS:vm_state"] == "active" and shown["OS-EXT-STS:task_state"] is None
    assert shown["OS-EXT-SRV-ATTR:host"].startswith("r1-") and shown["image"].startswith("twinstack-test (")
    assert shown["flavor"]["original_name"] == "m1.tiny"
    openstack.run("server", "stop", "vm1")
    wait_status(openstack, "vm1", "SHUTOFF")
    refused = openstack.run("server", "stop", "vm1", check=False)
    assert refused.returncode != 0 and "while it is in vm_state stopped" in refused.stderr
    openstack.run("server", "start", "vm1")
    wait_status(openstack, "vm1", "ACTIVE")
    events = openstack.json("server", "event", "list", "vm1")
    assert [e["Action"] for e in events] == ["start", "stop", "create"]
    create_event = openstack.json("server", "event", "show", "vm1", events[-1]["Request ID"])
    assert any("compute__do_build_and_run_instance" in str(e) for e in create_event["events"])
    openstack.run("server", "delete", "--wait", "vm1")
    assert "vm1" not in {s["Name"] for s in openstack.json("server", "list")}


def wait_status(openstack_cli: OpenStackCLI, server: str, status: str, attempts: int = 20) -> None:
    """Bounded: each ``server show`` takes about a second, far longer than a simulated power action."""
    for _ in range(attempts):
        shown = show(openstack_cli, server)
        if shown["status"] == status and shown["OS-EXT-STS:task_state"] is None:
            return
    raise AssertionError(f"{server} never reached {status}")


def test_a_server_too_big_for_every_host_shows_its_no_valid_host_fault(openstack: OpenStackCLI) -> None:
    openstack.run("flavor", "create", "--vcpus", "64", "--ram", "1048576", "--disk", "10", "enormous")
    # lift the quota so the request reaches the scheduler (within quota it is refused with 403 at once)
    openstack.run("quota", "set", "--cores", "-1", "--ram", "-1", "admin")
    failed = openstack.run("server", "create", "--image", "twinstack-test", "--flavor", "enormous", "--wait", "big",
                           check=False)
    assert failed.returncode != 0 and "Error creating server" in failed.stderr
    shown = show(openstack, "big")
    assert shown["status"] == "ERROR"
    assert shown["fault"]["code"] == 500 and "No valid host was found" in shown["fault"]["message"]
    openstack.run("server", "delete", "--wait", "big")


def test_server_set_lock_and_filters(openstack: OpenStackCLI) -> None:
    openstack.run("server", "create", "--image", "twinstack-test", "--flavor", "m1.small", "--property", "tier=web",
                  "--wait", "web-a")
    openstack.run("server", "set", "--name", "web-b", "--property", "owner=ops", "--description", "front",
                  "web-a")
    shown = show(openstack, "web-b")
    assert shown["properties"] == {"tier": "web", "owner": "ops"} and shown["description"] == "front"
    openstack.run("server", "lock", "--reason", "frozen", "web-b")
    assert show(openstack, "web-b")["locked_reason"] == "frozen"
    openstack.run("server", "unlock", "web-b")
    assert [s["Name"] for s in openstack.json("server", "list", "--name", "^web-")] == ["web-b"]
    assert openstack.json("server", "list", "--status", "SHUTOFF") == []
    openstack.run("server", "delete", "--wait", "web-b")


def test_keypairs_through_the_cli(openstack: OpenStackCLI, tmp_path: Path) -> None:
    generated = openstack.run("keypair", "create", "cli-key")
    assert "PRIVATE KEY" in generated.stdout
    listed = {k["Name"]: k for k in openstack.json("keypair", "list")}
    assert listed["cli-key"]["Type"] == "ssh" and len(listed["cli-key"]["Fingerprint"].split(":")) == 16
    public_key = openstack.run("keypair", "show", "--public-key", "cli-key").stdout.strip()
    assert public_key.startswith("ssh-")
    key_file = tmp_path / "key.pub"
    key_file.write_text(public_key)
    imported = openstack.json("keypair", "create", "--public-key", str(key_file), "cli-imported")
    assert imported["fingerprint"] == listed["cli-key"]["Fingerprint"]
    openstack.run("keypair", "delete", "cli-key", "cli-imported")
    assert not {"cli-key", "cli-imported"} & {k["Name"] for k in openstack.json("keypair", "list")}


def test_private_flavor_access_through_the_cli(openstack: OpenStackCLI) -> None:
    openstack.run("flavor", "create", "--private", "--vcpus", "1", "--ram", "256", "--disk", "1", "--property",
                  "hw:cpu_policy=shared", "tiny-private")
    flavor = openstack.json("flavor", "show", "tiny-private")
    assert flavor["os-flavor-access:is_public"] is False and flavor["properties"] == {"hw:cpu_policy": "shared"}
    assert "tiny-private" in {f["Name"] for f in openstack.json("flavor", "list", "--private")}
    openstack.run("flavor", "delete", "tiny-private")


def test_openstacksdk_creates_and_waits(served: Served) -> None:
    region = OpenStackConfig(config_files=[str(served.clouds_yaml)]).get_one(cloud="twinstack")
    conn = openstack.connection.Connection(config=region)
    try:
        image = conn.image.find_image("twinstack-test", ignore_missing=False)
        flavor = conn.compute.find_flavor("m1.tiny", ignore_missing=False)
        server = conn.compute.create_server(name="sdk-vm", image_id=image.id, flavor_id=flavor.id, networks="auto")
        server = conn.compute.wait_for_server(server, status="ACTIVE", interval=0.5, wait=60)
        assert server.status == "ACTIVE" and server.compute_host and server.flavor["original_name"] == "m1.tiny"
        assert [s.name for s in conn.compute.servers(name="sdk-vm")] == ["sdk-vm"]
        conn.compute.delete_server(server)
        conn.compute.wait_for_delete(server, interval=0.5, wait=60)
    finally:
        conn.close()
