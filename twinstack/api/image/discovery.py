"""Image API (Glance v2): discovery."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
