"""Cells through the real tools: ``twinstack cell`` closes a cell beside a serving cloud, the unmodified
``openstack`` CLI then builds only in the open cell and still lists and deletes across both.

The served cloud has two cells of two hosts each; cell2's hosts have more memory, so the default
RAM weigher (spread) prefers them while they are open. Its scheduler re-reads hosts and cells every
second (``scheduler.host_refresh_seconds``), so a change made beside it counts after that.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.conftest import OpenStackCLI, Served, serving_datacenter

pytestmark = pytest.mark.slow

BEHAVIOUR = {"boot_seconds": {"kind": "fixed", "value": 0.5}, "delete_seconds": {"kind": "fixed", "value": 0.2}}
REFRESH_SECONDS = 1.0
DATACENTER = {
    "cells": [
        {"name": "cell1", "zones": [{"name": "nova", "racks": [{"name": "c1r1", "hosts": {"profile": "small",
                                                                                           "count": 2}}]}]},
        {"name": "cell2", "zones": [{"name": "nova", "racks": [{"name": "c2r1", "hosts": {"profile": "big",
                                                                                           "count": 2}}]}]},
    ],
    "profiles": {"small": {"vcpus": 16, "ram_mb": 32768, "disk_gb": 500},
                 "big": {"vcpus": 16, "ram_mb": 131072, "disk_gb": 500}},
    "behaviour": BEHAVIOUR,
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from serving_datacenter(tmp_path_factory, "served-cells", DATACENTER,
                                  env={"TWINSTACK_SCHEDULER__HOST_REFRESH_SECONDS": str(REFRESH_SECONDS)})


def twinstack(served: Served, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "twinstack.cli", *args, "--data-dir", str(served.data_dir)],
                          capture_output=True, text=True, timeout=60)


def host_of(openstack: OpenStackCLI, name: str) -> str:
    return str(openstack.json("server", "show", name)["OS-EXT-SRV-ATTR:host"])


def test_a_disabled_cell_takes_no_builds_yet_its_servers_stay_listed_and_deletable(
        served: Served, openstack: OpenStackCLI) -> None:
    listed = twinstack(served, "cell", "list")
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line.split() for line in listed.stdout.splitlines()[1:]}
    assert {name: (row[2], row[3]) for name, row in rows.items()} == {
        "cell1": ("enabled", "2"), "cell2": ("enabled", "2")}
    hypervisors = {h["Hypervisor Hostname"] for h in openstack.json("hypervisor", "list")}
    assert hypervisors == {"c1r1-0000", "c1r1-0001", "c2r1-0000", "c2r1-0001"}, "listed across both cells"

    openstack.run("server", "create", "--image", "twinstack-test", "--flavor", "m1.small", "--wait", "early")
    assert host_of(openstack, "early").startswith("c2r1-"), "cell2 has the most free RAM"

    closed = twinstack(served, "cell", "disable", "cell2")
    assert closed.returncode == 0, closed.stderr
    assert "disabled" in closed.stdout
    time.sleep(REFRESH_SECONDS * 1.5)
    for n in range(3):
        openstack.run("server", "create", "--image", "twinstack-test", "--flavor", "m1.small", "--wait", f"late{n}")
    assert {host_of(openstack, f"late{n}")[:4] for n in range(3)} == {"c1r1"}

    names = {s["Name"]: s["Status"] for s in openstack.json("server", "list")}
    assert names == {"early": "ACTIVE", "late0": "ACTIVE", "late1": "ACTIVE", "late2": "ACTIVE"}
    openstack.run("server", "delete", "--wait", "early")
    assert "early" not in {s["Name"] for s in openstack.json("server", "list")}

    assert twinstack(served, "cell", "enable", "cell2").returncode == 0
    time.sleep(REFRESH_SECONDS * 1.5)
    openstack.run("server", "create", "--image", "twinstack-test", "--flavor", "m1.small", "--wait", "reopened")
    assert host_of(openstack, "reopened").startswith("c2r1-"), "open again, cell2 is preferred again"


def test_an_unknown_cell_is_a_clear_error(served: Served) -> None:
    refused = twinstack(served, "cell", "disable", "cell9")
    assert refused.returncode == 1
    assert "Cell cell9 could not be found." in refused.stderr
