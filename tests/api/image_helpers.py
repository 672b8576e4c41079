"""Helpers of the image API tests: a Glance-speaking client over the in-process app, and clouds whose
image settings (stores, protections, locations) a test chooses."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import Api, make_settings
from twinstack.cloud import Cloud, open_cloud
from twinstack.config import ImageSettings
from twinstack.core.clock import ManualClock
from twinstack.core.image.patch import MEDIA_TYPE
from twinstack.setup_cloud import bootstrap


def image_cloud(tmp_path: Path, clock: ManualClock, image: ImageSettings) -> Cloud:
    settings = make_settings(tmp_path).model_copy(update={"image": image})
    built = open_cloud(settings, clock=clock)
    bootstrap(built)
    return built


class Glance:
    """Image v2 requests as one user."""

    def __init__(self, api: Api, token: str | None = None) -> None:
        self.api = api
        self.token = token or api.admin_token

    def as_user(self, token: str) -> Glance:
        return Glance(self.api, token)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"X-Auth-Token": self.token, **kwargs.pop("headers", {})}
        response: httpx.Response = self.api.http.request(method, f"/image{path}", headers=headers, **kwargs)
        return response

    def create(self, **body: Any) -> dict[str, Any]:
        body = {"disk_format": "raw", "container_format": "bare", **body}
        response = self.request("POST", "/v2/images", json=body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    def show(self, image_id: str) -> dict[str, Any]:
        response = self.request("GET", f"/v2/images/{image_id}")
        assert response.status_code == 200, response.text
        shown: dict[str, Any] = response.json()
        return shown

    def upload(self, image_id: str, data: bytes, **headers: str) -> httpx.Response:
        return self.request("PUT", f"/v2/images/{image_id}/file", content=data,
                            headers={"Content-Type": "application/octet-stream", **headers})

    def patch(self, image_id: str, *ops: dict[str, Any]) -> httpx.Response:
        return self.request("PATCH", f"/v2/images/{image_id}", json=list(ops), headers={"Content-Type": MEDIA_TYPE})

    def names(self, **params: Any) -> list[str]:
        response = self.request("GET", "/v2/images", params=params)
        assert response.status_code == 200, response.text
        return [i["name"] for i in response.json()["images"]]


def digests(data: bytes) -> tuple[str, str]:
    return hashlib.md5(data, usedforsecurity=False).hexdigest(), hashlib.sha512(data).hexdigest()
