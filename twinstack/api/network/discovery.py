"""Networking version discovery: the root lists v2.0; ``/v2.0/`` lists the collections it serves."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

router = APIRouter()

COLLECTIONS = (("network", "networks"), ("subnet", "subnets"), ("port", "ports"), ("subnetpool", "subnetpools"),
               ("router", "routers"), ("floatingip", "floatingips"), ("security_group", "security_groups"),
               ("security_group_rule", "security_group_rules"), ("quota", "quotas"))


@router.get("/", include_in_schema=False)
def versions(request: Request) -> dict[str, Any]:
    href = f"{request.app.state.base_url}/v2.0/"
    return {"versions": [{"id": "v2.0", "status": "CURRENT", "links": [{"href": href, "rel": "self"}]}]}


@router.get("/v2.0", include_in_schema=False)
@router.get("/v2.0/", include_in_schema=False)
def resources(request: Request) -> dict[str, Any]:
    base = f"{request.app.state.base_url}/v2.0"
    return {"resources": [{"name": name, "collection": collection,
                           "links": [{"href": f"{base}/{collection}", "rel": "self"}]}
                          for name, collection in COLLECTIONS]}
