"""Interoperable import (glance-direct, web-download from a loopback web server), import and store
discovery, several stores, and several locations per image with the download served from a live one."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.api.compute_helpers import Member, make_member
from tests.api.image_helpers import Glance, digests, image_cloud
from tests.conftest import Api
from twinstack.config import ImageSettings, ImageStoreSettings
from twinstack.core.clock import ManualClock

DATA = b"imported image " * 5000


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def web(tmp_path: Path) -> Iterator[str]:
    """A loopback web server over a directory holding ``image.raw``."""
    root = tmp_path / "web"
    root.mkdir()
    (root / "image.raw").write_bytes(DATA)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def multi(tmp_path: Path, clock: ManualClock) -> Iterator[Api]:
    settings = ImageSettings(
        stores=[ImageStoreSettings(name="fast", path=tmp_path / "fast", description="SSD"),
                ImageStoreSettings(name="cheap", path=tmp_path / "cheap", description="HDD")],
        default_store="cheap", show_multiple_locations=True, show_image_direct_url=True)
    built = image_cloud(tmp_path, clock, settings)
    yield Api(built)
    built.close()


@pytest.fixture
def glance(api: Api) -> Glance:
    return Glance(api)


def import_(glance: Glance, image_id: str, **body: object) -> int:
    return glance.request("POST", f"/v2/images/{image_id}/import", json=body).status_code


def test_import_methods_and_stores_are_discoverable(glance: Glance, multi: Api) -> None:
    info = glance.request("GET", "/v2/info/import").json()
    assert info["import-methods"]["value"] == ["glance-direct", "web-download", "copy-image"]
    assert glance.request("GET", "/v2/info/stores").json() == {"stores": [
        {"id": "file", "description": "Local filesystem store", "default": True}]}
    assert Glance(multi).request("GET", "/v2/info/stores").json() == {"stores": [
        {"id": "fast", "description": "SSD"}, {"id": "cheap", "description": "HDD", "default": True}]}


def test_glance_direct_stages_then_imports(api: Api, glance: Glance) -> None:
    image_id = glance.create(name="direct")["id"]
    assert import_(glance, image_id, method={"name": "glance-direct"}) == 409, "nothing staged yet"
    staged = glance.request("PUT", f"/v2/images/{image_id}/stage", content=DATA,
                            headers={"Content-Type": "application/octet-stream"})
    assert staged.status_code == 204
    assert glance.show(image_id)["status"] == "uploading"
    assert import_(glance, image_id, method={"name": "glance-direct"}) == 202
    image = glance.show(image_id)
    md5, sha512 = digests(DATA)
    assert (image["status"], image["size"], image["checksum"], image["os_hash_value"]) == ("active", len(DATA),
                                                                                          md5, sha512)
    assert glance.request("GET", f"/v2/images/{image_id}/file").content == DATA
    tasks = glance.request("GET", f"/v2/images/{image_id}/tasks").json()["tasks"]
    assert [(t["type"], t["status"]) for t in tasks] == [("api_image_import", "success")]
    assert not list((api.cloud.settings.data_dir / "images" / "staging").glob("*")), "staging emptied"


def test_the_tasks_api_lists_and_shows_import_tasks_to_admins_only(api: Api, glance: Glance,
                                                                   clock: ManualClock) -> None:
    """Glance's ``/v2/tasks`` (its ``tasks_api_access`` rule: admins): a list of task stubs (no input, no result),
    filtered by status/type and paged, and one task in full; members are refused."""
    image_id = glance.create(name="tasked")["id"]
    glance.request("PUT", f"/v2/images/{image_id}/stage", content=DATA)
    assert import_(glance, image_id, method={"name": "glance-direct"}) == 202
    clock.advance(1)
    failed = glance.create(name="failed", **{"owner_specified.openstack.md5": "0" * 32})["id"]
    glance.request("PUT", f"/v2/images/{failed}/stage", content=DATA)
    assert import_(glance, failed, method={"name": "glance-direct"}) == 202
    listed = glance.request("GET", "/v2/tasks").json()
    assert listed["schema"] == "/v2/schemas/tasks" and listed["first"] == "/v2/tasks"
    assert glance.request("GET", listed["schema"]).json()["name"] == "tasks"
    assert glance.request("GET", "/v2/schemas/task").json()["properties"]["status"]["enum"][-1] == "failure"
    stubs = {t["image_id"]: t for t in listed["tasks"]}
    assert {stubs[image_id]["status"], stubs[failed]["status"]} == {"success", "failure"}
    assert "input" not in stubs[image_id] and stubs[image_id]["self"] == f"/v2/tasks/{stubs[image_id]['id']}"
    assert [t["image_id"] for t in glance.request("GET", "/v2/tasks", params={"status": "failure"}).json()["tasks"]
            ] == [failed]
    assert glance.request("GET", "/v2/tasks", params={"type": "import"}).json()["tasks"] == []
    page = glance.request("GET", "/v2/tasks", params={"limit": 1, "sort_dir": "asc"}).json()
    assert [t["image_id"] for t in page["tasks"]] == [image_id] and "next" in page
    task = glance.request("GET", f"/v2/tasks/{stubs[failed]['id']}").json()
    assert task["type"] == "api_image_import" and task["input"] and "Checksum verification failed" in task["message"]
    assert glance.request("GET", "/v2/tasks/00000000-0000-4000-8000-000000000000").status_code == 404
    member = glance.as_user(make_member(api, "tina", "demo").token)
    assert member.request("GET", "/v2/tasks").status_code == 403
    assert member.request("GET", f"/v2/tasks/{stubs[failed]['id']}").status_code == 403


def test_a_corrupted_glance_direct_import_leaves_the_image_queued(glance: Glance) -> None:
    image_id = glance.create(name="bad", **{"owner_specified.openstack.md5": "0" * 32})["id"]
    glance.request("PUT", f"/v2/images/{image_id}/stage", content=DATA)
    assert import_(glance, image_id, method={"name": "glance-direct"}) == 202
    image = glance.show(image_id)
    assert image["status"] == "queued" and image["checksum"] is None
    assert image["os_glance_failed_import"] == "file"
    [task] = glance.request("GET", f"/v2/images/{image_id}/tasks").json()["tasks"]
    assert task["status"] == "failure" and "Checksum verification failed" in task["message"]
    assert glance.request("GET", f"/v2/images/{image_id}/file").status_code == 204


def test_web_download_fetches_the_url(glance: Glance, web: str) -> None:
    image_id = glance.create(name="web")["id"]
    assert import_(glance, image_id, method={"name": "web-download", "uri": "ftp://x/y"}) == 400
    assert import_(glance, image_id, method={"name": "teleport"}) == 400
    assert import_(glance, image_id, method={"name": "web-download", "uri": f"{web}/image.raw"}) == 202
    image = glance.show(image_id)
    assert (image["status"], image["size"]) == ("active", len(DATA))
    assert glance.request("GET", f"/v2/images/{image_id}/file").content == DATA
    missing = glance.create(name="missing")["id"]
    assert import_(glance, missing, method={"name": "web-download", "uri": f"{web}/nothing"}) == 202
    assert glance.show(missing)["status"] == "queued"


def test_uploads_go_to_the_default_or_asked_store(multi: Api, tmp_path: Path) -> None:
    glance = Glance(multi)
    default = glance.create(name="default")["id"]
    glance.upload(default, DATA)
    assert glance.show(default)["stores"] == "cheap" and (tmp_path / "cheap" / default).is_file()
    fast = glance.create(name="fast")["id"]
    assert glance.upload(fast, DATA, **{"X-Image-Meta-Store": "fast"}).status_code == 204
    assert (tmp_path / "fast" / fast).is_file()
    nowhere = glance.create(name="nowhere")["id"]
    assert glance.upload(nowhere, DATA, **{"X-Image-Meta-Store": "tape"}).status_code == 400


def test_import_to_every_store_gives_one_location_per_store(multi: Api, web: str, tmp_path: Path) -> None:
    glance = Glance(multi)
    image_id = glance.create(name="everywhere")["id"]
    assert import_(glance, image_id, method={"name": "web-download", "uri": f"{web}/image.raw"},
                   all_stores=True) == 202
    image = glance.show(image_id)
    assert image["stores"] == "cheap,fast"
    assert [loc["metadata"]["store"] for loc in image["locations"]] == ["fast", "cheap"]
    assert image["direct_url"] == image["locations"][0]["url"]
    (tmp_path / "fast" / image_id).unlink()
    assert glance.request("GET", f"/v2/images/{image_id}/file").content == DATA, "served from the live location"


def test_locations_are_added_and_removed_by_patch(multi: Api, web: str) -> None:
    glance = Glance(multi)
    member = make_member(multi, "olga", "demo")
    as_owner = glance.as_user(member.token)
    image_id = as_owner.create(name="located")["id"]
    url = f"{web}/image.raw"
    added = as_owner.patch(image_id, {"op": "add", "path": "/locations/-", "value": {"url": url, "metadata": {}}})
    assert added.status_code == 200, added.text
    assert (added.json()["status"], added.json()["size"]) == ("active", len(DATA)), "the first location activates"
    assert as_owner.request("GET", f"/v2/images/{image_id}/file").content == DATA
    assert as_owner.patch(image_id, {"op": "add", "path": "/locations/-",
                                     "value": {"url": f"{web}/gone", "metadata": {}}}).status_code == 400
    peer = as_owner.create(name="peer")["id"]
    as_owner.upload(peer, b"peer data")
    peer_url = glance.show(peer)["locations"][0]["url"]
    stolen = as_owner.patch(image_id, {"op": "add", "path": "/locations/-", "value": {"url": peer_url,
                                                                                      "metadata": {}}})
    assert stolen.status_code == 403, "file locations are for admins only"
    assert glance.patch(image_id, {"op": "add", "path": "/locations/0",
                                   "value": {"url": peer_url, "metadata": {"note": "n"}}}).status_code == 200
    locations = glance.show(image_id)["locations"]
    assert [loc["url"] for loc in locations] == [peer_url, url] and locations[0]["metadata"]["store"] == "cheap"
    assert as_owner.patch(image_id, {"op": "remove", "path": "/locations/0"}).status_code == 403, "admin removes"
    assert glance.patch(image_id, {"op": "remove", "path": "/locations/0"}).status_code == 200
    last = glance.patch(image_id, {"op": "remove", "path": "/locations/0"})
    assert last.status_code == 403 and "last location" in last.json()["message"]


def test_locations_stay_hidden_without_show_multiple_locations(glance: Glance, alice_member: Member) -> None:
    image_id = glance.create(name="plain")["id"]
    glance.upload(image_id, DATA)
    assert "locations" not in glance.show(image_id) and "direct_url" not in glance.show(image_id)


@pytest.fixture
def alice_member(api: Api) -> Member:
    return make_member(api, "alice", "demo")


def test_copy_image_adds_the_data_to_more_stores(multi: Api, tmp_path: Path) -> None:
    glance = Glance(multi)
    member = make_member(multi, "cora", "demo")
    image_id = glance.as_user(member.token).create(name="copied")["id"]
    glance.as_user(member.token).upload(image_id, DATA)
    copy = {"method": {"name": "copy-image"}, "stores": ["fast"]}
    assert import_(glance.as_user(member.token), image_id, **copy) == 403, "copying is for admins"
    assert import_(glance, image_id, method={"name": "copy-image"}) == 400, "stores are needed"
    assert import_(glance, image_id, **copy) == 202
    image = glance.show(image_id)
    assert image["status"] == "active" and image["stores"] == "cheap,fast"
    assert (tmp_path / "fast" / image_id).read_bytes() == DATA
    (tmp_path / "cheap" / image_id).unlink()
    assert glance.request("GET", f"/v2/images/{image_id}/file").content == DATA
    queued = glance.create(name="empty")["id"]
    assert import_(glance, queued, **copy) == 409
