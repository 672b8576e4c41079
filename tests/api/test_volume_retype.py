"""Retype over HTTP (os-retype): in place when the volume's pool fits the new type, else refused under policy
'never' and migrated to another back end under 'on-demand' (Cinder's generic migration on the simulated back
ends, which copy at 10 GiB/s here so that 'retyping' lasts long enough to be seen)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.volume_helpers import FAST, SMALL_BACKENDS, Cinder, Planes, running_planes, wait_until
from tests.conftest import Api
from twinstack.config import VolumeBackendSettings, VolumeSettings
from twinstack.sim.storage import SimStorageAgent

COPYING = VolumeSettings(**{**FAST.model_dump(), "clone_gb_per_second": 10.0})
"""A 10 GiB volume takes a second to move."""


@pytest.fixture
def planes(api: Api) -> Iterator[Planes]:
    yield from running_planes(api, COPYING)


def retype(cinder: Cinder, volume_id: str, new_type: str, policy: str | None = None) -> tuple[int, str]:
    body: dict[str, str] = {"new_type": new_type}
    if policy is not None:
        body["migration_policy"] = policy
    response = cinder.post(f"/volumes/{volume_id}/action", json={"os-retype": body})
    message = response.json()["badRequest"]["message"] if response.status_code == 400 else ""
    return response.status_code, message


def held(planes: Planes, volume_id: str) -> list[str]:
    """The simulated pools that hold the volume."""
    assert planes.volume.storage is not None
    return [pool.name for backend in planes.volume.storage.backends.values() for pool in backend.pools.values()
            if volume_id in pool.volumes]


def test_on_demand_migrates_the_volume_to_the_new_types_back_end(api: Api, planes: Planes) -> None:
    cinder = Cinder(api)
    volume = cinder.wait_for(cinder.create(size=10, volume_type="ssd", name="moving")["id"], "available")
    source = volume["os-vol-host-attr:host"]
    assert source.startswith("twinstack@ssd#") and held(planes, volume["id"]) == [source]

    assert retype(cinder, volume["id"], "hdd") == (400, "Invalid volume: Retype requires migration but is not "
                                                   "allowed.")
    assert retype(cinder, volume["id"], "hdd", "never")[0] == 400
    assert cinder.volume(volume["id"])["volume_type"] == "ssd"

    assert retype(cinder, volume["id"], "hdd", "on-demand") == (202, "")
    during = cinder.volume(volume["id"])
    assert during["status"] == "retyping" and during["migration_status"] == "migrating"
    assert during["os-vol-mig-status-attr:migstat"] == "migrating" and during["volume_type"] == "ssd"
    pools = cinder.pools()
    assert pools[source]["allocated_capacity_gb"] == 10 and pools["twinstack@hdd#hdd"]["allocated_capacity_gb"] == 10
    assert cinder.delete(f"/volumes/{volume['id']}").status_code == 400  # not while it moves

    moved = cinder.wait_for(volume["id"], "available")
    assert moved["volume_type"] == "hdd" and moved["os-vol-host-attr:host"] == "twinstack@hdd#hdd"
    assert moved["migration_status"] == "success"
    pools = cinder.pools()
    assert pools[source]["allocated_capacity_gb"] == 0 and pools["twinstack@hdd#hdd"]["allocated_capacity_gb"] == 10
    assert held(planes, volume["id"]) == ["twinstack@hdd#hdd"]

    assert cinder.delete(f"/volumes/{volume['id']}").status_code == 202  # a finished migration does not block it
    cinder.wait_gone(volume["id"])
    assert cinder.pools()["twinstack@hdd#hdd"]["allocated_capacity_gb"] == 0


def test_a_failed_move_leaves_the_volume_where_and_what_it_was(api: Api, planes: Planes) -> None:
    cinder = Cinder(api)
    volume = cinder.wait_for(cinder.create(size=2, volume_type="ssd")["id"], "available")
    source = volume["os-vol-host-attr:host"]
    assert planes.volume.storage is not None
    planes.volume.storage.failing.add("twinstack@hdd")
    assert retype(cinder, volume["id"], "hdd", "on-demand") == (202, "")
    wait_until(lambda: cinder.volume(volume["id"])["migration_status"] == "error", "the move did not fail")
    failed = cinder.volume(volume["id"])
    assert failed["status"] == "available" and failed["volume_type"] == "ssd"
    assert failed["os-vol-host-attr:host"] == source and held(planes, volume["id"]) == [source]
    assert cinder.pools()["twinstack@hdd#hdd"]["allocated_capacity_gb"] == 0
    planes.volume.storage.failing.clear()

    snapshot = cinder.snapshot(volume["id"])
    assert retype(cinder, volume["id"], "hdd", "on-demand") == (400, "Invalid volume: Volume must not have "
                                                                "snapshots.")
    assert cinder.delete(f"/snapshots/{snapshot['id']}").status_code == 202
    wait_until(lambda: cinder.get(f"/snapshots/{snapshot['id']}").status_code == 404, "snapshot stayed")

    act = f"/volumes/{volume['id']}/action"
    assert cinder.post(act, json={"os-reserve": None}).status_code == 202
    assert cinder.post(act, json={"os-attach": {"instance_uuid": "3c1e2a2c-0000-4000-8000-000000000002",
                                                "mountpoint": "/dev/vdc"}}).status_code == 202
    status, message = retype(cinder, volume["id"], "hdd", "on-demand")
    assert status == 400 and "in-use volume" in message
    assert cinder.volume(volume["id"])["volume_type"] == "ssd"

    stranded = cinder.wait_for(cinder.create(size=1, volume_type="ssd")["id"], "available")
    tiny = cinder.post("/types", json={"volume_type": {"name": "tiny", "extra_specs": {"volume_backend_name": "tiny"}}})
    assert tiny.status_code == 200
    status, message = retype(cinder, stranded["id"], "tiny", "on-demand")
    assert (status, message) == (400, "No valid backend was found. No weighed backends available")


def test_a_silent_back_end_gives_the_volume_back_after_the_operation_timeout(api: Api) -> None:
    planes = running_planes(api, COPYING.model_copy(update={"operation_timeout": 0.5}))
    running = next(planes)
    try:
        cinder = Cinder(api)
        volume = cinder.wait_for(cinder.create(size=3, volume_type="ssd")["id"], "available")
        assert running.volume.storage is not None
        running.volume.storage.silent.add(volume["os-vol-host-attr:host"].split("#")[0])
        assert retype(cinder, volume["id"], "hdd", "on-demand") == (202, "")
        wait_until(lambda: cinder.volume(volume["id"])["migration_status"] == "error", "the sweep did not act", 15)
        given_back = cinder.volume(volume["id"])
        assert given_back["status"] == "available" and given_back["volume_type"] == "ssd"
        assert given_back["os-vol-host-attr:host"] == volume["os-vol-host-attr:host"]
        assert cinder.pools()["twinstack@hdd#hdd"]["allocated_capacity_gb"] == 0
    finally:
        planes.close()


def test_a_move_the_back_end_finishes_after_the_sweep_gave_up_is_accepted(api: Api) -> None:
    """The sweep gives the volume back at the operation timeout; the slow back end then moves it all the same
    (its data is only on the destination now): the records follow it there and the capacity with them."""
    planes = running_planes(api, COPYING.model_copy(update={"operation_timeout": 0.3}))
    running = next(planes)
    try:
        cinder = Cinder(api)
        volume = cinder.wait_for(cinder.create(size=10, volume_type="ssd")["id"], "available")
        source = volume["os-vol-host-attr:host"]
        assert retype(cinder, volume["id"], "hdd", "on-demand") == (202, "")
        wait_until(lambda: cinder.volume(volume["id"])["migration_status"] == "error", "the sweep did not act")
        assert cinder.volume(volume["id"])["os-vol-host-attr:host"] == source
        assert held(running, volume["id"]) == [source], "the back end is still copying"
        wait_until(lambda: cinder.volume(volume["id"])["migration_status"] == "success", "the late move was lost")
        moved = cinder.volume(volume["id"])
        assert (moved["status"], moved["volume_type"], moved["os-vol-host-attr:host"]) == (
            "available", "hdd", "twinstack@hdd#hdd")
        assert held(running, volume["id"]) == ["twinstack@hdd#hdd"]
        pools = cinder.pools()
        assert (pools[source]["allocated_capacity_gb"], pools["twinstack@hdd#hdd"]["allocated_capacity_gb"]) == (0, 10)
    finally:
        planes.close()


def test_a_move_finishing_late_for_a_volume_being_deleted_deletes_the_copy(api: Api) -> None:
    """Given back by the sweep and then deleted, the delete slower than the move: the late move's copy on the
    destination is deleted rather than left taking space no record counts."""
    # the move takes 2 s: the sweep gives it up after 0.3 s, and its 'error' shows until the move's late answer
    # (a move of 1 s left a window a loaded machine's polling missed); the delete takes longer still
    planes = running_planes(api, COPYING.model_copy(update={"operation_timeout": 0.3, "clone_gb_per_second": 5.0,
                                                           "delete_seconds": 4.0}))
    running = next(planes)
    try:
        cinder = Cinder(api)
        volume = cinder.wait_for(cinder.create(size=10, volume_type="ssd")["id"], "available")
        source = volume["os-vol-host-attr:host"]
        assert retype(cinder, volume["id"], "hdd", "on-demand") == (202, "")
        wait_until(lambda: cinder.volume(volume["id"])["migration_status"] == "error", "the sweep did not act")
        assert cinder.delete(f"/volumes/{volume['id']}").status_code == 202
        wait_until(lambda: held(running, volume["id"]) == ["twinstack@hdd#hdd"], "the back end did not move it")
        wait_until(lambda: held(running, volume["id"]) == [], "the late copy stayed on the destination", 15)
        assert source != "twinstack@hdd#hdd"
    finally:
        planes.close()


def test_a_back_end_of_host_local_files_migrates_only_within_its_host(api: Api) -> None:
    """A real host's back ends hold qcow2 files on that host (storage_protocol 'local'): a migration can only
    copy into another back end of the same host, so a type only another host's back end offers is refused with
    the scheduler's 400 (not accepted and then failed by the back end), while one of the same host still moves."""
    local = [backend.model_copy(update={"capabilities": {"storage_protocol": "local"}}) for backend in SMALL_BACKENDS]
    planes = running_planes(api, COPYING.model_copy(update={"backends": local}))
    running = next(planes)
    try:
        far = COPYING.model_copy(update={"backends": [
            VolumeBackendSettings(name="far", volume_backend_name="far", capacity_gb=500)]})
        elsewhere = SimStorageAgent(running.compute.runtime, running.compute.bus, far, host="node2")
        running.compute.runtime.call_soon(elsewhere.start)
        cinder = Cinder(api)
        wait_until(lambda: any(name.startswith("node2@far") for name in cinder.pools()), "node2 did not report")
        assert cinder.post("/types", json={"volume_type": {"name": "far", "extra_specs": {
            "volume_backend_name": "far"}}}).status_code == 200
        volume = cinder.wait_for(cinder.create(size=1, volume_type="ssd")["id"], "available")
        status, message = retype(cinder, volume["id"], "far", "on-demand")
        assert (status, message) == (400, "No valid backend was found. No weighed backends available")
        assert cinder.volume(volume["id"])["volume_type"] == "ssd"
        assert retype(cinder, volume["id"], "hdd", "on-demand") == (202, "")
        moved = cinder.wait_for(volume["id"], "available")
        assert (moved["os-vol-host-attr:host"], moved["migration_status"]) == ("twinstack@hdd#hdd", "success")
    finally:
        planes.close()
