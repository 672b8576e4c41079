"""Server snapshots (Nova's createImage) in-process, over a live simulated plane whose hosts snapshot in 0.3 s.

The image is made ``queued`` at once, owned by the server's project with the properties Nova sets; the
server runs image_snapshot..., then is back to no task; the image turns ``active`` with 48 KiB of data
that downloads through the image API. A failed host snapshot, or a server deleted mid-way, leaves the
image ``killed``, never active.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.compute_helpers import Member, Nova, make_member, running_plane, start_plane
from tests.api.image_helpers import Glance, image_cloud
from tests.conftest import Api
from twinstack.compute_plane import ComputePlane
from twinstack.config import ImageSettings, PropertyProtection
from twinstack.core.clock import ManualClock
from twinstack.core.image.images import TEST_IMAGE_ID

SNAPSHOT_BYTES = 48 * 1024  # what start_plane's hosts make
SNAPSHOT_TASKS = {"image_snapshot_pending", "image_snapshot", "image_pending_upload", "image_uploading"}


@pytest.fixture
def plane(api: Api) -> Iterator[ComputePlane]:
    yield from running_plane(api.cloud)


@pytest.fixture
def nova(api: Api, plane: ComputePlane) -> Nova:
    return Nova(api, version="2.45")


@pytest.fixture
def alice(api: Api) -> Member:
    return make_member(api, "alice", "demo")


def image_of(nova: Nova, image_id: str) -> dict[str, Any]:
    response = nova.image("GET", f"/v2/images/{image_id}")
    assert response.status_code == 200, response.text
    image: dict[str, Any] = response.json()
    return image


def wait_image(nova: Nova, image_id: str, *statuses: str, timeout: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        image = image_of(nova, image_id)
        if image["status"] in statuses:
            return image
        assert image["status"] in ("queued", "saving"), f"image went {image['status']}"
        assert time.monotonic() < deadline, f"image stayed {image['status']}"
        time.sleep(0.05)


def watch_tasks(nova: Nova, server_id: str, timeout: float = 15) -> list[str | None]:
    """The distinct task states the server shows until it has none, in order."""
    seen: list[str | None] = []
    deadline = time.monotonic() + timeout
    while True:
        task = nova.server(server_id)["OS-EXT-STS:task_state"]
        if not seen or seen[-1] != task:
            seen.append(task)
        if task is None:
            return seen
        assert time.monotonic() < deadline, f"server stayed in task {task}"
        time.sleep(0.02)


def snapshot_event(nova: Nova, server_id: str) -> dict[str, Any]:
    actions = nova.get(f"/servers/{server_id}/os-instance-actions").json()["instanceActions"]
    assert actions[0]["action"] == "createImage"
    detail = nova.at("2.62").get(f"/servers/{server_id}/os-instance-actions/{actions[0]['request_id']}").json()
    events = {e["event"]: e for e in detail["instanceAction"]["events"]}
    event: dict[str, Any] = events["compute_snapshot_instance"]
    return event


def test_create_image_snapshots_the_server_into_an_active_image_of_its_project(nova: Nova, alice: Member) -> None:
    mine = nova.as_user(alice.token)
    server_id = mine.boot("vm")["id"]
    mine.wait_for(server_id, "ACTIVE")
    response = mine.action(server_id, {"createImage": {"name": "snap", "metadata": {"purpose": "backup"}}})
    assert response.status_code == 202, response.text
    assert "Location" not in response.headers, "2.45 answers in the body"
    image_id = response.json()["image_id"]
    queued = image_of(mine, image_id)
    assert queued["status"] == "queued" and queued["name"] == "snap"
    assert queued["owner"] == alice.project_id and queued["visibility"] == "private"
    assert (queued["disk_format"], queued["container_format"]) == ("qcow2", "bare"), "the source image's formats"
    assert queued["instance_uuid"] == server_id and queued["image_type"] == "snapshot"
    assert queued["base_image_ref"] == TEST_IMAGE_ID and queued["user_id"] == alice.user_id
    assert queued["purpose"] == "backup" and queued["os_type"] == "linux", "request metadata and the source's"

    tasks = watch_tasks(mine, server_id)
    assert tasks[-1] is None and set(tasks[:-1]) <= SNAPSHOT_TASKS and "image_snapshot" in tasks
    assert mine.server(server_id)["status"] == "ACTIVE"
    image = wait_image(mine, image_id, "active")
    assert image["size"] == SNAPSHOT_BYTES
    data = mine.image("GET", f"/v2/images/{image_id}/file")
    assert data.status_code == 200 and len(data.content) == SNAPSHOT_BYTES
    assert hashlib.md5(data.content, usedforsecurity=False).hexdigest() == image["checksum"]
    assert snapshot_event(nova, server_id)["result"] == "Success"


def test_create_image_before_2_45_answers_the_image_url_in_location(nova: Nova) -> None:
    server_id = nova.boot("vm")["id"]
    nova.wait_for(server_id, "ACTIVE")
    nova.action(server_id, {"os-stop": None})
    nova.wait_for(server_id, "SHUTOFF")
    response = nova.at("2.44").action(server_id, {"createImage": {"name": "stopped-snap"}})
    assert response.status_code == 202, response.text
    assert response.content == b""
    location = response.headers["Location"]
    assert "/image/v2/images/" in location
    image_id = location.rsplit("/", 1)[-1]
    assert wait_image(nova, image_id, "active")["name"] == "stopped-snap"
    assert nova.wait_for(server_id, "SHUTOFF")["OS-EXT-STS:vm_state"] == "stopped", "a stopped server stays so"


def test_create_image_refuses_what_nova_refuses(nova: Nova, alice: Member) -> None:
    assert nova.action("0" * 32, {"createImage": {"name": "x"}}).status_code == 404
    server_id = nova.boot("vm")["id"]
    nova.wait_for(server_id, "ACTIVE")
    assert nova.action(server_id, {"createImage": {}}).status_code == 400, "name is required"
    assert nova.action(server_id, {"createImage": {"name": " padded"}}).status_code == 400
    assert nova.action(server_id, {"createImage": {"name": "x", "metadata": {"k": 1}}}).status_code == 400
    other = nova.as_user(alice.token)
    assert other.action(server_id, {"createImage": {"name": "x"}}).status_code == 404, "not alice's server"
    first = nova.action(server_id, {"createImage": {"name": "one"}})
    assert first.status_code == 202
    second = nova.action(server_id, {"createImage": {"name": "two"}})
    assert second.status_code == 409, second.text
    assert "task_state image_snapshot" in second.json()["conflictingRequest"]["message"]
    watch_tasks(nova, server_id)
    wait_image(nova, first.json()["image_id"], "active")


def test_create_image_of_a_server_in_error_is_409(nova: Nova, plane: ComputePlane) -> None:
    server_id = nova.boot("vm")["id"]
    nova.wait_for(server_id, "ACTIVE")
    instance = plane.instances.get(server_id)
    assert instance is not None
    instance.vm_state = "error"
    plane.instances.save(instance)
    refused = nova.action(server_id, {"createImage": {"name": "x"}})
    assert refused.status_code == 409
    assert "vm_state error" in refused.json()["conflictingRequest"]["message"]


def test_a_failed_host_snapshot_leaves_the_image_killed_and_the_server_as_it_was(api: Api) -> None:
    plane = start_plane(api.cloud, snapshot_failure_probability=1.0)
    try:
        nova = Nova(api, version="2.45")
        server_id = nova.boot("vm")["id"]
        nova.wait_for(server_id, "ACTIVE")
        image_id = nova.action(server_id, {"createImage": {"name": "doomed"}}).json()["image_id"]
        watch_tasks(nova, server_id)
        assert wait_image(nova, image_id, "killed", "active")["status"] == "killed"
        assert nova.server(server_id)["status"] == "ACTIVE"
        event = snapshot_event(nova, server_id)
        assert event["result"] == "Error" and "injected failure" in event["traceback"]
        assert nova.image("GET", f"/v2/images/{image_id}/file").status_code == 204, "no data"
    finally:
        plane.stop()
        api.cloud.compute = None


def test_deleting_the_server_mid_snapshot_kills_the_image(nova: Nova) -> None:
    server_id = nova.boot("vm")["id"]
    nova.wait_for(server_id, "ACTIVE")
    image_id = nova.action(server_id, {"createImage": {"name": "orphan"}}).json()["image_id"]
    assert nova.delete(f"/servers/{server_id}").status_code == 204
    nova.wait_gone(server_id)
    assert wait_image(nova, image_id, "killed", "active")["status"] == "killed"


def test_a_snapshot_keeps_the_minimums_of_its_source_and_its_flavors_root_disk(api: Api, nova: Nova) -> None:
    """Nova's snapshot metadata: min_ram is the source image's, min_disk the larger of the source's and the
    flavor's root disk, so the snapshot never boots on a flavor too small for the server it came from."""
    glance = Glance(api)
    needy = glance.create(name="needy", min_ram=256, min_disk=3)
    assert glance.upload(needy["id"], b"x" * 4096).status_code == 204
    zero = nova.post("/flavors", json={"flavor": {"name": "no-root", "ram": 512, "vcpus": 1, "disk": 0}})
    assert zero.status_code == 200, zero.text
    snapshots: dict[str, dict[str, Any]] = {}
    for flavor, source in (("no-root", needy["id"]), ("m1.small", needy["id"]), ("m1.tiny", TEST_IMAGE_ID)):
        flavor_id = zero.json()["flavor"]["id"] if flavor == "no-root" else {"m1.small": "2", "m1.tiny": "1"}[flavor]
        server_id = nova.boot(f"vm-{flavor}", flavor=flavor_id, image=source)["id"]
        nova.wait_for(server_id, "ACTIVE")
        response = nova.action(server_id, {"createImage": {"name": f"snap-{flavor}"}})
        assert response.status_code == 202, response.text
        snapshots[flavor] = wait_image(nova, response.json()["image_id"], "active")
    assert {f: (i["min_ram"], i["min_disk"]) for f, i in snapshots.items()} == {
        "no-root": (256, 3), "m1.small": (256, 20), "m1.tiny": (0, 1)}
    smaller = nova.post("/servers", json={"server": {"name": "x", "flavorRef": "1", "networks": "none",
                                                     "imageRef": snapshots["m1.small"]["id"]}})
    assert smaller.status_code == 400
    assert smaller.json()["badRequest"]["message"] == (
        f"Flavor's disk is smaller than the minimum size specified in image metadata. Flavor disk is {1024**3} "
        f"bytes, minimum size is {20 * 1024**3} bytes.")


