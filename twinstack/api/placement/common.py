"""What every Placement router shares: the negotiated version, version gates, policy, JSON bodies."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel, ConfigDict, ValidationError

from twinstack.api.deps import Caller, CallerDep
from twinstack.api.openapi_doc import reads_json_body
from twinstack.api.placement.faults import PlacementFault
from twinstack.api.placement.microversion import Version, version_of
from twinstack.core.errors import BadRequest

VersionDep = Annotated[Version, Depends(version_of)]
M = TypeVar("M", bound=BaseModel)

RESOURCE_CLASS_PATTERN = r"^[A-Z0-9_]+$"
UUID_PATTERN = r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"


class Body(BaseModel):
    """A request body: unknown properties are refused, as Placement's JSON schemas refuse them."""

    model_config = ConfigDict(extra="forbid", strict=True)


def since(minor: int, status: int = 404) -> Callable[[Request], None]:
    """A dependency refusing requests older than 1.<minor> (404, or 405 where Placement says so)."""

    def gate(request: Request) -> None:
        if not version_of(request).at_least(minor):
            if status == 405:
                raise PlacementFault(405, f"The method {request.method} is not allowed for this resource.")
            raise PlacementFault(404, "The resource could not be found.")

    return gate


def allowed(action: str) -> Callable[[Caller], Caller]:
    """A dependency: the caller, once policy allows it ``action``."""

    def check(caller: CallerDep) -> Caller:
        caller.enforce(action)
        return caller

    return check


@reads_json_body
async def json_body(request: Request, _caller: CallerDep) -> Any:
    """The request's JSON document; 415 unless it is sent as application/json, 400 if malformed;
    read once the token is checked, so an anonymous request is 401 whatever its body."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise PlacementFault(415, f"The media type {content_type or 'None'} is not supported, use application/json")
    raw = await request.body()
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise BadRequest(f"Malformed JSON: {exc}") from None


JsonBody = Annotated[Any, Depends(json_body)]


def parse(model: type[M], data: Any) -> M:
    """``data`` checked against ``model``; 400 'JSON does not validate' otherwise."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise BadRequest(f"JSON does not validate: {where}: {first.get('msg')}" if where
                         else f"JSON does not validate: {first.get('msg')}") from None


def root_path(request: Request) -> str:
    """The path the placement app is mounted at ('/placement'), for relative links as Placement gives."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def base_url(request: Request) -> str:
    url: str = request.app.state.base_url
    return url
