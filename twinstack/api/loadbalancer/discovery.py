"""Octavia version discovery: the root lists v2.0 (supported) up to v2.27 (current), all at ``/v2``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

router = APIRouter()

CURRENT = "v2.27"


@router.get("/", include_in_schema=False)
def versions(request: Request) -> dict[str, Any]:
    href = f"{request.app.state.base_url}/v2"
    return {"versions": [
        {"id": version, "status": "CURRENT" if version == CURRENT else "SUPPORTED", "updated": "2023-05-08T00:00:00Z",
         "links": [{"href": href, "rel": "self"}]} for version in ("v2.0", CURRENT)]}
