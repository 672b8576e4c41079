"""Compute API (Nova v2.1): quotas."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v2.1")
