"""Placement API (1.2+): /resource_classes, the standard ones and the operator's CUSTOM_* ones."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import Field

from twinstack.api.deps import Caller, CallerDep, CloudDep
from twinstack.api.placement.common import (
    Body,
    JsonBody,
    VersionDep,
    allowed,
    base_url,
    json_body,
    parse,
    root_path,
    since,
)
from twinstack.api.placement.microversion import version_of
from twinstack.core.errors import NotFound
from twinstack.core.scheduler import placement_names as names

router = APIRouter(dependencies=[Depends(since(2))])


class ResourceClassBody(Body):
    name: Annotated[str, Field(min_length=1, max_length=255)]


def show_class(request: Request, name: str) -> dict[str, Any]:
    return {"name": name, "links": [{"rel": "self", "href": f"{root_path(request)}/resource_classes/{name}"}]}


@router.get("/resource_classes")
def list_resource_classes(
    request: Request, cloud: CloudDep,
    _caller: Annotated[Caller, Depends(allowed("placement:resource_classes:list"))],
) -> dict[str, Any]:
    with cloud.transaction() as session:
        classes = names.list_resource_classes(session)
    return {"resource_classes": [show_class(request, name) for name in classes]}


@router.post("/resource_classes")
def create_resource_class(
    request: Request, cloud: CloudDep, data: JsonBody,
    _caller: Annotated[Caller, Depends(allowed("placement:resource_classes:create"))],
) -> Response:
    body = parse(ResourceClassBody, data)
    with cloud.transaction() as session:
        if not names.create_resource_class(session, body.name):
            raise names.DuplicateName(f"Conflicting resource class already exists: {body.name}")
    return Response(status_code=201, headers={"Location": f"{base_url(request)}/resource_classes/{body.name}"})


@router.get("/resource_classes/{name}")
def show_resource_class(
    name: str, request: Request, cloud: CloudDep,
    _caller: Annotated[Caller, Depends(allowed("placement:resource_classes:show"))],
) -> dict[str, Any]:
    with cloud.transaction() as session:
        if not names.resource_class_exists(session, name):
            raise NotFound(f"No such resource class {name}.")
    return show_class(request, name)


async def rename_body(request: Request, caller: CallerDep) -> Any:
    """The body of a pre-1.7 PUT (a rename); later PUTs carry none."""
    return None if version_of(request).at_least(7) else await json_body(request, caller)


@router.put("/resource_classes/{name}")
def put_resource_class(
    name: str, request: Request, cloud: CloudDep, version: VersionDep,
    data: Annotated[Any, Depends(rename_body)],
    _caller: Annotated[Caller, Depends(allowed("placement:resource_classes:update"))],
) -> Response:
    """Before 1.7 a rename (body {"name": new}); from 1.7 a bodiless create-or-check (201 or 204)."""
    location = {"Location": f"{base_url(request)}/resource_classes/{name}"}
    if version.at_least(7):
        with cloud.transaction() as session:
            if names.resource_class_exists(session, name) and not names.is_custom(name):
                return Response(status_code=204, headers=location)
            created = names.create_resource_class(session, name)
        return Response(status_code=201 if created else 204, headers=location)
    body = parse(ResourceClassBody, data)
    with cloud.transaction() as session:
        names.rename_resource_class(session, name, body.name)
    return JSONResponse(show_class(request, body.name))


@router.delete("/resource_classes/{name}", status_code=204)
def delete_resource_class(
    name: str, cloud: CloudDep,
    _caller: Annotated[Caller, Depends(allowed("placement:resource_classes:delete"))],
) -> Response:
    with cloud.transaction() as session:
        names.delete_resource_class(session, name)
    return Response(status_code=204)
