"""Image version discovery at the service root, as Glance answers it (300 Multiple Choices)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter()

CURRENT_MINOR = 16


def versions(base_url: str) -> dict[str, Any]:
    """v2.16 (current) down to v2.0, each pointing at ``<base>/v2/``: keystoneauth picks the newest."""
    href = f"{base_url}/v2/"
    return {"versions": [
        {"id": f"v2.{minor}", "status": "CURRENT" if minor == CURRENT_MINOR else "SUPPORTED",
         "links": [{"rel": "self", "href": href}]}
        for minor in range(CURRENT_MINOR, -1, -1)
    ]}


@router.get("/", include_in_schema=False)
def root(request: Request) -> JSONResponse:
    return JSONResponse(versions(request.app.state.base_url), status_code=300)


@router.get("/versions", include_in_schema=False)
def list_versions(request: Request) -> dict[str, Any]:
    return versions(request.app.state.base_url)
