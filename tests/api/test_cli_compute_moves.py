"""Moving servers through the unmodified ``openstack`` CLI against ``twinstack serve``: resize with confirm and
revert, cold and live migration, evacuation from a host forced down, rebuild, the migration list and the
event list.

The served cloud runs four simulated hosts of 8 vCPUs and 16 GiB that boot a server in one second and
move one in half a second.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import OpenStackCLI, Served, serving_datacenter

pytestmark = pytest.mark.slow

DATACENTER = {
    "cells": [{"name": "cell1", "zones": [{"name": "nova", "racks": [
        {"name": "r1", "hosts": {"profile": "small", "count": 4}}]}]}],
    "profiles": {"small": {"vcpus": 8, "ram_mb": 16384 + 512, "disk_gb": 200, "cpu_allocation_ratio": 1.0}},
    "behaviour": {"boot_seconds": {"kind": "fixed", "value": 1}, "delete_seconds": {"kind": "fixed", "value": 0.5},
                  "power_seconds": {"kind": "fixed", "value": 0.5},
                  "migrate_seconds": {"kind": "fixed", "value": 0.5}},
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from serving_datacenter(tmp_path_factory, "served-compute-moves", DATACENTER)


def show(openstack: OpenStackCLI, server: str) -> dict[str, Any]:
    shown: dict[str, Any] = openstack.json("server", "show", server)
    return shown


def create(openstack: OpenStackCLI, name: str, flavor: str = "m1.tiny") -> dict[str, Any]:
    created: dict[str, Any] = openstack.json("server", "create", "--image", "twinstack-test", "--flavor", flavor,
                                             "--wait", name)
    assert created["status"] == "ACTIVE"
    return created


def settle(openstack: OpenStackCLI, server: str, status: str, attempts: int = 20) -> dict[str, Any]:
    """Bounded: each ``server show`` takes about a second, longer than any simulated step here."""
    for _ in range(attempts):
        shown = show(openstack, server)
        if shown["status"] == status and shown["OS-EXT-STS:task_state"] is None:
            return shown
    raise AssertionError(f"{server} never reached {status}")


def migrations_of(openstack: OpenStackCLI, server_id: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = openstack.json("server", "migration", "list", "--server", server_id)
    return listed


def test_resize_with_confirm_and_with_revert(openstack: OpenStackCLI) -> None:
    server = create(openstack, "grow")
    source = show(openstack, "grow")["OS-EXT-SRV-ATTR:host"]
    openstack.run("server", "resize", "--flavor", "m1.small", "--wait", "grow")
    resized = show(openstack, "grow")
    assert resized["status"] == "VERIFY_RESIZE" and resized["flavor"]["original_name"] == "m1.small"
    assert resized["OS-EXT-SRV-ATTR:host"] != source
    openstack.run("server", "resize", "confirm", "grow")
    confirmed = settle(openstack, "grow", "ACTIVE")
    assert confirmed["flavor"]["original_name"] == "m1.small"
    openstack.run("server", "resize", "--flavor", "m1.medium", "--wait", "grow")
    openstack.run("server", "resize", "revert", "grow")
    reverted = settle(openstack, "grow", "ACTIVE")
    assert reverted["flavor"]["original_name"] == "m1.small"
    assert reverted["OS-EXT-SRV-ATTR:host"] == confirmed["OS-EXT-SRV-ATTR:host"]
    listed = migrations_of(openstack, server["id"])
    assert [(m["Type"], m["Status"]) for m in listed] == [("resize", "reverted"), ("resize", "confirmed")]
    assert listed[1]["Source Compute"] == source and listed[1]["Server UUID"] == server["id"]
    events = openstack.json("server", "event", "list", "grow")
    assert [e["Action"] for e in events] == ["revertResize", "resize", "confirmResize", "resize", "create"]
    resize_event = openstack.json("server", "event", "show", "grow", events[-2]["Request ID"])
    assert {"compute_prep_resize", "compute_resize_instance", "compute_finish_resize"} <= \
        {e["event"] for e in resize_event["events"]}
    openstack.run("server", "delete", "--wait", "grow")


def test_cold_migration_then_confirm(openstack: OpenStackCLI) -> None:
    create(openstack, "cold")
    source = show(openstack, "cold")["OS-EXT-SRV-ATTR:host"]
    openstack.run("server", "migrate", "--wait", "cold")
    moved = show(openstack, "cold")
    assert moved["status"] == "VERIFY_RESIZE" and moved["OS-EXT-SRV-ATTR:host"] != source
    openstack.run("server", "migration", "confirm", "cold")
    settle(openstack, "cold", "ACTIVE")
    assert [e["Action"] for e in openstack.json("server", "event", "list", "cold")][:2] == ["confirmResize",
                                                                                           "migrate"]
    openstack.run("server", "delete", "--wait", "cold")


def test_cold_migration_then_revert_with_the_older_command(openstack: OpenStackCLI) -> None:
    create(openstack, "back")
    source = show(openstack, "back")["OS-EXT-SRV-ATTR:host"]
    openstack.run("server", "migrate", "--wait", "back")
    openstack.run("server", "migrate", "revert", "back")
    assert settle(openstack, "back", "ACTIVE")["OS-EXT-SRV-ATTR:host"] == source
    openstack.run("server", "delete", "--wait", "back")


def test_live_migration(openstack: OpenStackCLI) -> None:
    server = create(openstack, "live")
    source = show(openstack, "live")["OS-EXT-SRV-ATTR:host"]
    openstack.run("server", "migrate", "--live-migration", "--wait", "live")
    moved = settle(openstack, "live", "ACTIVE")
    assert moved["OS-EXT-SRV-ATTR:host"] != source
    [record] = migrations_of(openstack, server["id"])
    assert (record["Type"], record["Status"], record["Source Compute"]) == ("live-migration", "completed", source)
    target = next(h["Hypervisor Hostname"] for h in openstack.json("hypervisor", "list")
                  if h["Hypervisor Hostname"] not in (source, moved["OS-EXT-SRV-ATTR:host"]))
    openstack.run("server", "migrate", "--live-migration", "--host", target, "--wait", "live")
    assert settle(openstack, "live", "ACTIVE")["OS-EXT-SRV-ATTR:host"] == target
    openstack.run("server", "delete", "--wait", "live")


def test_evacuate_after_the_host_is_forced_down(openstack: OpenStackCLI) -> None:
    create(openstack, "evac")
    source = show(openstack, "evac")["OS-EXT-SRV-ATTR:host"]
    refused = openstack.run("server", "evacuate", "evac", check=False)
    assert refused.returncode != 0 and f"Compute service of {source} is still in use." in refused.stderr
    openstack.run("compute", "service", "set", "--down", source, "nova-compute")
    try:
        # not --wait: the client waits for "ACTIVE" among lower-cased statuses, which never matches (OSC 10.5)
        openstack.run("server", "evacuate", "evac")
        evacuated = settle(openstack, "evac", "ACTIVE")
        assert evacuated["OS-EXT-SRV-ATTR:host"] != source
        assert openstack.json("server", "event", "list", "evac")[0]["Action"] == "evacuate"
        listed = openstack.json("server", "migration", "list", "--type", "evacuation")
        assert [(m["Source Compute"], m["Status"]) for m in listed] == [(source, "done")]
    finally:
        openstack.run("compute", "service", "set", "--up", source, "nova-compute")
    openstack.run("server", "delete", "--wait", "evac")


def test_rebuild_in_place(openstack: OpenStackCLI) -> None:
    create(openstack, "again")
    host = show(openstack, "again")["OS-EXT-SRV-ATTR:host"]
    openstack.run("server", "rebuild", "--image", "twinstack-test", "--wait", "again")
    rebuilt = settle(openstack, "again", "ACTIVE")
    assert rebuilt["OS-EXT-SRV-ATTR:host"] == host and rebuilt["image"].startswith("twinstack-test (")
    assert openstack.json("server", "event", "list", "again")[0]["Action"] == "rebuild"
    openstack.run("server", "delete", "--wait", "again")