BILLING = [PropertyProtection(pattern="^x_billing_", create=["admin"], read=["admin"], update=["admin"],
                              delete=["admin"]),
           PropertyProtection(pattern=".*")]


@pytest.fixture
def protected(tmp_path: Path, clock: ManualClock) -> Iterator[Api]:
    """A cloud whose property protections keep ``x_billing_*`` to admins, with a running plane."""
    built = image_cloud(tmp_path, clock, ImageSettings(property_protections=BILLING))
    try:
        for _ in running_plane(built):
            yield Api(built)
    finally:
        built.close()


def test_create_image_metadata_obeys_the_property_protections(protected: Api) -> None:
    """Nova creates the snapshot's image with the caller's own token, so Glance's property protections judge its
    metadata: a member may not set an admin's property (403, no image, the server untouched); an admin may."""
    nova = Nova(protected, version="2.45")
    alice = make_member(protected, "alice", "demo")
    mine = nova.as_user(alice.token)
    server_id = mine.boot("vm")["id"]
    mine.wait_for(server_id, "ACTIVE")
    images_before = {i["id"] for i in nova.image("GET", "/v2/images").json()["images"]}
    refused = mine.action(server_id, {"createImage": {"name": "billed", "metadata": {"x_billing_code": "7"}}})
    assert refused.status_code == 403, refused.text
    assert "x_billing_code" in refused.json()["forbidden"]["message"]
    assert {i["id"] for i in nova.image("GET", "/v2/images").json()["images"]} == images_before
    assert mine.server(server_id)["OS-EXT-STS:task_state"] is None
    allowed = nova.action(server_id, {"createImage": {"name": "billed", "metadata": {"x_billing_code": "7"}}})
    assert allowed.status_code == 202, allowed.text
    image_id = allowed.json()["image_id"]
    assert image_of(nova, image_id)["x_billing_code"] == "7"
    assert "x_billing_code" not in image_of(mine, image_id), "nor may the member read it on its own snapshot"
