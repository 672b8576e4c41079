"""Volume statuses as Cinder has them when a back end fails or stays silent, and the microversions that change
what a volume action allows or a volume view shows. The simulated back ends take 0.3 s per create or extend, and
one silent past 1.5 s (the operation timeout) is given up."""

# ruff: noqa: F811  (the fixtures imported from volume_fixtures are the tests' parameters)

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.volume_fixtures import cinder  # noqa: F401  (fixtures)
from tests.api.volume_helpers import FAST, Cinder, Planes, running_planes, wait_until
from tests.conftest import Api
from twinstack.sim.storage import SimStorageAgent

SLOWER = FAST.model_copy(update={"create_seconds": 0.3, "operation_timeout": 1.5})
SSD = "twinstack@ssd"


@pytest.fixture
def planes(api: Api) -> Iterator[Planes]:
    yield from running_planes(api, SLOWER)


@pytest.fixture
def storage(planes: Planes) -> SimStorageAgent:
    assert planes.volume.storage is not None
    return planes.volume.storage


def act(cinder: Cinder, volume_id: str, body: dict[str, Any]) -> Any:
    return cinder.post(f"/volumes/{volume_id}/action", json=body)


def seen_statuses(cinder: Cinder, volume_id: str, until: str, timeout: float = 10) -> list[str]:
    """The statuses a volume goes through (each once, in order) until ``until``."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while not seen or seen[-1] != until:
        status = cinder.volume(volume_id)["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        assert time.monotonic() < deadline, f"volume went through {seen}, never {until}"
        time.sleep(0.02)
    return seen


# extend

def test_a_slow_extend_is_seen_extending_then_available_at_its_new_size(cinder: Cinder) -> None:
    volume = cinder.wait_for(cinder.create(size=1, volume_type="ssd")["id"], "available")
    assert act(cinder, volume["id"], {"os-extend": {"new_size": 3}}).status_code == 202
    assert seen_statuses(cinder, volume["id"], "available") == ["extending", "available"]
    assert cinder.volume(volume["id"])["size"] == 3


def test_a_failing_extend_ends_error_extending_keeps_its_size_and_may_be_deleted(
        cinder: Cinder, storage: SimStorageAgent) -> None:
    volume = cinder.wait_for(cinder.create(size=2, volume_type="ssd")["id"], "available")
    pool = volume["os-vol-host-attr:host"]
    storage.failing.add(SSD)
    assert act(cinder, volume["id"], {"os-extend": {"new_size": 5}}).status_code == 202
    failed = cinder.wait_for(volume["id"], "error_extending")
    assert failed["size"] == 2 and cinder.pools()[pool]["allocated_capacity_gb"] == 2  # the growth is released
    again = act(cinder, volume["id"], {"os-extend": {"new_size": 6}})
    assert again.status_code == 400 and "currently error_extending" in again.json()["badRequest"]["message"]
    storage.failing.discard(SSD)
    assert cinder.delete(f"/volumes/{volume['id']}").status_code == 202  # Cinder deletes error_extending
    cinder.wait_gone(volume["id"])
    assert cinder.pools()[pool]["allocated_capacity_gb"] == 0


def test_a_silent_extend_ends_error_extending_after_the_operation_timeout_and_an_admin_resets_it(
        cinder: Cinder, storage: SimStorageAgent) -> None:
    volume = cinder.wait_for(cinder.create(size=1, volume_type="ssd")["id"], "available")
    pool = volume["os-vol-host-attr:host"]
    storage.silent.add(SSD)
    assert act(cinder, volume["id"], {"os-extend": {"new_size": 4}}).status_code == 202
    assert cinder.volume(volume["id"])["status"] == "extending"
    assert cinder.pools()[pool]["allocated_capacity_gb"] == 4  # claimed while it runs
    started = time.monotonic()
    failed = cinder.wait_for(volume["id"], "error_extending", timeout=10)
    assert time.monotonic() - started >= 1.0 and failed["size"] == 1
    assert cinder.pools()[pool]["allocated_capacity_gb"] == 1
    storage.silent.discard(SSD)
    assert act(cinder, volume["id"], {"os-reset_status": {"status": "available"}}).status_code == 202
    assert act(cinder, volume["id"], {"os-extend": {"new_size": 2}}).status_code == 202
    wait_until(lambda: cinder.volume(volume["id"])["size"] == 2, "the extend after the reset did not finish")


# delete

def test_a_failing_delete_ends_error_deleting_and_can_be_deleted_again(cinder: Cinder,
                                                                         storage: SimStorageAgent) -> None:
    volume = cinder.wait_for(cinder.create(size=1, volume_type="ssd")["id"], "available")
    storage.failing.add(SSD)
    assert cinder.delete(f"/volumes/{volume['id']}").status_code == 202
    failed = cinder.wait_for(volume["id"], "error_deleting")
    assert cinder.pools()[failed["os-vol-host-attr:host"]]["allocated_capacity_gb"] == 1  # still held
    storage.failing.discard(SSD)
    assert cinder.delete(f"/volumes/{volume['id']}").status_code == 202
    cinder.wait_gone(volume["id"])


def test_a_silent_delete_ends_error_deleting_then_an_admin_resets_it_available(cinder: Cinder,
                                                                                 storage: SimStorageAgent) -> None:
    volume = cinder.wait_for(cinder.create(size=1, volume_type="ssd")["id"], "available")
    storage.silent.add(SSD)
    assert cinder.delete(f"/volumes/{volume['id']}").status_code == 202
    assert cinder.volume(volume["id"])["status"] == "deleting"
    busy = act(cinder, volume["id"], {"os-extend": {"new_size": 2}})
    assert busy.status_code == 400
    cinder.wait_for(volume["id"], "error_deleting", timeout=10)
    storage.silent.discard(SSD)
    assert act(cinder, volume["id"], {"os-reset_status": {"status": "available"}}).status_code == 202
    assert cinder.volume(volume["id"])["status"] == "available"
    assert cinder.delete(f"/volumes/{volume['id']}").status_code == 202
    cinder.wait_gone(volume["id"])


# microversions

def test_an_in_use_volume_is_extended_from_3_42_and_refused_below_with_cinders_message(cinder: Cinder) -> None:
    volume = cinder.wait_for(cinder.create(size=1, volume_type="ssd")["id"], "available")
    attached = act(cinder, volume["id"], {"os-attach": {"instance_uuid": "6a9c3ba0-8e6d-4f0b-9d1e-0c51b4a4a001",
                                                        "mountpoint": "/dev/vdb"}})
    assert attached.status_code == 202 and cinder.volume(volume["id"])["status"] == "in-use"
    refused = cinder.at("3.41").post(f"/volumes/{volume['id']}/action", json={"os-extend": {"new_size": 2}})
    assert refused.status_code == 400
    assert refused.json()["badRequest"]["message"] == (
        f"Invalid volume: Volume {volume['id']} status must be '{{'status': 'available'}}' to extend, "
        f"currently in-use.")
    assert cinder.volume(volume["id"])["size"] == 1
    accepted = cinder.at("3.42").post(f"/volumes/{volume['id']}/action", json={"os-extend": {"new_size": 2}})
    assert accepted.status_code == 202, accepted.text
    assert seen_statuses(cinder, volume["id"], "in-use")[-2:] == ["extending", "in-use"]
    grown = cinder.volume(volume["id"])
    assert grown["size"] == 2 and len(grown["attachments"]) == 1  # still attached, at its new size


GATED = [("group_id", "3.13"), ("service_uuid", "3.48"), ("shared_targets", "3.48"), ("volume_type_id", "3.63"),
         ("consumes_quota", "3.65")]
ADMIN_GATED = [("provider_id", "3.21"), ("cluster_name", "3.61")]


def _minus_one(version: str) -> str:
    major, minor = version.split(".")
    return f"{major}.{int(minor) - 1}"


def test_each_gated_volume_field_appears_at_its_microversion(cinder: Cinder) -> None:
    """Pinned per field (Cinder's api/v3/views/volumes.py): absent one minor version below, present from it; the
    admin-only ones too (the client is an admin)."""
    volume = cinder.wait_for(cinder.create(size=1)["id"], "available")
    for field, since in GATED + ADMIN_GATED:
        below = cinder.at(_minus_one(since)).volume(volume["id"])
        at = cinder.at(since).volume(volume["id"])
        assert field not in below and field in at, (field, since)


def test_gated_fields_values_and_what_no_version_shows(api: Api, cinder: Cinder) -> None:
    volume = cinder.wait_for(cinder.create(size=1, volume_type="ssd")["id"], "available")
    shown = cinder.at("3.71").volume(volume["id"])
    assert shown["group_id"] is None and shown["shared_targets"] is False and shown["service_uuid"] is None
    assert shown["consumes_quota"] is True
    types = {t["name"]: t["id"] for t in cinder.get("/types").json()["volume_types"]}
    assert shown["volume_type_id"] == types["ssd"]
    assert "encryption_key_id" not in shown  # 3.64 shows it only for a volume with a key of its own
