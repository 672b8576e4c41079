"""Block storage microversions: ``OpenStack-API-Version: volume 3.x`` in, the served version out.

No header means 3.0; ``latest`` means our maximum; a version outside [3.0, MAX] is 406, a malformed one 400,
in Cinder's fault format. Handlers read the negotiated version from ``request.state.microversion``.

The same middleware also accepts Cinder's older URL shape ``/v3/{project_id}/...`` by moving the project id
out of the path (into ``request.state.url_project_id``), so catalogs with or without it both work (3.67).
"""

from __future__ import annotations

import json
import re
from typing import NamedTuple

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from twinstack.api.volume.faults import cinder_fault


class Version(NamedTuple):
    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


MIN_VERSION = Version(3, 0)
MAX_VERSION = Version(3, 71)
"""Field additions up to 3.71 are served (see views); actions newer than what is built answer 400/404."""
PROJECT_IN_PATH = re.compile(r"^/v3/([0-9a-f]{32}|[0-9a-f-]{36})(/.*)?$")


def requested(headers: dict[str, str]) -> str | None:
    value = headers.get("openstack-api-version")
    if value:
        for part in value.split(","):
            service, _, version = part.strip().partition(" ")
            if service.lower() in ("volume", "block-storage"):
                return version.strip()
    return None


def parse(text: str) -> Version:
    if text == "latest":
        return MAX_VERSION
    major, minor = text.split(".")
    return Version(int(major), int(minor))


class VolumeMicroversionMiddleware:
    documented_faults = frozenset({400, 404, 406})
    """Faults any route may answer under it (see api.openapi_doc): 400 for a malformed version, 406 for one
    out of range, 404 for a route newer than the version asked."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        root, path = scope.get("root_path", ""), scope.get("path", "")
        moved = PROJECT_IN_PATH.match(path[len(root):] if root and path.startswith(root) else path)
        if moved:
            state["url_project_id"] = moved.group(1)
            scope["path"] = (root if path.startswith(root) else "") + "/v3" + (moved.group(2) or "/")
            scope["raw_path"] = scope["path"].encode()
        headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
        asked = requested(headers)
        try:
            version = MIN_VERSION if asked is None else parse(asked)
        except ValueError:
            await _refuse(send, f"Invalid API version request string: {asked}", 400)
            return
        if not MIN_VERSION <= version <= MAX_VERSION:
            await _refuse(send, f"Version {version} is not supported by the API. Minimum is {MIN_VERSION} and "
                                f"maximum is {MAX_VERSION}.", 406)
            return
        state["microversion"] = version

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []),
                                      (b"openstack-api-version", f"volume {version}".encode()),
                                      (b"vary", b"OpenStack-API-Version")]
            await send(message)

        await self.app(scope, receive, send_with_version)


def microversion(request: Request) -> Version:
    found = getattr(request.state, "microversion", MIN_VERSION)
    assert isinstance(found, Version)
    return found


async def _refuse(send: Send, text: str, status: int) -> None:
    body = json.dumps(cinder_fault(status, "", text)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
