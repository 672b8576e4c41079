"""Image v2 through the unmodified ``openstack`` CLI (and a raw Range request) against ``twinstack serve``.

Upload and save round-trip the bytes; sharing between projects with ``image add project`` and
``image set --accept``; property protections from configuration; a corrupted import never turns
active; protected images are not deleted; deactivated images refuse downloads; web-download import.
Each CLI call costs about 1.5 s, so the flows are lean.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from openstack.config.loader import OpenStackConfig
from openstack.connection import Connection
from openstack.image.v2._proxy import Proxy as ImageProxy

from tests.conftest import OpenStackCLI, Served, serve

pytestmark = pytest.mark.slow

PASSWORD = "image-pass-1"
PROTECTIONS = [
    {"pattern": "^x_billing_", "create": ["admin"], "read": ["admin"], "update": ["admin"], "delete": ["admin"]},
    {"pattern": ".*"},
]
DATA = bytes(range(256)) * 4096 + b"end"


class NoStdinCLI(OpenStackCLI):
    """The CLI with a terminal on stdin: ``image create`` without ``--file`` reads image data from a non-tty stdin."""

    def run(self, *args: str, env: dict[str, str] | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        full_env = self.served.env()
        full_env.update(env or {})
        controller, terminal = os.openpty()
        try:
            done = subprocess.run(["openstack", *args], stdin=terminal, capture_output=True, text=True, env=full_env,
                                  timeout=120)
        finally:
            os.close(terminal)
            os.close(controller)
        if check and done.returncode != 0:
            raise AssertionError(f"openstack {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
        return done


@pytest.fixture(scope="module")
def openstack(served: Served) -> OpenStackCLI:
    return NoStdinCLI(served)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """This module's cloud: one simulated host, and a property-protection rule for ``x_billing_*``."""
    running = serve(tmp_path_factory.mktemp("served-image"), "--hosts", "1",
                    env={"TWINSTACK_IMAGE__PROPERTY_PROTECTIONS": json.dumps(PROTECTIONS)})
    yield running
    running.process.terminate()
    running.process.wait(10)


@dataclass
class People:
    clouds: Path
    projects: dict[str, str]

    def as_(self, user: str) -> dict[str, str]:
        return {"OS_CLIENT_CONFIG_FILE": str(self.clouds), "OS_CLOUD": user}


@pytest.fixture(scope="module")
def people(openstack: OpenStackCLI, served: Served, tmp_path_factory: pytest.TempPathFactory) -> People:
    """alice in project demo, bob in project other, carol in project third: each a member there."""
    auth_url = f"{served.url}/identity/v3"
    clouds: dict[str, Any] = {}
    projects = {}
    for user, project in (("alice", "demo"), ("bob", "other"), ("carol", "third")):
        projects[user] = openstack.json("project", "create", project)["id"]
        openstack.run("user", "create", "--password", PASSWORD, user)
        openstack.run("role", "add", "--user", user, "--project", project, "member")
        clouds[user] = {"auth": {"auth_url": auth_url, "username": user, "password": PASSWORD,
                                 "user_domain_name": "Default", "project_name": project,
                                 "project_domain_name": "Default"},
                        "region_name": "RegionOne", "identity_api_version": 3}
    path = tmp_path_factory.mktemp("image-clouds") / "clouds.yaml"
    path.write_text(yaml.safe_dump({"clouds": clouds}))
    return People(path, projects)


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("image-data") / "disk.qcow2"
    path.write_bytes(DATA)
    return path


def wait_status(openstack: OpenStackCLI, image_id: str, *statuses: str, env: dict[str, str] | None = None,
                attempts: int = 20) -> dict[str, Any]:
    for _ in range(attempts):
        image: dict[str, Any] = openstack.json("image", "show", image_id, env=env)
        if image["status"] in statuses:
            return image
        time.sleep(0.5)
    raise AssertionError(f"image {image_id} stayed {image['status']}")


def test_create_with_a_file_then_save_gives_the_same_bytes(openstack: OpenStackCLI, people: People,
                                                          data_file: Path, tmp_path: Path) -> None:
    alice = people.as_("alice")
    created = openstack.json("image", "create", "--file", str(data_file), "--disk-format", "qcow2", "round-trip",
                             env=alice)
    assert created["status"] == "active" and created["size"] == len(DATA)
    assert created["checksum"] == hashlib.md5(DATA, usedforsecurity=False).hexdigest()
    hashes = {**created, **created["properties"]}
    assert (hashes.get("os_hash_algo"), hashes.get("os_hash_value")) in ((None, None),
                                                                         ("sha512", hashlib.sha512(DATA).hexdigest()))
    saved = tmp_path / "saved"
    openstack.run("image", "save", "--file", str(saved), "round-trip", env=alice)
    assert saved.read_bytes() == DATA
    token = openstack.json("token", "issue", env=alice)["id"]
    ranged = httpx.get(f"{openstack.served.url}/image/v2/images/{created['id']}/file",
                       headers={"X-Auth-Token": token, "Range": "bytes=256-511"})
    assert ranged.status_code == 206 and ranged.content == DATA[256:512]
    assert ranged.headers["Content-Range"] == f"bytes 256-511/{len(DATA)}"


