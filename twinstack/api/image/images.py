"""Image API (Glance v2): list, show, create, update (JSON-patch), delete, deactivate/reactivate, tags.

Lists page with ``limit``/``marker`` and give the next page as Glance does (a relative ``next``
link); filters are Glance's (``id=in:a,b``, name, status, visibility, owner, member_status, tag,
formats, size_min/max, protected, os_hidden, created_at/updated_at time comparisons such as
``gte:2016-04-18T21:38:54Z``, and any extra property by name).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from twinstack.api.deps import CallerDep
from twinstack.api.image.context import ImageConfigDep, JsonBody
from twinstack.api.image.render import render_image
from twinstack.api.openapi_doc import faults
from twinstack.api.timefmt import parse_iso
from twinstack.core.clock import utcnow
from twinstack.core.errors import BadRequest, CloudError
from twinstack.core.image import data, images, writes
from twinstack.core.image.context import ImageConfig
from twinstack.core.image.patch import MEDIA_TYPE, parse_patch

router = APIRouter()

DEFAULT_LIMIT = 25
MAX_LIMIT = 1000
PAGING = frozenset({"limit", "marker", "sort", "sort_key", "sort_dir"})
FILTERS = frozenset({"visibility", "owner", "member_status", "tag", "protected", "os_hidden", "size_min",
                     "size_max", "created_at", "updated_at", *images.IN_FILTERS})
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


def _times(request: Request) -> tuple[tuple[str, str, dt.datetime], ...]:
    """Glance's time comparison filters, e.g. ``created_at=gte:2016-04-18T21:38:54Z``; a bad one is 400."""
    found = []
    for name in images.TIME_FILTERS:
        for value in request.query_params.getlist(name):
            operator, colon, moment = value.partition(":")
            if not colon or operator not in images.TIME_OPERATORS:
                operator, moment = "eq", value
            try:
                found.append((name, operator, parse_iso(moment)))
            except ValueError:
                raise BadRequest(f"Unable to filter on a range with a nonsensical value: {value}") from None
    return tuple(found)


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
        times=_times(request),
        sort=_sort(request),
        marker=params.get("marker"),
        limit=limit,
    )


class UnsupportedMediaType(CloudError):
    status = 415
    title = "Unsupported Media Type"


@router.get("/v2/images")
def list_images(request: Request, caller: CallerDep, config: ImageConfigDep) -> dict[str, Any]:
    caller.enforce("image:get_images")
    query = image_query(request)
    with caller.cloud.sessions() as session:
        hidden = [k for k in query.properties if not config.protections.allows(k, "read", caller.creds.roles)]
        rows = [] if hidden else images.list_images(session, caller.creds, query)
        body: dict[str, Any] = {"images": [render_image(r, config, caller.creds) for r in rows]}
    if rows and len(rows) == query.limit:
        params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("marker", "limit")]
        params += [("marker", rows[-1].id), ("limit", str(query.limit))]
        body["next"] = f"/v2/images?{urlencode(params)}"
    body |= {"first": "/v2/images", "schema": "/v2/schemas/images"}
    return body


@router.get("/v2/images/{image_id}")
def show_image(image_id: str, caller: CallerDep, config: ImageConfigDep) -> dict[str, Any]:
    caller.enforce("image:get_image")
    with caller.cloud.sessions() as session:
        return render_image(images.get_image(session, caller.creds, image_id), config, caller.creds)


def discovery_headers(config: ImageConfig) -> dict[str, str]:
    """What Glance tells a client creating an image: how it may import data, and where it may go."""
    return {"OpenStack-image-import-methods": ",".join(config.settings.import_methods),
            "OpenStack-image-store-ids": ",".join(config.stores.stores)}


@router.post("/v2/images", status_code=201)
def create_image(body: JsonBody, caller: CallerDep, config: ImageConfigDep) -> JSONResponse:
    caller.enforce("image:add_image")
    if not isinstance(body, dict):
        raise BadRequest("Image create body must be a JSON object.")
    with caller.cloud.transaction() as session:
        row = writes.create_image(session, config, caller.creds, body, utcnow(caller.cloud.clock))
        rendered = render_image(row, config, caller.creds)
    headers = {"Location": f"/v2/images/{rendered['id']}", **discovery_headers(config)}
    return JSONResponse(rendered, status_code=201, headers=headers)


@router.patch("/v2/images/{image_id}", responses=faults(415))
def update_image(image_id: str, request: Request, body: JsonBody, caller: CallerDep,
                 config: ImageConfigDep) -> dict[str, Any]:
    caller.enforce("image:modify_image")
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != MEDIA_TYPE:
        raise UnsupportedMediaType(f"Unsupported Content-Type: use {MEDIA_TYPE}")
    changes = parse_patch(body)
    with caller.cloud.transaction() as session:
        row = writes.update_image(session, config, caller.creds, image_id, changes, utcnow(caller.cloud.clock))
        return render_image(row, config, caller.creds)


@router.delete("/v2/images/{image_id}", status_code=204)
def delete_image(image_id: str, caller: CallerDep, config: ImageConfigDep) -> Response:
    caller.enforce("image:delete_image")
    with caller.cloud.transaction() as session:
        urls = writes.delete_image(session, caller.creds, image_id, utcnow(caller.cloud.clock))
    data.drop_data(config, urls)
    config.stores.staged(image_id).unlink(missing_ok=True)
    return Response(status_code=204)


@router.post("/v2/images/{image_id}/actions/deactivate", status_code=204)
def deactivate_image(image_id: str, caller: CallerDep) -> Response:
    caller.enforce("image:deactivate")
    with caller.cloud.transaction() as session:
        writes.deactivate(session, caller.creds, image_id, utcnow(caller.cloud.clock))
    return Response(status_code=204)


@router.post("/v2/images/{image_id}/actions/reactivate", status_code=204)
def reactivate_image(image_id: str, caller: CallerDep) -> Response:
    caller.enforce("image:reactivate")
    with caller.cloud.transaction() as session:
        writes.reactivate(session, caller.creds, image_id, utcnow(caller.cloud.clock))
    return Response(status_code=204)


@router.put("/v2/images/{image_id}/tags/{tag}", status_code=204)
def add_tag(image_id: str, tag: str, caller: CallerDep) -> Response:
    caller.enforce("image:modify_image")
    with caller.cloud.transaction() as session:
        writes.add_tag(session, caller.creds, image_id, tag, utcnow(caller.cloud.clock))
    return Response(status_code=204)


@router.delete("/v2/images/{image_id}/tags/{tag}", status_code=204)
def delete_tag(image_id: str, tag: str, caller: CallerDep) -> Response:
    caller.enforce("image:modify_image")
    with caller.cloud.transaction() as session:
        writes.delete_tag(session, caller.creds, image_id, tag, utcnow(caller.cloud.clock))
    return Response(status_code=204)
