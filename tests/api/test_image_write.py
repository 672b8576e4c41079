"""Image v2 writes through the API: create (queued), upload streamed and hashed, download with ranges,
JSON-patch updates with Glance's refusals, delete and protection, deactivate/reactivate, tags."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest

from tests.api.compute_helpers import Member, make_member
from tests.api.image_helpers import Glance, digests
from tests.conftest import Api
from twinstack.core.clock import ManualClock
from twinstack.core.image.patch import MEDIA_TYPE

DATA = bytes(range(256)) * 1024 + b"tail"


@pytest.fixture
def glance(api: Api) -> Glance:
    return Glance(api)


@pytest.fixture
def alice(api: Api) -> Member:
    return make_member(api, "alice", "demo")


def store_files(api: Api) -> list[Path]:
    root = api.cloud.settings.data_dir / "images"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_create_answers_a_queued_image_with_glance_headers(glance: Glance) -> None:
    response = glance.request("POST", "/v2/images", json={"name": "cirros", "disk_format": "qcow2",
                                                          "container_format": "bare", "os_distro": "cirros",
                                                          "tags": ["a", "a", "b"]})
    assert response.status_code == 201
    image = response.json()
    assert (image["status"], image["visibility"], image["size"], image["checksum"]) == ("queued", "shared", None,
                                                                                      None)
    assert image["os_distro"] == "cirros" and image["tags"] == ["a", "b"] and image["protected"] is False
    assert response.headers["Location"] == f"/v2/images/{image['id']}"
    assert response.headers["OpenStack-image-import-methods"] == "glance-direct,web-download,copy-image"
    assert response.headers["OpenStack-image-store-ids"] == "file"
    chosen = str(uuid.uuid4())
    assert glance.create(id=chosen, name="given")["id"] == chosen
    assert glance.request("POST", "/v2/images", json={"id": chosen}).status_code == 409


REFUSED_CREATES: list[tuple[dict[str, object], int]] = [
    ({"status": "active"}, 403), ({"checksum": "x"}, 403), ({"size": 3}, 403), ({"deleted": True}, 403),
    ({"os_glance_import_task": "x"}, 403), ({"disk_format": "floppy"}, 400), ({"container_format": "box"}, 400),
    ({"disk_format": "aki", "container_format": "bare"}, 400), ({"visibility": "secret"}, 400),
    ({"min_disk": -1}, 400), ({"protected": "yes"}, 400), ({"hw_disk_bus": 3}, 400), ({"id": "nope"}, 400),
    ({"kernel_id": str(uuid.uuid4())}, 400), ({"ramdisk_id": "not-a-uuid"}, 400),
]


def test_create_refuses_what_glance_refuses(glance: Glance) -> None:
    for body, status in REFUSED_CREATES:
        assert glance.request("POST", "/v2/images", json=body).status_code == status, body
    assert glance.names(status="queued") == [], "nothing refused was created"


def test_kernel_and_ramdisk_must_be_existing_images(glance: Glance) -> None:
    kernel = glance.create(name="k", disk_format="aki", container_format="aki")["id"]
    ramdisk = glance.create(name="r", disk_format="ari", container_format="ari")["id"]
    machine = glance.create(name="m", disk_format="ami", container_format="ami", kernel_id=kernel,
                            ramdisk_id=ramdisk)
    assert (machine["kernel_id"], machine["ramdisk_id"]) == (kernel, ramdisk)


def test_only_admins_make_public_images(api: Api, glance: Glance, alice: Member) -> None:
    as_alice = glance.as_user(alice.token)
    assert as_alice.request("POST", "/v2/images", json={"visibility": "public"}).status_code == 403
    assert as_alice.create(visibility="community")["owner"] == alice.project_id
    refused = as_alice.request("POST", "/v2/images", json={"owner": "someone-else"})
    assert refused.status_code == 403


def test_upload_then_download_gives_the_same_bytes_and_glance_hashes(api: Api, glance: Glance) -> None:
    image_id = glance.create(name="data")["id"]
    assert glance.request("GET", f"/v2/images/{image_id}/file").status_code == 204, "no data yet"
    response = glance.upload(image_id, DATA, **{"X-OpenStack-Image-Size": str(len(DATA))})
    assert response.status_code == 204, response.text
    image = glance.show(image_id)
    md5, sha512 = digests(DATA)
    assert (image["status"], image["size"], image["checksum"]) == ("active", len(DATA), md5)
    assert (image["os_hash_algo"], image["os_hash_value"]) == ("sha512", sha512)
    assert image["stores"] == "file" and "locations" not in image and "direct_url" not in image
    download = glance.request("GET", f"/v2/images/{image_id}/file")
    assert download.status_code == 200 and download.content == DATA
    assert download.headers["Content-MD5"] == md5 and download.headers["Content-Type"] == "application/octet-stream"
    assert glance.upload(image_id, b"again").status_code == 409, "an active image's data is immutable"
    assert [p.name for p in store_files(api)] == [image_id], "one file, no partial left over"


def test_range_downloads_answer_206(glance: Glance) -> None:
    image_id = glance.create(name="ranged")["id"]
    glance.upload(image_id, DATA)
    path = f"/v2/images/{image_id}/file"
    middle = glance.request("GET", path, headers={"Range": "bytes=10-19"})
    assert middle.status_code == 206 and middle.content == DATA[10:20]
    assert middle.headers["Content-Range"] == f"bytes 10-19/{len(DATA)}"
    assert glance.request("GET", path, headers={"Range": "bytes=-4"}).content == b"tail"
    assert glance.request("GET", path, headers={"Range": f"bytes={len(DATA) - 2}-"}).content == b"il"
    beyond = glance.request("GET", path, headers={"Range": f"bytes={len(DATA)}-"})
    assert beyond.status_code == 416 and beyond.headers["Content-Range"] == f"bytes */{len(DATA)}"


@pytest.mark.parametrize("declared", [
    {"owner_specified.openstack.md5": "0" * 32},
    {"owner_specified.openstack.sha256": "f" * 64},
])
def test_an_upload_that_does_not_match_its_declared_hash_never_becomes_active(api: Api, glance: Glance,
                                                                              declared: dict[str, str]) -> None:
    image_id = glance.create(name="corrupt", **declared)["id"]
    response = glance.upload(image_id, DATA)
    assert response.status_code == 400 and "Checksum verification failed" in response.json()["message"]
    image = glance.show(image_id)
    assert (image["status"], image["size"], image["checksum"]) == ("queued", None, None)
    assert store_files(api) == [], "no partial file is left"
    md5, _ = digests(DATA)
    good = glance.create(name="good", **{"owner_specified.openstack.md5": md5})["id"]
    assert glance.upload(good, DATA).status_code == 204 and glance.show(good)["status"] == "active"


def test_a_wrong_declared_size_or_an_oversize_upload_leaves_the_image_queued(api: Api, glance: Glance) -> None:
    image_id = glance.create(name="sized")["id"]
    assert glance.upload(image_id, DATA, **{"X-OpenStack-Image-Size": "5"}).status_code == 400
    assert glance.show(image_id)["status"] == "queued"
    api.cloud.settings.image.image_size_cap = 1000
    capped = Glance(api)
    assert capped.upload(image_id, DATA).status_code == 413
    assert capped.show(image_id)["status"] == "queued" and store_files(api) == []


def test_an_upload_needs_formats(glance: Glance) -> None:
    image_id = glance.create(name="bare", disk_format=None, container_format=None)["id"]
    assert glance.upload(image_id, DATA).status_code == 400
    assert glance.show(image_id)["status"] == "queued"


def test_patch_changes_core_fields_and_properties(glance: Glance) -> None:
    image_id = glance.create(name="before", hw_disk_bus="ide")["id"]
    response = glance.patch(image_id,
                            {"op": "replace", "path": "/name", "value": "after"},
                            {"op": "add", "path": "/os_distro", "value": "cirros"},
                            {"op": "replace", "path": "/hw_disk_bus", "value": "scsi"},
                            {"op": "add", "path": "/min_ram", "value": 64},
                            {"op": "replace", "path": "/tags", "value": ["x"]},
                            {"op": "add", "path": "/protected", "value": True})
    assert response.status_code == 200, response.text
    image = response.json()
    assert (image["name"], image["os_distro"], image["hw_disk_bus"], image["min_ram"], image["tags"],
            image["protected"]) == ("after", "cirros", "scsi", 64, ["x"], True)
    removed = glance.patch(image_id, {"op": "remove", "path": "/os_distro"}).json()
    assert "os_distro" not in removed


REFUSED_PATCHES: list[tuple[dict[str, object], int]] = [
    ({"op": "replace", "path": "/status", "value": "active"}, 403),
    ({"op": "replace", "path": "/checksum", "value": "x"}, 403),
    ({"op": "add", "path": "/size", "value": 3}, 403),
    ({"op": "replace", "path": "/id", "value": "x"}, 403),
    ({"op": "remove", "path": "/name"}, 403),
    ({"op": "replace", "path": "/missing", "value": "x"}, 409),
    ({"op": "remove", "path": "/missing"}, 409),
    ({"op": "move", "path": "/name", "value": "x"}, 400),
    ({"op": "add", "path": "/disk_format", "value": "floppy"}, 400),
    ({"op": "add", "path": "/locations/-", "value": {"url": "http://x/y", "metadata": {}}}, 403),
    ({"op": "add", "path": "/a/b", "value": "x"}, 400),
]


def test_patch_refuses_what_glance_refuses_and_changes_nothing(glance: Glance) -> None:
    image_id = glance.create(name="steady")["id"]
    for op, status in REFUSED_PATCHES:
        response = glance.patch(image_id, {"op": "replace", "path": "/name", "value": "changed"}, op)
        assert response.status_code == status, (op, response.text)
        assert glance.show(image_id)["name"] == "steady", "a refused patch applies nothing"


def test_patch_needs_the_json_patch_media_type(glance: Glance) -> None:
    image_id = glance.create(name="typed")["id"]
    plain = glance.request("PATCH", f"/v2/images/{image_id}", json=[{"op": "remove", "path": "/x"}])
    assert plain.status_code == 415
    broken = glance.request("PATCH", f"/v2/images/{image_id}", content=b"{", headers={"Content-Type": MEDIA_TYPE})
    assert broken.status_code == 400


def test_formats_change_only_while_queued(glance: Glance) -> None:
    image_id = glance.create(name="fmt")["id"]
    assert glance.patch(image_id, {"op": "replace", "path": "/disk_format", "value": "qcow2"}).status_code == 200
    glance.upload(image_id, DATA)
    assert glance.patch(image_id, {"op": "replace", "path": "/disk_format", "value": "raw"}).status_code == 403


def test_only_the_owner_changes_an_image(glance: Glance, alice: Member) -> None:
    public = glance.create(name="public", visibility="public")["id"]
    as_alice = glance.as_user(alice.token)
    assert as_alice.patch(public, {"op": "replace", "path": "/name", "value": "mine"}).status_code == 403
    assert as_alice.request("DELETE", f"/v2/images/{public}").status_code == 403
    hidden = glance.create(name="admin-private", visibility="private")["id"]
    assert as_alice.request("DELETE", f"/v2/images/{hidden}").status_code == 404
    mine = as_alice.create(name="mine")["id"]
    assert as_alice.patch(mine, {"op": "replace", "path": "/visibility", "value": "public"}).status_code == 403
    assert as_alice.patch(mine, {"op": "replace", "path": "/visibility", "value": "private"}).status_code == 200


def test_a_protected_image_is_not_deleted_until_unprotected(api: Api, glance: Glance) -> None:
    image_id = glance.create(name="keep", protected=True)["id"]
    glance.upload(image_id, DATA)
    refused = glance.request("DELETE", f"/v2/images/{image_id}")
    assert refused.status_code == 403 and "protected" in refused.json()["message"]
    assert glance.show(image_id)["status"] == "active"
    glance.patch(image_id, {"op": "replace", "path": "/protected", "value": False})
    assert glance.request("DELETE", f"/v2/images/{image_id}").status_code == 204
    assert glance.request("GET", f"/v2/images/{image_id}").status_code == 404
    assert "keep" not in glance.names()
    assert store_files(api) == [], "the data went with the image"
    again = glance.request("POST", "/v2/images", json={"id": image_id})
    assert again.status_code == 409, "a deleted image's id is never reused"


def test_deactivated_images_refuse_downloads_except_to_admins(glance: Glance, alice: Member) -> None:
    image_id = glance.create(name="deact", visibility="public")["id"]
    glance.upload(image_id, DATA)
    as_alice = glance.as_user(alice.token)
    assert as_alice.request("POST", f"/v2/images/{image_id}/actions/deactivate").status_code == 403
    assert glance.request("POST", f"/v2/images/{image_id}/actions/deactivate").status_code == 204
    assert glance.show(image_id)["status"] == "deactivated"
    refused = as_alice.request("GET", f"/v2/images/{image_id}/file")
    assert refused.status_code == 403
    assert glance.request("GET", f"/v2/images/{image_id}/file").content == DATA
    assert glance.request("POST", f"/v2/images/{image_id}/actions/reactivate").status_code == 204
    assert as_alice.request("GET", f"/v2/images/{image_id}/file").content == DATA
    queued = glance.create(name="q")["id"]
    assert glance.request("POST", f"/v2/images/{queued}/actions/deactivate").status_code == 403


def test_tags(glance: Glance) -> None:
    image_id = glance.create(name="tagged")["id"]
    assert glance.request("PUT", f"/v2/images/{image_id}/tags/blue").status_code == 204
    assert glance.request("PUT", f"/v2/images/{image_id}/tags/blue").status_code == 204
    assert glance.request("PUT", f"/v2/images/{image_id}/tags/red").status_code == 204
    assert glance.show(image_id)["tags"] == ["blue", "red"]
    assert glance.names(tag="red") == ["tagged"]
    assert glance.request("DELETE", f"/v2/images/{image_id}/tags/blue").status_code == 204
    assert glance.request("DELETE", f"/v2/images/{image_id}/tags/blue").status_code == 404
    assert glance.show(image_id)["tags"] == ["red"]


def test_lists_filter_sort_and_page_written_images(glance: Glance) -> None:
    for name, size in (("small", 10), ("big", 1000)):
        image_id = glance.create(name=name, os_distro=name)["id"]
        glance.upload(image_id, b"x" * size)
    glance.create(name="empty")
    assert glance.names(size_min=100, size_max=5000) == ["big"]
    assert glance.names(status="queued") == ["empty"]
    assert glance.names(os_distro="small") == ["small"]
    md5, sha512 = digests(b"x" * 10)
    assert glance.names(checksum=md5) == ["small"] and glance.names(os_hash_value=sha512) == ["small"]
    assert glance.names(sort="size:asc", status="active")[:2] == ["small", "big"]
    page = glance.request("GET", "/v2/images", params={"limit": 1, "sort_key": "name", "sort_dir": "asc"}).json()
    assert [i["name"] for i in page["images"]] == ["big"] and "next" in page


def test_lists_filter_on_created_at_and_updated_at_with_glances_time_comparisons(api: Api, glance: Glance,
                                                                                 clock: ManualClock) -> None:
    """Glance's time comparison filters: ``created_at=<op>:<ISO 8601>`` with gt, gte, eq, neq, lt, lte (no
    operator means eq), a time without an offset being UTC; anything else is 400, never an ignored filter."""
    older = glance.create(name="older")
    clock.advance(60)
    newer = glance.create(name="newer")
    clock.advance(60)
    glance.patch(older["id"], {"op": "replace", "path": "/name", "value": "older"})
    between = dt.datetime.fromisoformat(older["created_at"].replace("Z", "+00:00")) + dt.timedelta(seconds=30)
    mine = {"older", "newer"}
    assert set(glance.names(created_at=f"gt:{between.isoformat()}")) & mine == {"newer"}
    assert set(glance.names(created_at=f"lt:{between.strftime('%Y-%m-%dT%H:%M:%SZ')}")) & mine == {"older"}
    assert set(glance.names(created_at=f"lte:{newer['created_at']}")) & mine == {"older", "newer"}
    assert set(glance.names(created_at=f"gte:{newer['created_at']}")) & mine == {"newer"}
    assert set(glance.names(created_at=f"eq:{newer['created_at']}")) & mine == {"newer"}
    assert set(glance.names(created_at=newer["created_at"])) & mine == {"newer"}
    assert set(glance.names(created_at=f"neq:{newer['created_at']}")) & mine == {"older"}
    in_another_zone = (between + dt.timedelta(seconds=60)).astimezone(dt.timezone(dt.timedelta(hours=-5)))
    assert set(glance.names(updated_at=f"gt:{in_another_zone.isoformat()}")) & mine == {"older"}
    for bad in ("gt:yesterday", "about:2020-01-01T00:00:00Z", "in:2020-01-01T00:00:00Z"):
        refused = glance.request("GET", "/v2/images", params={"created_at": bad})
        assert refused.status_code == 400, bad