def test_a_shared_image_is_seen_only_by_the_member_that_accepted(openstack: OpenStackCLI, people: People) -> None:
    alice, bob, carol = people.as_("alice"), people.as_("bob"), people.as_("carol")
    image_id = openstack.json("image", "create", "--shared", "--disk-format", "raw", "shared-one", env=alice)["id"]
    openstack.run("image", "add", "project", image_id, people.projects["bob"], env=alice)
    members = openstack.json("image", "member", "list", image_id, env=alice)
    assert [(m["Member ID"], m["Status"]) for m in members] == [(people.projects["bob"], "pending")]
    assert "shared-one" not in names(openstack, bob)
    openstack.run("image", "set", "--accept", image_id, env=bob)
    assert "shared-one" in names(openstack, bob)
    assert "shared-one" not in names(openstack, carol)
    refused = openstack.run("image", "show", image_id, env=carol, check=False)
    assert refused.returncode != 0
    not_owner = openstack.run("image", "add", "project", image_id, people.projects["carol"], env=bob, check=False)
    assert not_owner.returncode != 0


def names(openstack: OpenStackCLI, env: dict[str, str]) -> list[str]:
    return [i["Name"] for i in openstack.json("image", "list", env=env)]


def test_a_protected_property_is_refused_to_a_member_and_allowed_to_an_admin(openstack: OpenStackCLI,
                                                                              people: People) -> None:
    alice = people.as_("alice")
    refused = openstack.run("image", "create", "--property", "x_billing_code=7", "billed", env=alice, check=False)
    assert refused.returncode != 0 and "x_billing_code" in refused.stderr
    image_id = openstack.json("image", "create", "--property", "os_distro=cirros", "billed", env=alice)["id"]
    refused = openstack.run("image", "set", "--property", "x_billing_code=7", image_id, env=alice, check=False)
    assert refused.returncode != 0
    openstack.run("image", "set", "--property", "x_billing_code=7", image_id)
    assert openstack.json("image", "show", image_id)["properties"]["x_billing_code"] == "7"
    assert "x_billing_code" not in openstack.json("image", "show", image_id, env=alice)["properties"]


def test_a_corrupted_import_never_becomes_active(openstack: OpenStackCLI, people: People, data_file: Path) -> None:
    alice = people.as_("alice")
    image_id = openstack.json("image", "create", "--disk-format", "raw", "corrupt", env=alice)["id"]
    openstack.run("image", "set", "--property", f"owner_specified.openstack.md5={'0' * 32}", image_id, env=alice)
    openstack.run("image", "stage", "--file", str(data_file), image_id, env=alice)
    openstack.run("image", "import", "--method", "glance-direct", image_id, env=alice)
    image = wait_status(openstack, image_id, "queued", "active", env=alice)
    assert image["status"] == "queued" and image.get("checksum") is None
    assert image["properties"]["os_glance_failed_import"] == "file", "the import ran, and failed"


def test_a_protected_image_is_not_deleted(openstack: OpenStackCLI, people: People) -> None:
    alice = people.as_("alice")
    image_id = openstack.json("image", "create", "--protected", "keeper", env=alice)["id"]
    refused = openstack.run("image", "delete", image_id, env=alice, check=False)
    assert refused.returncode != 0
    assert openstack.json("image", "show", image_id, env=alice)["protected"] is True
    openstack.run("image", "set", "--unprotected", image_id, env=alice)
    openstack.run("image", "delete", image_id, env=alice)
    assert "keeper" not in names(openstack, alice)


