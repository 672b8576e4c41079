"""Placement's version document at its root (unauthenticated, as Placement answers it)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from twinstack.api.placement.microversion import MAX_VERSION, MIN_VERSION

router = APIRouter()


@router.get("/")
def versions() -> dict[str, Any]:
    return {"versions": [{
        "id": f"v{MIN_VERSION}",
        "max_version": str(MAX_VERSION),
        "min_version": str(MIN_VERSION),
        "status": "CURRENT",
        "links": [{"rel": "self", "href": ""}],
    }]}
