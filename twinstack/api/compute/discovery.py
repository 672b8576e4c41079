"""Compute version discovery at the service root and at /v2.1, as openstacksdk reads it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from twinstack.api.compute.microversion import MAX_VERSION, MIN_VERSION

router = APIRouter()


def v21(base_url: str) -> dict[str, Any]:
    return {
        "id": "v2.1",
        "status": "CURRENT",
        "version": str(MAX_VERSION),
        "min_version": str(MIN_VERSION),
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": f"{base_url}/v2.1/"},
                  {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"}],
        "media-types": [{"base": "application/json",
                         "type": "application/vnd.openstack.compute+json;version=2.1"}],
    }


@router.get("/", include_in_schema=False)
def versions(request: Request) -> dict[str, Any]:
    return {"versions": [v21(request.app.state.base_url)]}


@router.get("/v2.1", include_in_schema=False)
@router.get("/v2.1/", include_in_schema=False)
def version(request: Request) -> dict[str, Any]:
    return {"version": v21(request.app.state.base_url)}
