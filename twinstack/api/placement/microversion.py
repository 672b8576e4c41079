"""Placement microversions: ``OpenStack-API-Version: placement X.Y`` in, the same header and Vary out.

No header means 1.0; ``latest`` means the newest we implement. A malformed value answers 400, one
outside [MIN, MAX] answers 406 with ``min_version`` and ``max_version`` in the error (as
osc-placement's negotiation expects). From 1.15 on, successful GET, PUT and POST answers with a
body carry ``last-modified`` (the current time: we keep no modification times) and
``cache-control: no-cache``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from twinstack.core.clock import Clock

SERVICE = "placement"
HEADER = "openstack-api-version"
STATE_KEY = "placement_version"


@dataclass(frozen=True, order=True)
class Version:
    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> Version:
        match = re.fullmatch(r"\s*(\d+)\.(\d+)\s*", text)
        if not match:
            raise ValueError(text)
        return cls(int(match.group(1)), int(match.group(2)))

    def at_least(self, minor: int) -> bool:
        """True from 1.<minor> on (Placement has one major version)."""
        return self >= Version(1, minor)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


MIN_VERSION = Version(1, 0)
MAX_VERSION = Version(1, 39)


def requested_version(header: str | None) -> Version:
    """The version asked for by an ``OpenStack-API-Version`` header (ValueError if malformed)."""
    if not header:
        return MIN_VERSION
    for part in header.split(","):
        words = part.split()
        if len(words) == 2 and words[0].lower() == SERVICE:
            return MAX_VERSION if words[1].lower() == "latest" else Version.parse(words[1])
    return MIN_VERSION


def version_of(request: Request) -> Version:
    """The negotiated version of this request (set by :class:`MicroversionMiddleware`)."""
    version: Version = request.scope["state"][STATE_KEY]
    return version


class MicroversionMiddleware:
    """Negotiates the version of each request and stamps every answer with it."""

    documented_faults = frozenset({400, 404, 405, 406})
    """Faults any route may answer under it (see api.openapi_doc): 400 for a malformed version, 406 for one
    out of range, 404 (405) for a route (a method) newer than the version asked."""

    def __init__(self, app: ASGIApp, clock: Clock, fault: Any) -> None:
        self.app = app
        self.clock = clock
        self.fault = fault

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = None
        for key, value in scope.get("headers", []):
            if key.decode("latin-1").lower() == HEADER:
                header = value.decode("latin-1")
        try:
            version = requested_version(header)
        except ValueError:
            await self._refuse(scope, send, 400, f"invalid version string: {header}")
            return
        if not MIN_VERSION <= version <= MAX_VERSION:
            await self._refuse(scope, send, 406, f"Unacceptable version header: {version}", with_range=True)
            return
        scope.setdefault("state", {})[STATE_KEY] = version
        method = scope["method"]

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"openstack-api-version", f"{SERVICE} {version}".encode()),
                            (b"vary", HEADER.encode())]
                if (version.at_least(15) and message["status"] in (200, 201) and method in ("GET", "PUT", "POST")
                        and any(k.lower() == b"content-type" for k, _v in headers)):
                    headers += [(b"last-modified", formatdate(self.clock.now(), usegmt=True).encode()),
                                (b"cache-control", b"no-cache")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, stamped)

    async def _refuse(self, scope: Scope, send: Send, status: int, message: str, with_range: bool = False) -> None:
        body: dict[str, Any] = self.fault(scope, status, message, None)
        if with_range:
            body["errors"][0].update({"max_version": str(MAX_VERSION), "min_version": str(MIN_VERSION)})
        payload = json.dumps(body).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(payload)).encode()),
                                (b"openstack-api-version", f"{SERVICE} {MIN_VERSION}".encode()),
                                (b"vary", HEADER.encode())]})
        await send({"type": "http.response.body", "body": payload})
