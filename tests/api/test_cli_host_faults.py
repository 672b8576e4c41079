"""A host crash mid-build, injected by the datacenter file of a served cloud, seen through the real CLI:
the build moves to an alternate and the server still comes up; the dead host is reported down.

Two hosts: r1-0000 has the most free memory, so the scheduler picks it first, and the datacenter says
it dies midway through its first build. Heartbeats every second and a three-second service down time
make the conductor notice within its ten-second check.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import OpenStackCLI, Served, serving_datacenter

pytestmark = pytest.mark.slow

DATACENTER = {
    "cells": [{"name": "cell1", "zones": [{"name": "nova", "racks": [
        {"name": "r1", "hosts": {"profile": "big", "count": 1}},
        {"name": "r2", "hosts": {"profile": "small", "count": 1}}]}]}],
    "profiles": {"big": {"vcpus": 16, "ram_mb": 65536, "disk_gb": 500},
                 "small": {"vcpus": 16, "ram_mb": 32768, "disk_gb": 500}},
    "behaviour": {"boot_seconds": {"kind": "fixed", "value": 4}, "delete_seconds": {"kind": "fixed", "value": 0.2},
                  "heartbeat_seconds": 1},
    "faults": {"crashes": [{"host": "r1-0000", "during_spawn": 1}]},
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from serving_datacenter(tmp_path_factory, "served-faults", DATACENTER,
                                  env={"TWINSTACK_COMPUTE__SERVICE_DOWN_TIME": "3"})


def test_a_host_crash_mid_build_reschedules_to_an_alternate(openstack: OpenStackCLI) -> None:
    server = openstack.json("server", "create", "--image", "twinstack-test", "--flavor", "m1.small", "--wait",
                            "survivor")
    assert server["status"] == "ACTIVE"
    assert server["OS-EXT-SRV-ATTR:host"] == "r2-0000"
    [create] = openstack.json("server", "event", "list", "survivor")
    assert create["Action"] == "create"
    events = openstack.json("server", "event", "show", "survivor", create["Request ID"])["events"]
    builds = [(e["host"], e["result"]) for e in events if e["event"] == "compute__do_build_and_run_instance"]
    assert sorted(builds) == [("r1-0000", "Error"), ("r2-0000", "Success")]
    failed = next(e for e in events if e["host"] == "r1-0000")
    assert "r1-0000 is down" in (failed.get("traceback") or "")
    states = {h["Hypervisor Hostname"]: h["State"] for h in openstack.json("hypervisor", "list")}
    assert states == {"r1-0000": "down", "r2-0000": "up"}
