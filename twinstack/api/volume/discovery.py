"""Block storage version discovery: the root and ``/v3/`` both list v3.0 with its microversion range."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from twinstack.api.volume.microversion import MAX_VERSION, MIN_VERSION

router = APIRouter()
UPDATED = "2023-05-01T00:00:00Z"


def version_entry(base_url: str) -> dict[str, Any]:
    return {"id": "v3.0", "status": "CURRENT", "version": str(MAX_VERSION), "min_version": str(MIN_VERSION),
            "updated": UPDATED, "links": [{"rel": "self", "href": f"{base_url}/v3/"},
                                          {"rel": "describedby", "type": "text/html",
                                           "href": "https://docs.openstack.org/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.volume+json;version=3"}]}


@router.get("/", include_in_schema=False)
def root(request: Request) -> JSONResponse:
    """Cinder answers 300 Multiple Choices at the root."""
    return JSONResponse({"versions": [version_entry(request.app.state.base_url)]}, status_code=300)


@router.get("/v3", include_in_schema=False)
@router.get("/v3/", include_in_schema=False)
def v3(request: Request) -> dict[str, Any]:
    return {"versions": [version_entry(request.app.state.base_url)]}
