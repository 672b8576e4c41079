"""Uploading images through the image service's public API (Glance v2), as any client would.

The test image builder uses it so that it depends on nothing inside the image service but its wire
API: authenticate with the admin's clouds.yaml credentials, find the image endpoint in the catalog,
then create, upload and look images up by name. Standard library only (urllib).
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import yaml

from twinstack.clouds_yaml import CLOUD_NAME


@dataclass(frozen=True)
class Session:
    token: str
    image_url: str


def _call(method: str, url: str, token: str | None = None, body: Any = None, data: bytes | None = None,
          content_type: str = "application/json") -> tuple[dict[str, Any], dict[str, str]]:
    payload = json.dumps(body).encode() if body is not None else data
    request = urllib.request.Request(url, data=payload, method=method)
    request.add_header("Content-Type", content_type)
    if token:
        request.add_header("X-Auth-Token", token)
    with urllib.request.urlopen(request, timeout=120) as answer:
        raw = answer.read()
        headers = {k.lower(): v for k, v in answer.headers.items()}
    return (json.loads(raw) if raw else {}), headers


def login(clouds_yaml: Path) -> Session:
    """A project-scoped token for the cloud in ``clouds_yaml`` and its public image endpoint."""
    auth = yaml.safe_load(clouds_yaml.read_text())["clouds"][CLOUD_NAME]["auth"]
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": auth["username"], "password": auth["password"], "domain": {"name": auth["user_domain_name"]}}}},
        "scope": {"project": {"name": auth["project_name"], "domain": {"name": auth["project_domain_name"]}}}}}
    answer, headers = _call("POST", auth["auth_url"].rstrip("/") + "/auth/tokens", body=body)
    for service in answer["token"]["catalog"]:
        if service["type"] == "image":
            for endpoint in service["endpoints"]:
                if endpoint["interface"] == "public":
                    return Session(headers["x-subject-token"], endpoint["url"].rstrip("/"))
    raise RuntimeError("the cloud's catalog has no public image endpoint")


def find(session: Session, name: str) -> dict[str, Any] | None:
    answer, _ = _call("GET", f"{session.image_url}/v2/images?name={urllib.parse.quote(name)}", session.token)
    images = [i for i in answer.get("images", []) if i.get("status") == "active"]
    return cast(dict[str, Any], images[0]) if images else None


def delete(session: Session, image_id: str) -> None:
    _call("DELETE", f"{session.image_url}/v2/images/{image_id}", session.token)


def upload(session: Session, name: str, path: Path, disk_format: str, container_format: str,
           properties: dict[str, str] | None = None) -> str:
    """The id of an active public image named ``name`` holding ``path``'s bytes: reused when the same bytes
    are already there (same md5 checksum), else created and uploaded (a stale one is replaced)."""
    data = path.read_bytes()
    existing = find(session, name)
    if existing is not None:
        same_props = all(existing.get(k) == v for k, v in (properties or {}).items())
        if existing.get("checksum") == hashlib.md5(data).hexdigest() and same_props:
            return str(existing["id"])
        delete(session, str(existing["id"]))
    body: dict[str, Any] = {"name": name, "disk_format": disk_format, "container_format": container_format,
                            "visibility": "public", **(properties or {})}
    created, _ = _call("POST", f"{session.image_url}/v2/images", session.token, body=body)
    image_id = str(created["id"])
    _call("PUT", f"{session.image_url}/v2/images/{image_id}/file", session.token, data=data,
          content_type="application/octet-stream")
    return image_id


def upload_file(session: Session, image_id: str, path: Path, timeout: float = 600.0) -> None:
    """Stream ``path`` as the data of the existing (``queued``) image ``image_id``: the image turns ``active``
    once the image service has it all and its checksums (Glance's ``PUT /v2/images/{id}/file``)."""
    size = path.stat().st_size
    with path.open("rb") as data:
        request = urllib.request.Request(f"{session.image_url}/v2/images/{image_id}/file", data=data, method="PUT")
        request.add_header("Content-Type", "application/octet-stream")
        request.add_header("Content-Length", str(size))
        request.add_header("X-Auth-Token", session.token)
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            answer.read()


def upload_snapshot(clouds_yaml: Path, image_id: str, path: Path) -> None:
    """A server snapshot's data to its image, with the credentials in ``clouds_yaml`` (the host's own, as a Nova
    compute host uploads with its service credentials when the user's token has run out)."""
    upload_file(login(clouds_yaml), image_id, path)
