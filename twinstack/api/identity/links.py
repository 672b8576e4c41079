"""Self links and list envelopes as Keystone shapes them."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from twinstack.api.identity.inexact_filters import apply_inexact, parse_inexact


def v3_url(request: Request, path: str) -> str:
    return f"{request.app.state.base_url}/v3/{path.lstrip('/')}"


def with_links(request: Request, collection: str, entity: dict[str, Any]) -> dict[str, Any]:
    entity["links"] = {"self": v3_url(request, f"{collection}/{entity['id']}")}
    return entity


def list_links(request: Request) -> dict[str, Any]:
    return {"self": str(request.url), "previous": None, "next": None}


def envelope(request: Request, key: str, items: list[dict[str, Any]], limit: int | None = None) -> dict[str, Any]:
    """A Keystone list body: inexact filters (``name__icontains=...``) applied, then the configured list
    limit, past which it is cut and marked ``truncated``."""
    filters = parse_inexact(request.query_params.multi_items())
    if filters:
        items = apply_inexact(items, filters)
    body: dict[str, Any] = {key: items, "links": list_links(request)}
    if limit is not None and len(items) > limit:
        body[key] = items[:limit]
        body["truncated"] = True
    return body
