"""Block storage through the unmodified ``openstack`` CLI against ``twinstack serve``.

The served cloud has four simulated hosts (one-second boots) and small simulated back ends that answer in a
fifth of a second: two thick 100 GiB ssd pools and one thin 500 GiB hdd pool that may promise 1000 GiB.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.test_cli_compute import DATACENTER
from tests.conftest import OpenStackCLI, Served, serving_datacenter

pytestmark = pytest.mark.slow

BACKENDS = [
    {"name": "ssd", "volume_backend_name": "ssd", "pools": 2, "capacity_gb": 100},
    {"name": "hdd", "volume_backend_name": "hdd", "capacity_gb": 500, "thin_provisioning": True,
     "max_over_subscription_ratio": 2.0},
]
VOLUME_ENV = {"TWINSTACK_VOLUME__BACKENDS": json.dumps(BACKENDS), "TWINSTACK_VOLUME__CREATE_SECONDS": "0.2",
              "TWINSTACK_VOLUME__DELETE_SECONDS": "0.2", "TWINSTACK_VOLUME__ATTACH_SECONDS": "0.2",
              "TWINSTACK_VOLUME__CLONE_GB_PER_SECOND": "100", "TWINSTACK_VOLUME__REPORT_SECONDS": "1"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from serving_datacenter(tmp_path_factory, "served-volume", DATACENTER, env=VOLUME_ENV)


def wait_status(cli: OpenStackCLI, volume: str, *statuses: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        shown: dict[str, Any] = cli.json("volume", "show", volume)
        if shown["status"] in statuses:
            return shown
        assert time.monotonic() < deadline, f"volume {volume} stayed {shown['status']}"
        time.sleep(0.3)


def allocated(cli: OpenStackCLI) -> dict[str, int]:
    return {pool["Name"]: pool["Capabilities"]["allocated_capacity_gb"]
            for pool in cli.json("volume", "backend", "pool", "list", "--long")}


def test_volume_types_are_bootstrapped(openstack: OpenStackCLI) -> None:
    names = {t["Name"] for t in openstack.json("volume", "type", "list")}
    assert {"__DEFAULT__", "ssd", "hdd"} <= names
    ssd = openstack.json("volume", "type", "show", "ssd")
    assert ssd["properties"] == {"volume_backend_name": "ssd"}


def test_create_blank_clone_snapshot_and_restore(openstack: OpenStackCLI) -> None:
    created = openstack.json("volume", "create", "--size", "2", "--type", "ssd", "--property", "team=blue", "data")
    assert created["name"] == "data" and created["size"] == 2
    data = wait_status(openstack, "data", "available")
    assert data["type"] == "ssd" and data["properties"] == {"team": "blue"}
    assert data["os-vol-host-attr:host"].startswith("twinstack@ssd#pool")
    openstack.json("volume", "create", "--source", "data", "data-clone")
    clone = wait_status(openstack, "data-clone", "available")
    assert clone["size"] == 2 and clone["source_volid"] == data["id"]
    assert clone["os-vol-host-attr:host"].split("#")[0] == "twinstack@ssd"
    openstack.json("volume", "snapshot", "create", "--volume", "data", "data-snap")
    deadline = time.monotonic() + 30
    while openstack.json("volume", "snapshot", "show", "data-snap")["status"] != "available":
        assert time.monotonic() < deadline
        time.sleep(0.3)
    openstack.json("volume", "create", "--snapshot", "data-snap", "--size", "3", "from-snap")
    restored = wait_status(openstack, "from-snap", "available")
    assert restored["size"] == 3 and restored["snapshot_id"]
    refused = openstack.run("volume", "delete", "data", check=False)
    assert refused.returncode != 0 and "have snapshots" in refused.stderr
    listed = {v["Name"]: v for v in openstack.json("volume", "list")}
    assert {"data", "data-clone", "from-snap"} <= set(listed) and listed["data"]["Size"] == 2


def test_create_from_an_image_makes_a_bootable_volume(openstack: OpenStackCLI) -> None:
    openstack.json("volume", "create", "--image", "twinstack-test", "--size", "1", "boot-vol")
    volume = wait_status(openstack, "boot-vol", "available")
    assert volume["bootable"] is True  # the SDK reads Cinder's "true"
    assert volume["volume_image_metadata"]["image_name"] == "twinstack-test"


def test_a_volume_larger_than_any_back_end_ends_in_error_with_the_schedulers_message(
        openstack: OpenStackCLI) -> None:
    project = openstack.json("project", "show", "admin")["id"]
    openstack.run("quota", "set", "--gigabytes", "-1", project)
    pools_before = allocated(openstack)
    openstack.json("volume", "create", "--size", "5000", "too-big")
    failed = wait_status(openstack, "too-big", "error")
    assert failed["os-vol-host-attr:host"] is None
    messages = openstack.json("volume", "message", "list", env={"OS_VOLUME_API_VERSION": "3.3"})
    assert any(m["Resource UUID"] == failed["id"] and m["User Message"] ==
               "schedule allocate volume:Could not find any available weighted backend." for m in messages)
    assert allocated(openstack) == pools_before  # nothing claimed on any pool
    openstack.run("volume", "delete", "too-big")
    assert openstack.run("volume", "show", "too-big", check=False).returncode != 0


def test_server_add_volume_makes_it_in_use_and_delete_is_refused(openstack: OpenStackCLI) -> None:
    openstack.json("server", "create", "--image", "twinstack-test", "--flavor", "m1.tiny", "--wait", "vm-vol")
    openstack.json("volume", "create", "--size", "1", "attached")
    wait_status(openstack, "attached", "available")
    added = openstack.json("server", "add", "volume", "vm-vol", "attached")
    assert added["Device"] == "/dev/vdb"
    volume = wait_status(openstack, "attached", "in-use")
    server = openstack.json("server", "show", "vm-vol")
    [attachment] = volume["attachments"]
    assert attachment["server_id"] == server["id"] and attachment["device"] == "/dev/vdb"
    refused = openstack.run("volume", "delete", "attached", check=False)
    assert refused.returncode != 0 and "attached" in refused.stderr
    assert wait_status(openstack, "attached", "in-use")["status"] == "in-use"
    openstack.run("server", "remove", "volume", "vm-vol", "attached")
    wait_status(openstack, "attached", "available")
    openstack.run("volume", "delete", "attached")


def test_volume_quotas_through_the_cli(openstack: OpenStackCLI) -> None:
    openstack.run("project", "create", "--domain", "default", "vol-quota")
    openstack.run("role", "add", "--user", "admin", "--project", "vol-quota", "member")
    project = openstack.json("project", "show", "vol-quota")["id"]
    openstack.run("quota", "set", "--volumes", "1", project)
    shown = openstack.json("quota", "show", project)
    by_name = {row["Resource"]: row["Limit"] for row in shown} if isinstance(shown, list) else shown
    assert by_name["volumes"] == 1
    as_member = {"OS_PROJECT_NAME": "vol-quota"}
    env_cloud = {"OS_CLOUD": "twinstack", **as_member}
    openstack.json("volume", "create", "--size", "1", "q1", env=env_cloud)
    refused = openstack.run("volume", "create", "--size", "1", "q2", env=env_cloud, check=False)
    assert refused.returncode != 0
    assert "Maximum number of volumes allowed (1) exceeded for quota 'volumes'." in refused.stderr


def test_extend_retype_bootable_and_attachment_list(openstack: OpenStackCLI) -> None:
    openstack.json("volume", "create", "--size", "1", "--type", "ssd", "growing")
    wait_status(openstack, "growing", "available")
    openstack.run("volume", "set", "--size", "3", "growing")
    deadline = time.monotonic() + 30
    while openstack.json("volume", "show", "growing")["size"] != 3:
        assert time.monotonic() < deadline, "volume did not grow"
        time.sleep(0.3)
    openstack.run("volume", "type", "create", "--property", "volume_backend_name=ssd", "fast")
    openstack.run("volume", "set", "--type", "fast", "--retype-policy", "never", "--bootable", "growing")
    shown = wait_status(openstack, "growing", "available")
    assert shown["type"] == "fast" and shown["bootable"] is True
    refused = openstack.run("volume", "set", "--type", "hdd", "--retype-policy", "never", "growing", check=False)
    assert refused.returncode != 0 and "Retype requires migration but is not allowed" in refused.stderr
    assert openstack.json("volume", "show", "growing")["type"] == "fast"
    attachments = openstack.json("volume", "attachment", "list", env={"OS_VOLUME_API_VERSION": "3.27"})
    assert isinstance(attachments, list)
    snapshots = openstack.json("volume", "snapshot", "list")
    assert isinstance(snapshots, list)


def free_capacity(cli: OpenStackCLI) -> dict[str, tuple[int, int]]:
    """Each pool's (total_capacity_gb, free_capacity_gb), as its back end last reported them."""
    return {pool["Name"]: (pool["Capabilities"]["total_capacity_gb"], pool["Capabilities"]["free_capacity_gb"])
            for pool in cli.json("volume", "backend", "pool", "list", "--long")}


