"""Image API (Glance v2): list and show images; the create/upload side grows here with the image service.

Lists page with ``limit``/``marker`` and give the next page as Glance does (a relative ``next``
link); filters are Glance's (``id=in:a,b``, name, status, visibility, owner, member_status, tag,
formats, size_min/max, protected, os_hidden, and any extra property by name).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request

from twinstack.api.deps import CallerDep
from twinstack.core.errors import BadRequest
from twinstack.core.image import images
from twinstack.db.models.image import ImageRow

router = APIRouter()

DEFAULT_LIMIT = 25
MAX_LIMIT = 1000
PAGING = frozenset({"limit", "marker", "sort", "sort_key", "sort_dir"})
FILTERS = frozenset({"visibility", "owner", "member_status", "tag", "protected", "os_hidden", "size_min",
                     "size_max", "created_at", "updated_at", *images.IN_FILTERS})
CORE_FIELDS = ("id", "name", "status", "visibility", "owner", "disk_format", "container_format", "size",
               "virtual_size", "min_disk", "min_ram", "checksum", "os_hash_algo", "os_hash_value", "os_hidden",
               "protected", "tags")


def glance_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_image(row: ImageRow) -> dict[str, Any]:
    """Glance's image body: its attributes, its extra properties flattened beside them, and its links."""
    body: dict[str, Any] = {k: v for k, v in row.properties.items() if k not in CORE_FIELDS}
    body |= {name: getattr(row, name) for name in CORE_FIELDS}
    body["tags"] = list(row.tags)
    body |= {"created_at": glance_time(row.created_at), "updated_at": glance_time(row.updated_at),
             "self": f"/v2/images/{row.id}", "file": f"/v2/images/{row.id}/file", "schema": "/v2/schemas/image"}
    return body


def _boolean(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise BadRequest(f"Invalid value for {name}: {value}")


def _integer(value: str, name: str, minimum: int = 0) -> int:
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"{name} param must be an integer") from None
    if number < minimum:
        raise BadRequest(f"{name} param must be positive")
    return number


def _sort(request: Request) -> tuple[tuple[str, str], ...]:
    params = request.query_params
    pairs: list[tuple[str, str]] = []
    if "sort" in params:
        if "sort_key" in params or "sort_dir" in params:
            raise BadRequest("The 'sort' argument is not supported with 'sort_key' or 'sort_dir'.")
        for item in params["sort"].split(","):
            key, _, direction = item.strip().partition(":")
            pairs.append((key, direction or "desc"))
    else:
        dirs = params.getlist("sort_dir")
        for index, key in enumerate(params.getlist("sort_key")):
            pairs.append((key, dirs[index] if index < len(dirs) else (dirs[0] if dirs else "desc")))
    for key, direction in pairs:
        if key not in images.SORT_KEYS:
            raise BadRequest(f"Invalid sort key: {key}. It should be one of the following: "
                             f"{', '.join(images.SORT_KEYS)}.")
        if direction not in ("asc", "desc"):
            raise BadRequest(f"Invalid sort direction: {direction}")
    return tuple(pairs) or (("created_at", "desc"),)


def image_query(request: Request) -> images.ImageQuery:
    params = request.query_params
    in_filters: dict[str, tuple[str, ...]] = {}
    for name in images.IN_FILTERS:
        if name in params:
            value = params[name]
            in_filters[name] = tuple(v.strip() for v in value[3:].split(",")) if value.startswith("in:") else (value,)
    limit = min(MAX_LIMIT, _integer(params["limit"], "limit")) if "limit" in params else DEFAULT_LIMIT
    return images.ImageQuery(
        in_filters=in_filters,
        visibility=params.get("visibility"),
        owner=params.get("owner"),
        member_status=params.get("member_status", "accepted"),
        tags=tuple(params.getlist("tag")),
        protected=_boolean(params["protected"], "protected") if "protected" in params else None,
        os_hidden=_boolean(params["os_hidden"], "os_hidden") if "os_hidden" in params else False,
        size_min=_integer(params["size_min"], "size_min") if "size_min" in params else None,
        size_max=_integer(params["size_max"], "size_max") if "size_max" in params else None,
        properties={k: v for k, v in params.items() if k not in PAGING and k not in FILTERS},
        sort=_sort(request),
        marker=params.get("marker"),
        limit=limit,
    )


@router.get("/v2/images")
def list_images(request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("image:get_images")
    query = image_query(request)
    with caller.cloud.sessions() as session:
        rows = images.list_images(session, caller.creds, query)
        body: dict[str, Any] = {"images": [render_image(r) for r in rows]}
    if rows and len(rows) == query.limit:
        params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("marker", "limit")]
        params += [("marker", rows[-1].id), ("limit", str(query.limit))]
        body["next"] = f"/v2/images?{urlencode(params)}"
    body |= {"first": "/v2/images", "schema": "/v2/schemas/images"}
    return body


@router.get("/v2/images/{image_id}")
def show_image(image_id: str, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("image:get_image")
    with caller.cloud.sessions() as session:
        return render_image(images.get_image(session, caller.creds, image_id))
