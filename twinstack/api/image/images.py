"""Image API (Glance v2): images."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
