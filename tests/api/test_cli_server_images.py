"""``openstack server image create`` (Nova's createImage) through the unmodified CLI against ``twinstack serve``.

The served datacenter's hosts boot in one second and take a snapshot in one second; the image the CLI
waits for turns active, and ``image save`` downloads the snapshot's bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import OpenStackCLI, Served, serving_datacenter

pytestmark = pytest.mark.slow

SNAPSHOT_BYTES = 100_000
DATACENTER = {
    "cells": [{"name": "cell1", "zones": [{"name": "nova", "racks": [
        {"name": "r1", "hosts": {"profile": "small", "count": 2}}]}]}],
    "profiles": {"small": {"vcpus": 8, "ram_mb": 16384 + 512, "disk_gb": 200, "cpu_allocation_ratio": 1.0}},
    "behaviour": {"boot_seconds": {"kind": "fixed", "value": 1}, "delete_seconds": {"kind": "fixed", "value": 0.5},
                  "snapshot_seconds": {"kind": "fixed", "value": 1}, "snapshot_bytes": SNAPSHOT_BYTES},
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from serving_datacenter(tmp_path_factory, "served-snapshots", DATACENTER)


def test_server_image_create_waits_for_an_active_image_that_saves_its_bytes(openstack: OpenStackCLI,
                                                                             tmp_path: Path) -> None:
    server = openstack.json("server", "create", "--image", "twinstack-test", "--flavor", "m1.tiny", "--wait", "vm")
    created = openstack.json("server", "image", "create", "--name", "vm-snap", "--wait", server["id"])
    assert created["name"] == "vm-snap"
    image = openstack.json("image", "show", "vm-snap")
    assert image["status"] == "active" and image["size"] == SNAPSHOT_BYTES
    assert image["properties"]["image_type"] == "snapshot"
    assert image["properties"]["instance_uuid"] == server["id"]
    target = tmp_path / "vm-snap.img"
    openstack.run("image", "save", "--file", str(target), "vm-snap")
    data = target.read_bytes()
    assert len(data) == SNAPSHOT_BYTES
    assert hashlib.md5(data, usedforsecurity=False).hexdigest() == image["checksum"]
    shown = openstack.json("server", "show", server["id"])
    assert shown["status"] == "ACTIVE" and shown["OS-EXT-STS:task_state"] is None
    events = openstack.json("server", "event", "list", server["id"])
    assert [e["Action"] for e in events] == ["createImage", "create"]
