"""Neutron's list and show query parameters, applied to rendered resources.

Filters are any attribute of the resource (``?name=a&name=b`` means either), ``fixed_ips`` with
``ip_address=``/``subnet_id=`` sub-filters, and the tag filters (``tags``, ``tags-any``,
``not-tags``, ``not-tags-any``, comma-separated). ``sort_key``/``sort_dir`` may repeat;
``changed_since`` keeps what was updated since then (standard-attr-timestamp);
``limit``/``marker``/``page_reverse`` page, and the answer then carries ``<collection>_links``
with ``next`` and ``previous`` hrefs as Neutron's; ``fields`` keeps only the named attributes.
Unknown filters are ignored, as Neutron does without its filter-validation extension.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from sqlalchemy import ColumnElement

from twinstack.core.errors import BadRequest, NotFound
from twinstack.core.network.errors import InvalidInput

PAGING = frozenset({"fields", "sort_key", "sort_dir", "limit", "marker", "page_reverse"})
TAG_FILTERS = frozenset({"tags", "tags-any", "not-tags", "not-tags-any"})


def _matches(value: Any, wanted: str) -> bool:
    if isinstance(value, bool):
        return wanted.strip().lower() in (("true", "1") if value else ("false", "0"))
    if value is None:
        return wanted in ("", "None", "null")
    if isinstance(value, int):
        try:
            return value == int(wanted)
        except ValueError:
            return False
    if isinstance(value, list):
        return wanted in [str(v) for v in value]
    return str(value) == wanted


def _fixed_ip_matches(fixed_ips: list[dict[str, Any]], wanted: str) -> bool:
    key, _, value = wanted.partition("=")
    if key == "ip_address_substr":
        return any(value in ip["ip_address"] for ip in fixed_ips)
    return any(str(ip.get(key)) == value for ip in fixed_ips)


def _tags(item: dict[str, Any], filters: dict[str, list[str]]) -> bool:
    have = set(item.get("tags") or [])

    def wanted(name: str) -> list[set[str]]:
        return [set(v.split(",")) for v in filters.get(name, [])]

    return (all(w <= have for w in wanted("tags")) and all(w & have for w in wanted("tags-any"))
            and not any(w <= have for w in wanted("not-tags")) and not any(w & have for w in wanted("not-tags-any")))


def _changed_since(filters: dict[str, list[str]]) -> str | None:
    """``changed_since`` (standard-attr-timestamp): the moment, spelled as the resources' ``updated_at`` are, so
    the two compare as strings; Neutron's InvalidInput when it is not ``YYYY-MM-DDTHH:MM:SS``."""
    values = filters.pop("changed_since", None)
    if not values:
        return None
    try:
        moment = dt.datetime.strptime(values[0].removesuffix("Z"), "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        raise InvalidInput("The input changed_since must be in the following format: YYYY-MM-DDTHH:MM:SS") from None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def filter_items(request: Request, items: list[dict[str, Any]], timestamps: bool = True) -> list[dict[str, Any]]:
    filters: dict[str, list[str]] = defaultdict(list)
    for key, value in request.query_params.multi_items():
        if key not in PAGING:
            filters[key].append(value)
    since = _changed_since(filters) if timestamps else None
    kept = []
    for item in items:
        if not _tags(item, filters):
            continue
        if since is not None and str(item.get("updated_at", "")) < since:
            continue
        ok = True
        for key, values in filters.items():
            if key in TAG_FILTERS or key not in item:
                continue
            if key == "fixed_ips":
                ok = all(_fixed_ip_matches(item["fixed_ips"], v) for v in values)
            else:
                ok = any(_matches(item[key], v) for v in values)
            if not ok:
                break
        if ok:
            kept.append(item)
    return kept


def sql_filters(request: Request, columns: Mapping[str, Any]) -> list[ColumnElement[bool]]:
    """The equality filters the database can apply (string columns named in ``columns``), so a list of
    thousands of ports by ``device_id`` or ``network_id`` reads only the rows it shows. The same filters
    run again over the rendered items, so this only ever narrows what is read."""
    clauses: list[ColumnElement[bool]] = []
    for key, column in columns.items():
        values = request.query_params.getlist(key)
        if values:
            clauses.append(column.in_(values))
    return clauses


def _sort_value(value: Any) -> tuple[int, Any]:
    if value is None:
        return 0, ""
    if isinstance(value, bool | int):
        return 1, int(value)
    return 2, str(value)


def sort_items(request: Request, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    params = request.query_params
    keys = params.getlist("sort_key")
    dirs = params.getlist("sort_dir")
    if not keys:
        return items
    if dirs and len(dirs) != len(keys):
        raise BadRequest("The number of sort_keys and sort_dirs must be same")
    for direction in dirs:
        if direction not in ("asc", "desc"):
            raise BadRequest(f"{direction} is invalid value for sort_dirs, valid value is 'asc' and 'desc'")
    known = set(items[0]) if items else set(keys)
    for key in keys:
        if key not in known:
            raise BadRequest(f"{key} is an invalid attribute for sort_keys")
    ordered = list(items)
    pairs = list(zip(keys, dirs or ["asc"] * len(keys), strict=False))
    for key, direction in reversed([*pairs, ("id", pairs[-1][1])]):
        ordered.sort(key=lambda item, k=key: _sort_value(item.get(k)), reverse=direction == "desc")  # type: ignore[misc]
    return ordered


def select_fields(request: Request, item: dict[str, Any]) -> dict[str, Any]:
    fields = [f for f in request.query_params.getlist("fields") if f]
    if not fields:
        return item
    return {k: v for k, v in item.items() if k in fields}


def respond(request: Request, collection: str, items: list[dict[str, Any]], path: str | None = None,
            timestamps: bool = True) -> dict[str, Any]:
    """The list answer: filtered, sorted, paged (with links to ``path``, by default Neutron's
    ``/v2.0/<collection>``) and trimmed to ``fields``; ``timestamps``: ``changed_since`` applies (Neutron's
    standard-attr-timestamp; Octavia has none)."""
    params = request.query_params
    items = sort_items(request, filter_items(request, items, timestamps))
    links: list[dict[str, str]] = []
    limit_text = params.get("limit")
    if limit_text is not None:
        try:
            limit = int(limit_text)
        except ValueError:
            raise BadRequest(f"Invalid input for limit. Reason: '{limit_text}' is not an integer.") from None
        if limit < 0:
            raise BadRequest(f"Limit must be an integer 0 or greater and not '{limit}'")
        reverse = params.get("page_reverse", "false").lower() == "true"
        marker = params.get("marker")
        start, end = 0, len(items)
        if marker is not None:
            index = next((n for n, item in enumerate(items) if item.get("id") == marker), None)
            if index is None:
                raise NotFound(f"Marker {marker} could not be found.")
            if reverse:
                end = index
            else:
                start = index + 1
        if limit:
            if reverse:
                start = max(start, end - limit)
            else:
                end = min(end, start + limit)
        page = items[start:end]
        base = f"{request.app.state.base_url}{path or f'/v2.0/{collection}'}"
        others = [(k, v) for k, v in params.multi_items() if k not in ("marker", "page_reverse")]
        if page and limit and ((end < len(items)) if not reverse else True):
            links.append({"rel": "next", "href": f"{base}?{urlencode([*others, ('marker', page[-1]['id'])])}"})
        if page and (marker is not None or reverse) and (start > 0 or not reverse):
            query = urlencode([*others, ("marker", page[0]["id"]), ("page_reverse", "True")])
            links.append({"rel": "previous", "href": f"{base}?{query}"})
        items = page
    body: dict[str, Any] = {collection: [select_fields(request, item) for item in items]}
    if links:
        body[f"{collection}_links"] = links
    return body