def test_backend_pool_list_long_shows_reported_capacity_and_free_drops_with_a_volume(openstack: OpenStackCLI) -> None:
    before = free_capacity(openstack)
    assert {name: total for name, (total, _free) in before.items()} == {
        "twinstack@ssd#pool0": 100, "twinstack@ssd#pool1": 100, "twinstack@hdd#hdd": 500}
    assert all(0 <= free <= total for total, free in before.values())
    openstack.json("volume", "create", "--size", "10", "--type", "ssd", "roomy")
    pool = wait_status(openstack, "roomy", "available")["os-vol-host-attr:host"]
    deadline = time.monotonic() + 30
    while free_capacity(openstack)[pool][1] != before[pool][1] - 10:  # the back end reports every second
        assert time.monotonic() < deadline, f"{pool} still reports {free_capacity(openstack)[pool]}"
        time.sleep(0.5)
    openstack.run("volume", "delete", "roomy")


def test_volume_delete_purge_takes_its_snapshots_along(openstack: OpenStackCLI) -> None:
    """``volume delete --purge`` is Cinder's cascade delete: the snapshots go first, then the volume."""
    openstack.json("volume", "create", "--size", "1", "purged")
    volume = wait_status(openstack, "purged", "available")
    snapshot = openstack.json("volume", "snapshot", "create", "--volume", "purged", "purged-snap")
    deadline = time.monotonic() + 30
    while openstack.json("volume", "snapshot", "show", snapshot["id"])["status"] != "available":
        assert time.monotonic() < deadline
        time.sleep(0.3)
    openstack.run("volume", "delete", "--purge", "purged")
    deadline = time.monotonic() + 30
    while openstack.run("volume", "show", volume["id"], check=False).returncode == 0:
        assert time.monotonic() < deadline, "the volume stayed"
        time.sleep(0.3)
    assert openstack.run("volume", "snapshot", "show", snapshot["id"], check=False).returncode != 0
