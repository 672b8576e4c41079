"""One log line per request: request id, user, project, method, path, status, duration.

A plain ASGI middleware on the outer application, so every service is logged alike. Each
request gets an OpenStack request id (``x-openstack-request-id: req-<uuid>``); the services'
auth dependency records who called through :func:`note_caller`.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import MutableMapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOG = logging.getLogger("twinstack.api.requests")
CALLER_KEY = "twinstack.caller"


def note_caller(scope: MutableMapping[str, Any], user_id: str, project_id: str | None) -> None:
    caller = scope.get(CALLER_KEY)
    if isinstance(caller, dict):
        caller["user"] = user_id
        caller["project"] = project_id


class RequestLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = f"req-{uuid.uuid4()}"
        caller: dict[str, str | None] = {"user": None, "project": None}
        scope[CALLER_KEY] = caller
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        method, path = scope["method"], scope["path"]

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-openstack-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            LOG.info(
                "%s user=%s project=%s %s %s status=%d duration_ms=%.1f",
                request_id,
                caller["user"] or "-",
                caller["project"] or "-",
                method,
                path,
                status,
                (time.perf_counter() - started) * 1000,
            )
