"""Compute API (Nova v2.1): flavors (list, detail, show, create, update the description, delete)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field, StrictBool

from twinstack.api.compute.common import (
    Body,
    bookmark_link,
    json_body,
    limit_and_marker,
    next_link,
    parse,
    refuse_before,
    self_link,
    since,
    v,
)
from twinstack.api.compute.deps import MicroversionDep
from twinstack.api.compute.microversion import Version
from twinstack.api.deps import Caller, CallerDep
from twinstack.core.clock import utcnow
from twinstack.core.compute import flavors
from twinstack.core.errors import BadRequest
from twinstack.db.models.compute import FlavorRow

router = APIRouter(prefix="/v2.1")

MAX_INT = 2**31 - 1
ID_PATTERN = r"^(?! )[a-zA-Z0-9. _-]+(?<! )$"
NAME_PATTERN = r"^(?!\s)[^\x00-\x1f]*(?<!\s)$"
JsonDep = Annotated[Any, Depends(json_body)]


def links(request: Request, flavorid: str) -> list[dict[str, str]]:
    return [{"rel": "self", "href": self_link(request, f"flavors/{flavorid}")},
            {"rel": "bookmark", "href": bookmark_link(request, f"flavors/{flavorid}")}]


def render_flavor(request: Request, row: FlavorRow, version: Version, caller: Caller,
                  detail: bool = True) -> dict[str, Any]:
    """One flavor as Nova's view builder shapes it for the negotiated microversion."""
    body: dict[str, Any] = {"id": row.flavorid, "name": row.name}
    if detail:
        body |= {
            "ram": row.memory_mb,
            "disk": row.root_gb,
            "swap": row.swap if version >= v(75) else (row.swap or ""),
            "OS-FLV-EXT-DATA:ephemeral": row.ephemeral_gb,
            "OS-FLV-DISABLED:disabled": row.disabled,
            "vcpus": row.vcpus,
            "os-flavor-access:is_public": row.is_public,
            "rxtx_factor": row.rxtx_factor or "",
        }
    body["links"] = links(request, row.flavorid)
    if version >= v(55):
        body["description"] = row.description
    if detail and version >= v(61) and caller.allows("os_compute_api:os-flavor-extra-specs:index"):
        body["extra_specs"] = {k: str(val) for k, val in row.extra_specs.items()}
    return body


def _is_public(value: str | None, admin: bool) -> bool | None:
    """Nova's ``is_public`` parameter: absent means public; "none" means all (for an admin)."""
    if value is None or not admin:
        return True
    if value.strip().lower() == "none":
        return None
    lowered = value.strip().lower()
    if lowered in ("1", "t", "true", "on", "y", "yes"):
        return True
    if lowered in ("0", "f", "false", "off", "n", "no"):
        return False
    raise BadRequest(f"Invalid is_public filter [{value}]")


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"Invalid {name} filter [{raw}]") from None


def _query(request: Request, caller: Caller) -> tuple[flavors.FlavorQuery, int]:
    limit, marker = limit_and_marker(request)
    sort_key = request.query_params.get("sort_key") or "flavorid"
    sort_dir = request.query_params.get("sort_dir") or "asc"
    if sort_key not in flavors.SORT_COLUMNS and sort_key not in flavors.NOVA_ONLY_SORT_KEYS:
        raise BadRequest(f"Invalid input for query parameters sort_key. Value: {sort_key}.")
    if sort_dir not in ("asc", "desc"):
        raise BadRequest(f"Invalid input for query parameters sort_dir. Value: {sort_dir}.")
    query = flavors.FlavorQuery(
        is_public=_is_public(request.query_params.get("is_public"), caller.creds.is_admin),
        min_ram=_int_param(request, "minRam"), min_disk=_int_param(request, "minDisk"),
        sort_key=sort_key, sort_dir=sort_dir, limit=limit, marker=marker)
    return query, limit


def _list(request: Request, caller: Caller, version: Version, detail: bool) -> dict[str, Any]:
    caller.enforce("os_compute_api:flavors:index")
    query, limit = _query(request, caller)
    with caller.cloud.sessions() as session:
        rows = flavors.list_flavors(session, caller.creds, query)
        body: dict[str, Any] = {"flavors": [render_flavor(request, r, version, caller, detail) for r in rows]}
    if rows and len(rows) == limit:
        body["flavors_links"] = next_link(request, "flavors/detail" if detail else "flavors", rows[-1].flavorid)
    return body


