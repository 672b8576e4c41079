"""Compute microversions: read what the client asks for, answer with what was served.

Clients send ``OpenStack-API-Version: compute X.Y`` or ``X-OpenStack-Nova-API-Version: X.Y``
(``latest`` means our maximum); no header means 2.1. A version outside [MIN, MAX] is 406.
Handlers read the negotiated version from ``request.state.microversion`` (a ``Version``).
"""

from __future__ import annotations

from typing import NamedTuple

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from twinstack.api.compute.faults import nova_fault


class Version(NamedTuple):
    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    @classmethod
    def parse(cls, text: str) -> Version:
        major, minor = text.strip().split(".")
        return cls(int(major), int(minor))


MIN_VERSION = Version(2, 1)
MAX_VERSION = Version(2, 79)
"""The newest microversion whose request and response shapes this API really implements."""


def requested(headers: dict[str, str]) -> str | None:
    value = headers.get("openstack-api-version")
    if value:
        for part in value.split(","):
            service, _, version = part.strip().partition(" ")
            if service.lower() == "compute":
                return version.strip()
    return headers.get("x-openstack-nova-api-version")


class MicroversionMiddleware:
    documented_faults = frozenset({400, 404, 406})
    """Faults any route may answer under it (see api.openapi_doc): 400 for a malformed version, 406 for one
    out of range, 404 for a route newer than the version asked."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
        asked = requested(headers)
        try:
            if asked is None:
                version = MIN_VERSION
            elif asked.strip() == "latest":
                version = MAX_VERSION
            else:
                version = Version.parse(asked)
        except ValueError:
            await _refuse(send, f"Invalid API version request string: {asked}", 400)
            return
        if not MIN_VERSION <= version <= MAX_VERSION:
            await _refuse(send, f"Version {version} is not supported by the API. Minimum is {MIN_VERSION} and "
                                f"maximum is {MAX_VERSION}.", 406)
            return
        scope.setdefault("state", {})["microversion"] = version

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(b"openstack-api-version", f"compute {version}".encode()),
                         (b"x-openstack-nova-api-version", str(version).encode()),
                         (b"vary", b"OpenStack-API-Version, X-OpenStack-Nova-API-Version")]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_version)


async def _refuse(send: Send, text: str, status: int) -> None:
    import json

    body = json.dumps(nova_fault(status, "", text)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
