"""Self links and list envelopes as Keystone shapes them."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request

from twinstack.api.identity.inexact_filters import apply_inexact, parse_inexact
from twinstack.core.errors import BadRequest


def v3_url(request: Request, path: str) -> str:
    return f"{request.app.state.base_url}/v3/{path.lstrip('/')}"


def with_links(request: Request, collection: str, entity: dict[str, Any]) -> dict[str, Any]:
    entity["links"] = {"self": v3_url(request, f"{collection}/{entity['id']}")}
    return entity


def list_links(request: Request) -> dict[str, Any]:
    return {"self": str(request.url), "previous": None, "next": None}


def page_size(request: Request, list_limit: int | None) -> int | None:
    """The size of the page a list answers: the client's ``?limit=`` (capped at ``max_db_limit``), else the
    configured list limit; None for the whole list. A limit that is not a whole number is 400."""
    asked = request.query_params.get("limit")
    cap: int = request.app.state.cloud.settings.identity.max_db_limit
    if asked is None or asked == "":
        return list_limit
    try:
        limit = int(asked)
    except ValueError:
        raise BadRequest(f"Invalid input for field 'limit': '{asked}' is not an integer.") from None
    if limit < 0:
        raise BadRequest(f"Invalid input for field 'limit': {limit} is less than the minimum of 0.")
    if limit == 0:
        return list_limit
    return min(limit, cap)


def envelope(request: Request, key: str, items: list[dict[str, Any]], limit: int | None = None) -> dict[str, Any]:
    """A Keystone list body: inexact filters (``name__icontains=...``) applied, then one page of it.

    Pagination is Keystone's (2025.1): a page holds ``?limit=`` entities (at most the configured
    ``max_db_limit``; without a limit, the configured list limit ``limit``, if any) with ids after
    ``?marker=``, in id order, and ``links.next`` names the next page while entities remain (the
    page is then also marked ``truncated``). Neither asked nor configured, the whole list answers as
    it is ordered.
    """
    filters = parse_inexact(request.query_params.multi_items())
    if filters:
        items = apply_inexact(items, filters)
    size = page_size(request, limit)
    marker = request.query_params.get("marker")
    body: dict[str, Any] = {key: items, "links": list_links(request)}
    if size is None and not marker:
        return body
    items = sorted(items, key=lambda entity: str(entity["id"]))
    if marker:
        items = [entity for entity in items if str(entity["id"]) > marker]
    body[key] = items if size is None else items[:size]
    if size is not None and len(items) > size:
        body["truncated"] = True
        body["links"]["next"] = next_page(request, str(items[size - 1]["id"]), size)
    return body


def next_page(request: Request, marker: str, size: int) -> str:
    """This list's URL asking for the page after ``marker``, ``size`` entities long, its other parameters kept."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in ("limit", "marker")]
    return str(request.url.replace(query=urlencode([*kept, ("limit", str(size)), ("marker", marker)])))
