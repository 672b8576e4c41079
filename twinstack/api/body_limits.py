"""Request bodies are refused before they cost memory: too large (413) or JSON nested too deep (400).

A plain ASGI middleware on the outer application wraps ``receive``: a request whose declared
``Content-Length`` is over the limit is refused at its first read, before one byte of the body is
taken; one sent without a length (chunked) is refused as soon as what arrived passes the limit. JSON
bodies are measured for depth as they arrive (a small scanner over brackets and strings), so a
10,000-deep document answers 400 instead of reaching ``json.loads`` and its RecursionError.

The refusal is raised as an HTTP error from the read itself, so the service that was reading answers
it in its own fault format (Nova's ``overLimit``, Keystone's ``error``, ``NeutronError``...). Routes
that stream an upload (image data) lift the limit to their own cap with :func:`lift_body_limit`
before reading; they are not JSON and are not scanned. A route that never reads its body is not
affected: the body stays unread.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SCOPE_KEY = "twinstack.body_limit"
STREAMED_TYPES = ("application/octet-stream",)
"""Media types of uploads that are streamed, not parsed: never scanned as JSON."""
_JSON_SPECIAL = re.compile(rb'[\[\]{}"\\]')


@dataclass
class BodyLimit:
    """How much of this request's body may be read, and how much has been."""

    max_bytes: int
    received: int = 0


class JsonDepthGauge:
    """The nesting depth of a JSON document fed in chunks; raises 400 past ``max_depth``.

    Only brackets outside strings count; a backslash in a string escapes the next byte, even across
    chunks. Malformed JSON is left to the parser that reads it after.
    """

    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth
        self.depth = 0
        self.in_string = False
        self.escape_next = False

    def feed(self, chunk: bytes) -> None:
        skip = 0 if self.escape_next else -1
        self.escape_next = False
        for match in _JSON_SPECIAL.finditer(chunk):
            at = match.start()
            if at == skip:
                continue
            char = chunk[at]
            if char == 0x22:  # "
                self.in_string = not self.in_string
            elif self.in_string:
                if char == 0x5C:  # backslash
                    skip = at + 1
                    self.escape_next = skip == len(chunk)
            elif char in (0x5B, 0x7B):  # [ {
                self.depth += 1
                if self.depth > self.max_depth:
                    raise HTTPException(400, f"The JSON body is nested more than {self.max_depth} levels deep.")
            elif char in (0x5D, 0x7D):  # ] }
                self.depth -= 1


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _media_type(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return str(value.decode("latin-1").split(";")[0].strip().lower())
    return ""


def too_large(limit: int) -> HTTPException:
    return HTTPException(413, f"Request is too large: the body may hold at most {limit} bytes.")


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int, max_json_depth: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = BodyLimit(self.max_bytes)
        scope[SCOPE_KEY] = limit
        declared = _declared_length(scope)
        gauge = None if _media_type(scope) in STREAMED_TYPES else JsonDepthGauge(self.max_json_depth)

        async def limited_receive() -> Message:
            if declared is not None and declared > limit.max_bytes:
                raise too_large(limit.max_bytes)
            message = await receive()
            if message["type"] == "http.request":
                chunk: bytes = message.get("body", b"")
                limit.received += len(chunk)
                if limit.received > limit.max_bytes:
                    raise too_large(limit.max_bytes)
                if gauge is not None:
                    gauge.feed(chunk)
            return message

        await self.app(scope, limited_receive, send)


def lift_body_limit(request: Request, max_bytes: int) -> None:
    """Let this request's body run to ``max_bytes`` (a streamed upload with its own cap); call before reading."""
    limit = request.scope.get(SCOPE_KEY)
    if isinstance(limit, BodyLimit):
        limit.max_bytes = max_bytes
