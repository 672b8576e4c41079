"""Turning errors into each service's fault format: one installer, a formatter per service."""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from twinstack.api.openapi_doc import document_faults, sampled_fault_schema
from twinstack.core.errors import CloudError

LOG = logging.getLogger(__name__)

FaultFormatter = Callable[[int, str, str], dict[str, object]]
"""(status, title, message) -> the JSON body of a fault."""

TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
          405: "Method Not Allowed", 409: "Conflict", 413: "Request Entity Too Large",
          415: "Unsupported Media Type", 500: "Internal Server Error", 501: "Not Implemented",
          503: "Service Unavailable"}


def describe_validation_error(exc: RequestValidationError) -> str:
    """A readable one-line account of what was wrong with a request's body or parameters."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body",))
        parts.append(f"{where}: {error.get('msg')}" if where else str(error.get("msg")))
    return "Invalid input for the request. " + "; ".join(parts)


def install_fault_handlers(
    app: FastAPI, formatter: FaultFormatter, extra_headers: Callable[[int], dict[str, str]] | None = None
) -> None:
    """Every error the app can raise answers in ``formatter``'s shape, and its OpenAPI document says so;
    no 422 ever escapes."""
    document_faults(app, sampled_fault_schema(formatter))

    def respond(status: int, message: str, title: str | None = None) -> JSONResponse:
        headers = extra_headers(status) if extra_headers else {}
        return JSONResponse(formatter(status, title or TITLES.get(status, "Error"), message),
                            status_code=status, headers=headers)

    @app.exception_handler(CloudError)
    async def cloud_error(_request: Request, exc: CloudError) -> JSONResponse:
        return respond(exc.status, exc.message, exc.title)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return respond(400, describe_validation_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "Error")
        if exc.status_code == 404 and message == "Not Found":
            message = "The resource could not be found."
        return respond(exc.status_code, message)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        LOG.exception("unexpected error", exc_info=exc)
        return respond(500, "An unexpected error prevented the server from fulfilling your request.")
