"""Compute API (Nova v2.1): a flavor's extra specs (``/flavors/{id}/os-extra_specs``)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from twinstack.api.compute.common import json_body
from twinstack.api.deps import CallerDep
from twinstack.core.compute import flavors
from twinstack.core.errors import BadRequest

router = APIRouter(prefix="/v2.1")

KEY = re.compile(r"^[a-zA-Z0-9-_:. ]{1,255}$")
JsonDep = Annotated[Any, Depends(json_body)]
POLICY = "os_compute_api:os-flavor-extra-specs:"


def _specs(items: Any) -> dict[str, str]:
    """Extra specs from a body: keys as Nova allows them, values strings (numbers and booleans become text)."""
    if not isinstance(items, dict):
        raise BadRequest("Invalid input for field/attribute extra_specs. Value must be an object.")
    specs: dict[str, str] = {}
    for key, value in items.items():
        if not isinstance(key, str) or not KEY.match(key):
            raise BadRequest(f"Invalid input for field/attribute extra_specs. Key {key!r} is not valid.")
        if not isinstance(value, str | int | float | bool):
            raise BadRequest(f"Invalid input for field/attribute {key}. Value must be a string, number or "
                             "boolean.")
        text = str(value)
        if len(text) > 255:
            raise BadRequest(f"Invalid input for field/attribute {key}. Value is longer than 255 characters.")
        specs[key] = text
    return specs


@router.get("/flavors/{flavor_id}/os-extra_specs")
def list_extra_specs(flavor_id: str, caller: CallerDep) -> dict[str, Any]:
    caller.enforce(POLICY + "index")
    with caller.cloud.sessions() as session:
        row = flavors.get_flavor(session, caller.creds, flavor_id)
        return {"extra_specs": {k: str(val) for k, val in row.extra_specs.items()}}


@router.post("/flavors/{flavor_id}/os-extra_specs")
def create_extra_specs(flavor_id: str, caller: CallerDep, data: JsonDep) -> dict[str, Any]:
    caller.enforce(POLICY + "create")
    if not isinstance(data, dict) or set(data) != {"extra_specs"}:
        raise BadRequest("Invalid input for field/attribute extra_specs. 'extra_specs' is a required property")
    specs = _specs(data["extra_specs"])
    with caller.cloud.transaction() as session:
        return {"extra_specs": flavors.set_extra_specs(session, caller.creds, flavor_id, specs)}


@router.get("/flavors/{flavor_id}/os-extra_specs/{key}")
def show_extra_spec(flavor_id: str, key: str, caller: CallerDep) -> dict[str, Any]:
    caller.enforce(POLICY + "show")
    with caller.cloud.sessions() as session:
        return {key: flavors.extra_spec(session, caller.creds, flavor_id, key)}


@router.put("/flavors/{flavor_id}/os-extra_specs/{key}")
def update_extra_spec(flavor_id: str, key: str, caller: CallerDep, data: JsonDep) -> dict[str, Any]:
    caller.enforce(POLICY + "update")
    specs = _specs(data)
    if key not in specs:
        raise BadRequest("Request body and URI mismatch")
    if len(specs) > 1:
        raise BadRequest("Request body contains too many items")
    with caller.cloud.transaction() as session:
        return flavors.set_extra_specs(session, caller.creds, flavor_id, specs)


@router.delete("/flavors/{flavor_id}/os-extra_specs/{key}", status_code=202)
def delete_extra_spec(flavor_id: str, key: str, caller: CallerDep) -> Response:
    caller.enforce(POLICY + "delete")
    with caller.cloud.transaction() as session:
        flavors.delete_extra_spec(session, caller.creds, flavor_id, key)
    return Response(status_code=202)
