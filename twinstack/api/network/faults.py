"""Neutron's fault format: ``{"NeutronError": {"type", "message", "detail"}}``.

``type`` names the fault (``NetworkNotFound``, ``IpAddressAlreadyAllocated``...): a domain error
from core carries it as its title. Generic errors (a malformed body, an unknown path, policy) get
the webob names Neutron answers them with (``HTTPBadRequest``, ``HTTPNotFound``, ``HTTPForbidden``).
"""

from __future__ import annotations

from twinstack.api.faults import TITLES

GENERIC_TYPES = {400: "HTTPBadRequest", 401: "HTTPUnauthorized", 403: "HTTPForbidden", 404: "HTTPNotFound",
                 405: "HTTPMethodNotAllowed", 409: "HTTPConflict", 413: "HTTPRequestEntityTooLarge",
                 415: "HTTPUnsupportedMediaType", 500: "HTTPInternalServerError", 501: "HTTPNotImplemented",
                 503: "HTTPServiceUnavailable"}


def neutron_fault(status: int, title: str, message: str) -> dict[str, object]:
    generic = title in TITLES.values() or " " in title
    fault_type = GENERIC_TYPES.get(status, "HTTPError") if generic else title
    return {"NeutronError": {"type": fault_type, "message": message, "detail": ""}}
