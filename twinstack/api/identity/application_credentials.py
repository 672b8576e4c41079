"""Identity API: application_credentials."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
