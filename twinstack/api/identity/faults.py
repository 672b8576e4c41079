"""Keystone's fault format: ``{"error": {"code": 404, "title": "Not Found", "message": "..."}}``."""

from __future__ import annotations


def keystone_fault(status: int, title: str, message: str) -> dict[str, object]:
    return {"error": {"code": status, "title": title, "message": message}}
