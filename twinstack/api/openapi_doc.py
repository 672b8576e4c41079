"""Each service's OpenAPI document says what the service really answers, faults included.

FastAPI documents a route's success answer and a 422 that Twinstack never sends (validation errors
answer 400 in the service's own fault format). This module rewrites each operation's responses from
what the route is: a route behind the token check may answer 401 and 403; one with path parameters
404; one with parameters or a body 400; one with a body 413 (:mod:`twinstack.api.body_limits`); one
that changes something 409. Every fault is documented with the service's fault body, derived from
the same formatter that writes it, so a client (or schemathesis) can hold the server to it. A route
may declare more with FastAPI's own ``responses=``; those are kept.

Routes that read their JSON body by hand (to answer a malformed one in the service's own words) mark
their body-reading dependency with :func:`reads_json_body`, and are documented as taking a JSON object.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from twinstack.api.deps import TOKEN_CHECKS

FaultSchema = Callable[[int], dict[str, Any]]
"""status -> the JSON schema of the service's fault body for that status."""

F = TypeVar("F", bound=Callable[..., Any])

_JSON_BODY_READERS: set[Callable[..., Any]] = set()
CHANGES = {"POST", "PUT", "PATCH", "DELETE"}
DESCRIPTIONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
                406: "Not Acceptable", 409: "Conflict", 410: "Gone", 413: "Request Entity Too Large",
                415: "Unsupported Media Type", 416: "Requested Range Not Satisfiable", 503: "Service Unavailable"}
JSON_OBJECT_BODY = {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}


def faults(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """For a route's ``responses=``: faults it answers beyond those its shape implies (see :func:`fault_codes`)."""
    return {status: {"description": DESCRIPTIONS.get(status, "Error")} for status in statuses}


SUBJECT_TOKEN = {"parameters": [{"name": "X-Subject-Token", "in": "header", "required": True,
                                 "schema": {"type": "string"},
                                 "description": "The token to validate, check or revoke."}]}
"""A route's ``openapi_extra`` for Keystone's token routes: the token acted on comes in a header."""


STREAMED_UPLOAD = {"requestBody": {"required": True, "content": {
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}
"""A route's ``openapi_extra`` when it streams its body (image data), rather than parsing it."""


def reads_json_body(reader: F) -> F:
    """Mark a dependency that reads the request's JSON body itself: routes using it take a JSON object."""
    _JSON_BODY_READERS.add(reader)
    return reader


def schema_of_sample(sample: Any) -> dict[str, Any]:
    """A JSON schema every fault shaped like ``sample`` matches: the same keys, each value of the same type."""
    if isinstance(sample, dict):
        return {"type": "object", "required": sorted(sample),
                "properties": {key: schema_of_sample(value) for key, value in sample.items()}}
    if isinstance(sample, list):
        return {"type": "array", "items": schema_of_sample(sample[0]) if sample else {}}
    if isinstance(sample, bool):
        return {"type": "boolean"}
    if isinstance(sample, int):
        return {"type": "integer"}
    if sample is None:
        return {"type": "null"}
    return {"type": "string"}


def sampled_fault_schema(formatter: Callable[[int, str, str], dict[str, object]]) -> FaultSchema:
    """The fault schema of a service whose faults ``formatter`` writes: derived from one it writes."""

    def schema(status: int) -> dict[str, Any]:
        return schema_of_sample(formatter(status, DESCRIPTIONS.get(status, "Error"), "why"))

    return schema


def api_routes(app: FastAPI) -> Iterator[APIRoute]:
    """Every API route of ``app`` as it answers, with the prefix of the router that included it.

    Recent FastAPI includes routers lazily (``app.routes`` then holds the included routers), and walks
    them with ``routing.iter_route_contexts``; a context reads like the route it wraps.
    """
    contexts = getattr(routing, "iter_route_contexts", None)
    if contexts is None:
        yield from (route for route in app.routes if isinstance(route, APIRoute))
        return
    for context in contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            yield context


def _dependencies(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from _dependencies(sub)


def fault_codes(route: APIRoute, app_faults: frozenset[int] = frozenset()) -> set[int]:
    """The faults a route can answer, from what it takes and whether it checks a token; ``app_faults``
    are answered by any route of the app (a microversion middleware refuses a malformed version)."""
    calls = {sub.call for sub in _dependencies(route.dependant)}
    codes: set[int] = set(app_faults)
    has_body = (route.body_field is not None or bool(calls & _JSON_BODY_READERS)
                or "requestBody" in (route.openapi_extra or {}))
    has_params = bool(route.dependant.path_params or route.dependant.query_params or route.dependant.header_params
                      or any(sub.path_params or sub.query_params or sub.header_params
                             for sub in _dependencies(route.dependant)))
    if calls & TOKEN_CHECKS:
        codes |= {401, 403}
    if route.dependant.path_params:
        codes.add(404)
    if has_params or has_body:
        codes.add(400)
    if has_body:
        codes |= {400, 404, 413}  # a body may name other resources, which must exist
    if (route.methods or set()) & CHANGES:
        codes.add(409)
    return codes


def _operations(document: dict[str, Any], route: APIRoute) -> Iterator[dict[str, Any]]:
    item = document.get("paths", {}).get(route.path_format, {})
    for method in route.methods or ():
        operation = item.get(method.lower())
        if operation is not None:
            yield operation


def document_faults(app: FastAPI, fault_schema: FaultSchema) -> None:
    """Make ``app``'s OpenAPI document list each route's faults in the service's format (built once, lazily)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = get_openapi(title=app.title, version=app.version, routes=app.routes, servers=app.servers)
        app_faults = frozenset().union(*(getattr(m.cls, "documented_faults", frozenset())
                                         for m in app.user_middleware))
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        for route in api_routes(app):
            if not route.include_in_schema:
                continue
            reads_body = bool({sub.call for sub in _dependencies(route.dependant)} & _JSON_BODY_READERS)
            for operation in _operations(document, route):
                responses = operation.setdefault("responses", {})
                responses.pop("422", None)
                if reads_body and "requestBody" not in operation:
                    operation["requestBody"] = JSON_OBJECT_BODY
                for status in sorted(fault_codes(route, app_faults)):
                    responses.setdefault(str(status), {})
                for status, response in responses.items():
                    if status.isdigit() and int(status) >= 400 and "content" not in response:
                        response["description"] = response.get("description") or DESCRIPTIONS.get(int(status), "")
                        response["content"] = {"application/json": {"schema": fault_schema(int(status))}}
        if not schemas:
            document["components"].pop("schemas")
        if not document["components"]:
            document.pop("components")
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
