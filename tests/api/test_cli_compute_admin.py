"""Nova's admin and operations APIs through the unmodified ``openstack`` CLI against ``twinstack serve``:
hypervisors, compute services, availability zones, aggregates, server groups, quotas, limits and usage.

The served cloud runs four simulated hosts of 8 vCPUs and 16 GiB that boot a server in one second.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import OpenStackCLI, Served, serving_datacenter

pytestmark = pytest.mark.slow

HOSTS = [f"r1-{n:04d}" for n in range(4)]
DATACENTER = {
    "cells": [{"name": "cell1", "zones": [{"name": "nova", "racks": [
        {"name": "r1", "hosts": {"profile": "small", "count": len(HOSTS)}}]}]}],
    "profiles": {"small": {"vcpus": 8, "ram_mb": 16384 + 512, "disk_gb": 200, "cpu_allocation_ratio": 1.0}},
    "behaviour": {"boot_seconds": {"kind": "fixed", "value": 1}, "delete_seconds": {"kind": "fixed", "value": 0.5},
                  "power_seconds": {"kind": "fixed", "value": 0.5}},
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from serving_datacenter(tmp_path_factory, "served-compute-admin", DATACENTER)


def by(rows: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {row[key]: row for row in rows}


def test_hypervisor_list_shows_every_simulated_host(openstack: OpenStackCLI) -> None:
    listed = openstack.json("hypervisor", "list", "--long")
    assert sorted(h["Hypervisor Hostname"] for h in listed) == HOSTS
    assert {(h["State"], h["vCPUs"], h["Memory MB"]) for h in listed} == {("up", 8, 16896)}
    shown = openstack.json("hypervisor", "show", HOSTS[0])
    assert shown["hypervisor_hostname"] == HOSTS[0] and shown["vcpus"] == 8 and shown["status"] == "enabled"


def test_compute_services_can_be_disabled_and_forced_down(openstack: OpenStackCLI) -> None:
    listed = openstack.json("compute", "service", "list")
    assert {s["Binary"] for s in listed} == {"nova-conductor", "nova-scheduler", "nova-compute"}
    assert sorted(s["Host"] for s in listed if s["Binary"] == "nova-compute") == HOSTS
    openstack.run("compute", "service", "set", "--disable", "--disable-reason", "maintenance", HOSTS[1],
                  "nova-compute")
    computes = by(openstack.json("compute", "service", "list", "--long", "--service", "nova-compute"), "Host")
    assert (computes[HOSTS[1]]["Status"], computes[HOSTS[1]]["Disabled Reason"]) == ("disabled", "maintenance")
    assert by(openstack.json("hypervisor", "list"), "Hypervisor Hostname")[HOSTS[1]]["State"] == "up"
    openstack.run("compute", "service", "set", "--down", HOSTS[2], "nova-compute")
    computes = by(openstack.json("compute", "service", "list", "--long", "--service", "nova-compute"), "Host")
    assert (computes[HOSTS[2]]["State"], computes[HOSTS[2]]["Forced Down"]) == ("down", True)
    openstack.run("compute", "service", "set", "--enable", "--up", HOSTS[2], "nova-compute")
    openstack.run("compute", "service", "set", "--enable", HOSTS[1], "nova-compute")
    computes = by(openstack.json("compute", "service", "list", "--service", "nova-compute"), "Host")
    assert {(s["Status"], s["State"]) for s in computes.values()} == {("enabled", "up")}


def test_an_aggregate_makes_an_availability_zone(openstack: OpenStackCLI) -> None:
    assert "nova" in {z["Zone Name"] for z in openstack.json("availability", "zone", "list", "--compute")}
    created = openstack.json("aggregate", "create", "--zone", "az1", "agg1")
    assert created["availability_zone"] == "az1"
    openstack.run("aggregate", "add", "host", "agg1", HOSTS[3])
    openstack.run("aggregate", "set", "--property", "ssd=true", "agg1")
    shown = openstack.json("aggregate", "show", "agg1")
    assert shown["hosts"] == [HOSTS[3]] and shown["availability_zone"] == "az1"
    zones = {z["Zone Name"]: z["Zone Status"] for z in openstack.json("availability", "zone", "list", "--compute")}
    assert zones["az1"] == "available" and zones["nova"] == "available"
    openstack.run("aggregate", "create", "--zone", "az2", "agg2")
    clash = openstack.run("aggregate", "add", "host", "agg2", HOSTS[3], check=False)
    assert clash.returncode != 0 and "already in availability zone(s)" in clash.stderr
    server = openstack.json("server", "create", "--image", "twinstack-test", "--flavor", "m1.tiny",
                            "--availability-zone", "az1", "--wait", "zoned")
    assert server["status"] == "ACTIVE"
    openstack.run("server", "delete", "--wait", "zoned")


def test_a_server_group_takes_members_from_the_group_hint(openstack: OpenStackCLI) -> None:
    group = openstack.json("server", "group", "create", "--policy", "anti-affinity", "grp1")
    assert (group["name"], group["policy"], group["members"]) == ("grp1", "anti-affinity", [])
    server = openstack.json("server", "create", "--image", "twinstack-test", "--flavor", "m1.tiny", "--hint",
                            f"group={group['id']}", "--wait", "grouped")
    assert server["status"] == "ACTIVE"
    assert openstack.json("server", "group", "show", "grp1")["members"] == [server["id"]]
    openstack.run("server", "delete", "--wait", "grouped")
    assert openstack.json("server", "group", "show", "grp1")["members"] == []
    openstack.run("server", "group", "delete", "grp1")


def test_quota_set_then_a_create_over_quota_is_refused_and_leaves_nothing(openstack: OpenStackCLI) -> None:
    openstack.run("quota", "set", "--instances", "2", "admin")
    quota = {row["Resource"]: row["Limit"] for row in openstack.json("quota", "show", "admin")}
    assert quota["instances"] == 2 and quota["cores"] == 20
    for name in ("q1", "q2"):
        openstack.run("server", "create", "--image", "twinstack-test", "--flavor", "m1.tiny", "--wait", name)
    refused = openstack.run("server", "create", "--image", "twinstack-test", "--flavor", "m1.tiny", "q3",
                            check=False)
    assert refused.returncode != 0
    assert "Quota exceeded for instances: Requested 1, but already used 2 of 2 instances" in refused.stderr
    assert sorted(s["Name"] for s in openstack.json("server", "list")) == ["q1", "q2"]
    absolute = {row["Name"]: row["Value"] for row in openstack.json("limits", "show", "--absolute")}
    assert (absolute["max_total_instances"], absolute["total_instances_used"]) == (2, 2)
    assert absolute["total_ram_used"] == 1024
    admin = openstack.json("project", "show", "admin")["id"]
    [usage] = openstack.json("usage", "list")
    assert usage["Project"] in (admin, "admin") and len(usage["Servers"]) >= 2, "q1, q2 and any deleted earlier"
    assert usage["CPU Hours"] > 0 and usage["RAM MB-Hours"] == pytest.approx(512 * usage["CPU Hours"])
    openstack.run("server", "delete", "--wait", "q1", "q2")
    openstack.run("quota", "delete", "--compute", "admin")
    assert {row["Resource"]: row["Limit"] for row in openstack.json("quota", "show", "admin")}["instances"] == 10


def wait_for_statuses(openstack: OpenStackCLI, names: set[str], timeout: float = 60.0) -> dict[str, str]:
    """Poll ``server list`` until none of ``names`` is still building; their statuses then."""
    deadline = time.monotonic() + timeout
    while True:
        statuses = {s["Name"]: s["Status"] for s in openstack.json("server", "list") if s["Name"] in names}
        if (set(statuses) == names and "BUILD" not in statuses.values()) or time.monotonic() > deadline:
            return statuses
        time.sleep(1)


def test_anti_affinity_puts_n_servers_on_n_hosts_and_refuses_one_more(openstack: OpenStackCLI) -> None:
    group = openstack.json("server", "group", "create", "--policy", "anti-affinity", "spread")
    openstack.run("server", "create", "--image", "twinstack-test", "--flavor", "m1.tiny", "--hint",
                  f"group={group['id']}", "--min", str(len(HOSTS)), "--max", str(len(HOSTS)), "spread")
    names = {f"spread-{n}" for n in range(1, len(HOSTS) + 1)}
    assert wait_for_statuses(openstack, names) == dict.fromkeys(names, "ACTIVE")
    hosts = {openstack.json("server", "show", name)["OS-EXT-SRV-ATTR:host"] for name in names}
    assert hosts == set(HOSTS), "one member on each host"

    refused = openstack.run("server", "create", "--image", "twinstack-test", "--flavor", "m1.tiny", "--hint",
                            f"group={group['id']}", "--wait", "spread-extra", check=False)
    assert refused.returncode != 0
    shown = openstack.json("server", "show", "spread-extra")
    assert shown["status"] == "ERROR"
    assert "No valid host was found" in shown["fault"]["message"]
    assert len(openstack.json("server", "group", "show", "spread")["members"]) == len(HOSTS) + 1
    openstack.run("server", "delete", "--wait", *sorted(names), "spread-extra")
    openstack.run("server", "group", "delete", "spread")
