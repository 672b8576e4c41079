"""Cinder's fault format: the body's one key names the fault, e.g. ``{"itemNotFound": {"message", "code"}}``."""

from __future__ import annotations

FAULT_NAMES = {400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
               405: "badMethod", 406: "notAcceptable", 409: "conflictingRequest", 413: "overLimit",
               415: "badMediaType", 429: "overLimit", 500: "computeFault", 501: "notImplemented",
               503: "serviceUnavailable"}


def cinder_fault(status: int, title: str, message: str) -> dict[str, object]:
    return {FAULT_NAMES.get(status, "computeFault"): {"code": status, "message": message}}
