"""Compute API (Nova v2.1): server_groups."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v2.1")
