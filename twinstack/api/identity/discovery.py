"""Identity version discovery, shaped as keystoneauth reads it (v3 only, so no client picks v2.0)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter()

V3_ID = "v3.14"
V3_UPDATED = "2020-04-07T00:00:00Z"


def v3_version(base_url: str) -> dict[str, Any]:
    return {
        "id": V3_ID,
        "status": "stable",
        "updated": V3_UPDATED,
        "links": [{"rel": "self", "href": f"{base_url}/v3/"}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}],
    }


def identity_base_url(request: Request) -> str:
    base: str = request.app.state.base_url
    return base


@router.get("/", include_in_schema=False)
def versions(request: Request) -> JSONResponse:
    return JSONResponse({"versions": {"values": [v3_version(identity_base_url(request))]}}, status_code=300)


@router.get("/v3")
@router.get("/v3/", include_in_schema=False)
def version_v3(request: Request) -> dict[str, Any]:
    return {"version": v3_version(identity_base_url(request))}