def test_a_deactivated_image_refuses_downloads(openstack: OpenStackCLI, people: People, data_file: Path,
                                               tmp_path: Path) -> None:
    alice = people.as_("alice")
    image_id = openstack.json("image", "create", "--file", str(data_file), "--disk-format", "raw", "deact",
                              env=alice)["id"]
    openstack.run("image", "set", "--deactivate", image_id)
    assert openstack.json("image", "show", image_id, env=alice)["status"] == "deactivated"
    refused = openstack.run("image", "save", "--file", str(tmp_path / "no"), image_id, env=alice, check=False)
    assert refused.returncode != 0, "the client gets no image (it reads the 403 body as a checksum mismatch)"
    assert not (tmp_path / "no").exists() or (tmp_path / "no").read_bytes() != DATA
    token = openstack.json("token", "issue", env=alice)["id"]
    raw = httpx.get(f"{openstack.served.url}/image/v2/images/{image_id}/file", headers={"X-Auth-Token": token})
    assert raw.status_code == 403 and "deactivated" in raw.json()["message"]
    openstack.run("image", "set", "--activate", image_id)
    openstack.run("image", "save", "--file", str(tmp_path / "yes"), image_id, env=alice)
    assert (tmp_path / "yes").read_bytes() == DATA


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def test_web_download_import(openstack: OpenStackCLI, people: People, data_file: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0),
                                 functools.partial(QuietHandler, directory=str(data_file.parent)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        alice = people.as_("alice")
        image_id = openstack.json("image", "create", "--disk-format", "raw", "from-web", env=alice)["id"]
        url = f"http://127.0.0.1:{server.server_address[1]}/{data_file.name}"
        openstack.run("image", "import", "--method", "web-download", "--uri", url, image_id, env=alice)
        image = wait_status(openstack, image_id, "active", env=alice)
        assert image["size"] == len(DATA)
    finally:
        server.shutdown()
        server.server_close()


def test_openstacksdk_imports_by_glance_direct_and_downloads(served: Served, people: People, data_file: Path,
                                                             tmp_path: Path) -> None:
    """openstacksdk's own import path: it reads the import methods header, stages, imports, then verifies."""
    region = OpenStackConfig(config_files=[str(people.clouds)]).get_one(cloud="alice")
    conn = Connection(config=region)
    try:
        images = conn.image
        assert isinstance(images, ImageProxy)
        assert images.get_import_info().import_methods["value"] == ["glance-direct", "web-download", "copy-image"]
        assert [s.id for s in images.stores()] == ["file"]
        image = images.create_image("sdk-imported", filename=str(data_file), disk_format="raw",
                                        container_format="bare", use_import=True, wait=True, timeout=30)
        image = images.wait_for_status(images.get_image(image.id), "active", interval=0.5, wait=30)
        assert image.size == len(DATA) and image.checksum == hashlib.md5(DATA, usedforsecurity=False).hexdigest()
        target = tmp_path / "sdk.raw"
        images.download_image(image, output=str(target))
        assert target.read_bytes() == DATA
    finally:
        conn.close()


def test_an_interrupted_upload_leaves_the_image_queued_and_no_partial_file(openstack: OpenStackCLI,
                                                                           served: Served, people: People) -> None:
    alice = people.as_("alice")
    image_id = openstack.json("image", "create", "--disk-format", "raw", "interrupted", env=alice)["id"]
    token = openstack.json("token", "issue", env=alice)["id"]
    host, port = served.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall((f"PUT /image/v2/images/{image_id}/file HTTP/1.1\r\nHost: {host}\r\nX-Auth-Token: {token}\r\n"
                      f"Content-Type: application/octet-stream\r\nContent-Length: {10 * len(DATA)}\r\n\r\n"
                      ).encode() + DATA)
        time.sleep(0.5)
    image = wait_status(openstack, image_id, "queued", env=alice)
    assert image["status"] == "queued" and image.get("size") is None
    assert not [p for p in (served.data_dir / "images").rglob("*") if image_id in p.name], "no partial data left"


def test_image_task_list_and_show_report_the_imports_to_an_admin(openstack: OpenStackCLI, people: People,
                                                                  data_file: Path) -> None:
    alice = people.as_("alice")
    image_id = openstack.json("image", "create", "--disk-format", "raw", "tasked", env=alice)["id"]
    openstack.run("image", "stage", "--file", str(data_file), image_id, env=alice)
    openstack.run("image", "import", "--method", "glance-direct", image_id, env=alice)
    wait_status(openstack, image_id, "active", env=alice)
    token = openstack.json("token", "issue", env=alice)["id"]
    [task] = httpx.get(f"{openstack.served.url}/image/v2/images/{image_id}/tasks",
                       headers={"X-Auth-Token": token}).json()["tasks"]
    assert task["id"] in {t["ID"] for t in openstack.json("image", "task", "list", "--status", "success")}
    shown = openstack.json("image", "task", "show", task["id"])
    assert (shown["status"], shown["type"]) == ("success", "api_image_import")
    assert shown["owner_id"] == people.projects["alice"]
    assert openstack.run("image", "task", "list", env=alice, check=False).returncode != 0, "admins only"
