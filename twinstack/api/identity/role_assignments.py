"""Identity API: role_assignments."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
