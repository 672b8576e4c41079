"""Servers of a cell whose database does not answer, from microversion 2.69: partial records with status UNKNOWN,
built from what the main database knows (the instance mappings), as Nova's API guide "Handling Down Cells" shapes
them. Below 2.69 such servers are left out of listings and a GET of one answers 503."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import Request

from twinstack.api.compute.common import nova_time, resource_links, v
from twinstack.api.compute.microversion import Version
from twinstack.api.compute.server_views import ServerView
from twinstack.core.compute.cell_mappings import InstanceMapping
from twinstack.core.compute.model import Instance
from twinstack.core.compute.stores import InstanceQuery
from twinstack.rpc.compute import FlavorSpec, ImageSpec

DOWN_CELL_SUPPORT = v(69)


def lists_down_cells(request: Request, version: Version, query: InstanceQuery) -> bool:
    """Whether a listing shows the servers of down cells: from 2.69, and only when it filters by nothing but the
    project (and live servers: ``deleted=False``, which ``openstack server list`` sends), is not sorted, limited
    nor paged, as Nova's guide says (nothing else can be checked against a mapping)."""
    if version < DOWN_CELL_SUPPORT or query.user_id is not None:
        return False
    params = request.query_params
    if any(k in params for k in ("limit", "marker", "sort_key", "sort_dir")):
        return False
    plain = InstanceQuery(project_id=query.project_id, limit=query.limit, sort=query.sort)
    return replace(query, sort=plain.sort, deleted=None if query.deleted is False else query.deleted) == plain


def summary(request: Request, mapping: InstanceMapping) -> dict[str, Any]:
    """GET /servers: id, status and links."""
    return {"id": mapping.instance_uuid, "status": "UNKNOWN",
            "links": resource_links(request, "servers", mapping.instance_uuid)}


def detail(request: Request, mapping: InstanceMapping) -> dict[str, Any]:
    """GET /servers/detail: id, status, tenant_id, created and links."""
    return {"id": mapping.instance_uuid, "status": "UNKNOWN", "tenant_id": mapping.project_id,
            "created": nova_time(mapping.created_at),
            "links": resource_links(request, "servers", mapping.instance_uuid)}


def show(view: ServerView, mapping: InstanceMapping) -> dict[str, Any]:
    """GET /servers/{id}: the listing's fields with what the server was asked for: user, image ("" when it boots
    from a volume), flavor, the zone asked for ("UNKNOWN" if none), power state 0, and its group from 2.71."""
    asked = Instance(uuid=mapping.instance_uuid, name="", project_id=mapping.project_id, user_id=mapping.user_id,
                     flavor=FlavorSpec.model_validate(mapping.flavor),
                     image=ImageSpec(id=mapping.image_id) if mapping.image_id else None,
                     created_at=mapping.created_at, updated_at=mapping.created_at,
                     server_group_id=mapping.server_group_id)
    body = detail(view.request, mapping)
    body |= {"user_id": mapping.user_id or "UNKNOWN", "image": view.image(asked), "flavor": view.flavor(asked),
             "OS-EXT-AZ:availability_zone": mapping.availability_zone or "UNKNOWN", "OS-EXT-STS:power_state": 0}
    if view.version >= v(71):
        body["server_groups"] = view.server_groups(asked)
    return body