@router.get("/flavors")
def list_flavors(request: Request, caller: CallerDep, version: MicroversionDep) -> dict[str, Any]:
    return _list(request, caller, version, detail=False)


@router.get("/flavors/detail")
def list_flavors_detail(request: Request, caller: CallerDep, version: MicroversionDep) -> dict[str, Any]:
    return _list(request, caller, version, detail=True)


@router.get("/flavors/{flavor_id}")
def show_flavor(flavor_id: str, request: Request, caller: CallerDep, version: MicroversionDep) -> dict[str, Any]:
    caller.enforce("os_compute_api:flavors:show")
    with caller.cloud.sessions() as session:
        row = flavors.get_flavor(session, caller.creds, flavor_id)
        return {"flavor": render_flavor(request, row, version, caller)}


class FlavorIn(Body):
    name: str = Field(min_length=1, max_length=255, pattern=NAME_PATTERN)
    id: str | None = Field(None, min_length=1, max_length=255, pattern=ID_PATTERN)
    ram: int = Field(ge=1, le=MAX_INT)
    vcpus: int = Field(ge=1, le=MAX_INT)
    disk: int = Field(ge=0, le=MAX_INT)
    ephemeral: int = Field(0, ge=0, le=MAX_INT, alias="OS-FLV-EXT-DATA:ephemeral")
    swap: int | str = Field(0, alias="swap")
    rxtx_factor: float = Field(1.0, gt=0, le=3.40282e38)
    is_public: StrictBool | str = Field(True, alias="os-flavor-access:is_public")
    description: str | None = Field(None, max_length=65535)


class FlavorBody(Body):
    flavor: FlavorIn


def _swap(value: int | str) -> int:
    if value == "":
        return 0
    try:
        swap = int(value)
    except ValueError:
        raise BadRequest(f"Invalid input for field/attribute swap. Value: {value}.") from None
    if not 0 <= swap <= MAX_INT:
        raise BadRequest(f"Invalid input for field/attribute swap. Value: {value}.")
    return swap


def _bool(value: bool | str, name: str) -> bool:
    if isinstance(value, bool):
        return value
    lowered = value.strip().lower()
    if lowered in ("1", "true", "on", "yes"):
        return True
    if lowered in ("0", "false", "off", "no"):
        return False
    raise BadRequest(f"Invalid input for field/attribute {name}. Value: {value}.")


@router.post("/flavors")
def create_flavor(request: Request, caller: CallerDep, version: MicroversionDep, data: JsonDep) -> dict[str, Any]:
    caller.enforce("os_compute_api:os-flavor-manage:create")
    asked = parse(FlavorBody, data).flavor
    refuse_before(request, v(55), "description" in asked.model_fields_set, "description")
    new = flavors.NewFlavor(
        name=asked.name, flavorid=asked.id, vcpus=asked.vcpus, ram=asked.ram, disk=asked.disk,
        ephemeral=asked.ephemeral, swap=_swap(asked.swap), rxtx_factor=asked.rxtx_factor,
        is_public=_bool(asked.is_public, "os-flavor-access:is_public"), description=asked.description,
    )
    cloud = caller.cloud
    with cloud.transaction() as session:
        row = flavors.create_flavor(session, new, utcnow(cloud.clock))
        return {"flavor": render_flavor(request, row, version, caller)}


class FlavorUpdateIn(Body):
    description: str | None = Field(max_length=65535)


class FlavorUpdateBody(Body):
    flavor: FlavorUpdateIn


@router.put("/flavors/{flavor_id}", dependencies=[Depends(since(v(55)))])
def update_flavor(flavor_id: str, request: Request, caller: CallerDep, version: MicroversionDep,
                  data: JsonDep) -> dict[str, Any]:
    caller.enforce("os_compute_api:os-flavor-manage:update")
    asked = parse(FlavorUpdateBody, data).flavor
    with caller.cloud.transaction() as session:
        row = flavors.describe_flavor(session, caller.creds, flavor_id, asked.description)
        return {"flavor": render_flavor(request, row, version, caller)}


@router.delete("/flavors/{flavor_id}", status_code=202)
def delete_flavor(flavor_id: str, caller: CallerDep) -> Response:
    caller.enforce("os_compute_api:os-flavor-manage:delete")
    with caller.cloud.transaction() as session:
        flavors.delete_flavor(session, caller.creds, flavor_id)
    return Response(status_code=202)
