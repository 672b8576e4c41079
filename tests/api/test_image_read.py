"""The read side of Image v2 (Glance): version discovery, list with Glance's filters and pages, show,
visibility between projects, the schemas, and the bootstrap test image servers boot from.

Images other than the bootstrap one are written straight into the image tables: creating and
uploading them through the API comes with the image service.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.compute_helpers import Member, Nova, make_member, running_plane
from tests.conftest import Api
from twinstack.cloud import Cloud
from twinstack.core.image.images import TEST_IMAGE_ID, TEST_IMAGE_NAME
from twinstack.db.models.image import ImageMemberRow, ImageRow

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def add_image(cloud: Cloud, name: str, owner: str | None, visibility: str = "private", minutes: int = 1,
              **fields: Any) -> str:
    image_id = str(uuid.uuid4())
    moment = START + dt.timedelta(minutes=minutes)
    row = ImageRow(id=image_id, name=name, status="active", visibility=visibility, owner=owner,
                   disk_format="qcow2", container_format="bare", size=1024, virtual_size=None, min_disk=0,
                   min_ram=0, os_hidden=False, protected=False, tags=[], properties={}, locations=[],
                   created_at=moment, updated_at=moment)
    for key, value in fields.items():
        setattr(row, key, value)
    with cloud.transaction() as session:
        session.add(row)
    return image_id


def share(cloud: Cloud, image_id: str, project_id: str, status: str) -> None:
    with cloud.transaction() as session:
        session.add(ImageMemberRow(image_id=image_id, member_id=project_id, status=status, created_at=START,
                                   updated_at=START))


@pytest.fixture
def nova(api: Api) -> Nova:
    return Nova(api)


@pytest.fixture
def alice(api: Api) -> Member:
    return make_member(api, "alice", "demo")


@pytest.fixture
def bob(api: Api) -> Member:
    return make_member(api, "bob", "other")


def names(nova: Nova, **params: Any) -> list[str]:
    response = nova.image("GET", "/v2/images", params=params)
    assert response.status_code == 200, response.text
    return [i["name"] for i in response.json()["images"]]


def test_discovery_lists_v2_as_glance_does(api: Api) -> None:
    response = api.http.get("/image/")
    assert response.status_code == 300
    versions = response.json()["versions"]
    assert versions[0] == {"id": "v2.16", "status": "CURRENT",
                           "links": [{"rel": "self", "href": "http://127.0.0.1:8000/image/v2/"}]}
    assert {v["status"] for v in versions[1:]} == {"SUPPORTED"} and versions[-1]["id"] == "v2.0"
    assert api.http.get("/image/versions").json() == response.json()


def test_the_bootstrap_image_is_listed_and_shown_as_glance_shapes_it(nova: Nova) -> None:
    listing = nova.image("GET", "/v2/images").json()
    assert listing["first"] == "/v2/images" and listing["schema"] == "/v2/schemas/images" and "next" not in listing
    [image] = listing["images"]
    assert image["id"] == TEST_IMAGE_ID and image["name"] == TEST_IMAGE_NAME
    assert (image["status"], image["visibility"], image["disk_format"], image["container_format"]) == (
        "active", "public", "qcow2", "bare")
    assert 0 < image["size"] < 64 * 2**20 and image["min_disk"] == 0 and image["protected"] is False
    assert image["self"] == f"/v2/images/{TEST_IMAGE_ID}" and image["file"].endswith("/file")
    assert image["created_at"].endswith("Z") and image["tags"] == []
    assert nova.image("GET", f"/v2/images/{TEST_IMAGE_ID}").json() == image
    missing = nova.image("GET", f"/v2/images/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert nova.image("GET", f"/v2/images/{TEST_IMAGE_NAME}").status_code == 404, "names are found by listing"


def test_projects_see_public_their_own_and_what_is_shared_with_them(api: Api, nova: Nova, alice: Member,
                                                                     bob: Member) -> None:
    cloud = api.cloud
    add_image(cloud, "alice-private", alice.project_id)
    shared = add_image(cloud, "alice-shared", alice.project_id, "shared")
    pending = add_image(cloud, "alice-pending", alice.project_id, "shared")
    add_image(cloud, "community", alice.project_id, "community")
    share(cloud, shared, bob.project_id, "accepted")
    share(cloud, pending, bob.project_id, "pending")
    as_alice, as_bob = nova.as_user(alice.token), nova.as_user(bob.token)
    assert sorted(names(as_alice)) == ["alice-pending", "alice-private", "alice-shared", "community",
                                       TEST_IMAGE_NAME]
    assert sorted(names(as_bob)) == ["alice-shared", TEST_IMAGE_NAME]
    assert sorted(names(as_bob, visibility="all")) == ["alice-shared", "community", TEST_IMAGE_NAME]
    assert names(as_bob, visibility="shared", member_status="pending") == ["alice-pending"]
    assert sorted(names(as_bob, visibility="shared", member_status="all")) == ["alice-pending", "alice-shared"]
    assert names(as_bob, visibility="community") == ["community"]
    assert names(as_alice, visibility="private") == ["alice-private"]
    assert as_bob.image("GET", f"/v2/images/{pending}").status_code == 200, "a member sees it whatever its status"
    private = add_image(cloud, "bob-private", bob.project_id)
    assert as_alice.image("GET", f"/v2/images/{private}").status_code == 404
    assert len(names(nova)) == 6, "admins see every image"
    assert as_bob.image("GET", "/v2/images", params={"visibility": "secret"}).status_code == 400


def test_filters(api: Api, nova: Nova, alice: Member) -> None:
    cloud = api.cloud
    first = add_image(cloud, "ubuntu", alice.project_id, "public", tags=["lts", "server"],
                      properties={"os_distro": "ubuntu"}, disk_format="raw", size=4096)
    second = add_image(cloud, "fedora", alice.project_id, "public", status="queued",
                       properties={"os_distro": "fedora"})
    add_image(cloud, "hidden", alice.project_id, "public", os_hidden=True)
    assert sorted(names(nova, id=f"in:{first},{second}")) == ["fedora", "ubuntu"]
    assert names(nova, name="ubuntu") == ["ubuntu"]
    assert sorted(names(nova, name="in:ubuntu,fedora")) == ["fedora", "ubuntu"]
    assert names(nova, status="queued") == ["fedora"]
    assert names(nova, tag="lts") == ["ubuntu"]
    assert names(nova, os_distro="fedora") == ["fedora"]
    assert names(nova, disk_format="raw") == ["ubuntu"]
    assert names(nova, size_min=2048, size_max=8192) == ["ubuntu"]
    assert names(nova, owner=alice.project_id, os_hidden="true") == ["hidden"]
    assert "hidden" not in names(nova)


def test_sorting_and_pages_follow_glance(api: Api, nova: Nova) -> None:
    for minute, name in enumerate(["a", "b", "c", "d"], start=1):
        add_image(api.cloud, name, None, "public", minutes=minute)
    assert names(nova)[:4] == [TEST_IMAGE_NAME, "d", "c", "b"], "newest first"
    assert names(nova, sort_key="name", sort_dir="asc") == ["a", "b", "c", "d", TEST_IMAGE_NAME]
    assert names(nova, sort="name:desc") == [TEST_IMAGE_NAME, "d", "c", "b", "a"]
    page = nova.image("GET", "/v2/images", params={"limit": 2, "sort": "name:asc"}).json()
    assert [i["name"] for i in page["images"]] == ["a", "b"]
    assert page["next"].startswith("/v2/images?") and "marker=" in page["next"]
    rest = nova.image("GET", page["next"]).json()
    assert [i["name"] for i in rest["images"]] == ["c", "d"]
    assert nova.image("GET", "/v2/images", params={"sort_key": "colour"}).status_code == 400
    assert nova.image("GET", "/v2/images", params={"marker": str(uuid.uuid4())}).status_code == 400
    assert nova.image("GET", "/v2/images", params={"limit": "-1"}).status_code == 400


def test_schemas(nova: Nova) -> None:
    image = nova.image("GET", "/v2/schemas/image").json()
    assert image["name"] == "image" and {"id", "name", "visibility", "disk_format"} <= set(image["properties"])
    assert image["additionalProperties"] == {"type": "string"}
    images = nova.image("GET", "/v2/schemas/images").json()
    assert images["properties"]["images"]["items"]["name"] == "image"


def test_reading_images_needs_a_token(api: Api) -> None:
    assert api.http.get("/image/v2/images").status_code == 401


@pytest.fixture
def compute_plane(api: Api) -> Iterator[None]:
    for _ in running_plane(api.cloud):
        yield


def test_a_server_boots_only_from_an_image_its_project_may_see(api: Api, nova: Nova, alice: Member, bob: Member,
                                                              compute_plane: None) -> None:
    theirs = add_image(api.cloud, "bob-only", bob.project_id)
    refused = nova.as_user(alice.token).post("/servers", json={"server": {"name": "vm", "imageRef": theirs,
                                                                          "flavorRef": "1"}})
    assert refused.status_code == 400
    assert refused.json()["badRequest"]["message"] == f"Image {theirs} could not be found."
    queued = add_image(api.cloud, "queued", alice.project_id, status="queued")
    not_active = nova.as_user(alice.token).post("/servers", json={"server": {"name": "vm", "imageRef": queued,
                                                                             "flavorRef": "1"}})
    assert not_active.json()["badRequest"]["message"] == f"Image {queued} is not active."
    needy = add_image(api.cloud, "needy", alice.project_id, min_disk=5)
    too_small = nova.as_user(alice.token).post("/servers", json={"server": {"name": "vm", "imageRef": needy,
                                                                            "flavorRef": "1"}})
    assert too_small.status_code == 400 and "minimum size" in too_small.json()["badRequest"]["message"]
    mine = add_image(api.cloud, "alice-image", alice.project_id, properties={"hw_disk_bus": "scsi"}, size=2048)
    server_id = nova.as_user(alice.token).boot("vm", image=mine)["id"]
    compute = api.cloud.compute
    assert compute is not None
    instance = compute.instances.get(server_id)
    assert instance is not None and instance.image is not None
    assert (instance.image.id, instance.image.size_bytes, instance.image.properties) == (
        mine, 2048, {"hw_disk_bus": "scsi"})
