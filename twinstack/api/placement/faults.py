"""Placement's fault format (the API-WG errors guideline), and the mapping of domain errors to it.

``{"errors": [{"status": 409, "title": "Conflict", "detail": "<explanation>\\n\\n <message>  ",
"code": "placement.concurrent_update", "request_id": "req-..."}]}``; ``code`` from 1.23 on.
osc-placement shows the last line of ``detail``, so the message goes last, as webob puts it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from twinstack.api.faults import TITLES as BASE_TITLES
from twinstack.api.faults import describe_validation_error
from twinstack.api.openapi_doc import document_faults
from twinstack.api.placement.microversion import STATE_KEY, Version
from twinstack.core.errors import CloudError
from twinstack.core.scheduler.placement import (
    CannotDeleteParent,
    ConcurrentUpdate,
    InventoryInUse,
    ProviderInUse,
    ProviderNotFound,
)
from twinstack.core.scheduler.placement_names import DuplicateName

LOG = logging.getLogger(__name__)

DEFAULT_CODE = "placement.undefined_code"
CODES: dict[type[CloudError], str] = {
    ConcurrentUpdate: "placement.concurrent_update",
    InventoryInUse: "placement.inventory.inuse",
    ProviderInUse: "placement.resource_provider.inuse",
    CannotDeleteParent: "placement.resource_provider.cannot_delete_parent",
    DuplicateName: "placement.duplicate_name",
    ProviderNotFound: "placement.resource_provider.not_found",
}

TITLES = {**BASE_TITLES, 406: "Not Acceptable"}

EXPLANATIONS = {
    400: "The server could not comply with the request since it is either malformed or otherwise incorrect.",
    401: "This server could not verify that you are authorized to access the document you requested. Either you "
         "supplied the wrong credentials (e.g., bad password), or your browser does not understand how to supply "
         "the credentials required.",
    403: "Access was denied to this resource.",
    404: "The resource could not be found.",
    405: "The method specified is not allowed for this resource.",
    406: "The resource could not be generated that was acceptable to your browser.",
    409: "There was a conflict when trying to complete your request.",
    415: "The request media type is not supported by this server.",
    500: "The server has either erred or is incapable of performing the requested operation.",
}


class PlacementFault(CloudError):
    """An error whose status and code the API decides (query string problems, version gates)."""

    def __init__(self, status: int, message: str, code: str = DEFAULT_CODE) -> None:
        super().__init__(message)
        self.status = status
        self.title = TITLES.get(status, "Error")
        self.code = code


def code_of(exc: CloudError) -> str:
    if isinstance(exc, PlacementFault):
        return exc.code
    for kind, code in CODES.items():
        if isinstance(exc, kind):
            return code
    return DEFAULT_CODE


def fault_body(scope: Scope, status: int, message: str, code: str | None) -> dict[str, Any]:
    error: dict[str, Any] = {
        "status": status,
        "title": TITLES.get(status, "Error"),
        "detail": f"{EXPLANATIONS.get(status, TITLES.get(status, 'Error'))}\n\n {message}  ",
    }
    state = scope.get("state") or {}
    version = state.get(STATE_KEY)
    if isinstance(version, Version) and version.at_least(23):
        error["code"] = code or DEFAULT_CODE
    if "request_id" in state:
        error["request_id"] = state["request_id"]
    return {"errors": [error]}


def fault_schema(status: int) -> dict[str, Any]:
    """The JSON schema of Placement's fault body (``code`` from 1.23 on, ``request_id`` when one was given)."""
    error = {"type": "object", "required": ["status", "title", "detail"],
             "properties": {"status": {"const": status}, "title": {"type": "string"}, "detail": {"type": "string"},
                            "code": {"type": "string"}, "request_id": {"type": "string"}}}
    return {"type": "object", "required": ["errors"],
            "properties": {"errors": {"type": "array", "minItems": 1, "items": error}}}


def install(app: FastAPI, headers_for: Callable[[int], dict[str, str]]) -> None:
    """Every error of the placement app answers in Placement's format, and its OpenAPI document says so;
    no 422 ever escapes."""
    document_faults(app, fault_schema)

    def respond(request: Request, status: int, message: str, code: str | None = None) -> JSONResponse:
        return JSONResponse(fault_body(request.scope, status, message, code), status_code=status,
                            headers=headers_for(status))

    @app.exception_handler(CloudError)
    async def cloud_error(request: Request, exc: CloudError) -> JSONResponse:
        return respond(request, exc.status, exc.message, code_of(exc))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return respond(request, 400, describe_validation_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "Error")
        if exc.status_code == 404 and message == "Not Found":
            message = "The resource could not be found."
        if exc.status_code == 405:
            message = f"The method {request.method} is not allowed for this resource."
        return respond(request, exc.status_code, message)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        LOG.exception("unexpected error", exc_info=exc)
        return respond(request, 500, "An unexpected error prevented the server from fulfilling your request.")
