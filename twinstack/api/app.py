"""The one HTTP server: every service's application mounted under its own path prefix."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from starlette.routing import Mount

from twinstack.api.body_limits import BodyLimitMiddleware
from twinstack.api.request_log import RequestLogMiddleware
from twinstack.api.services import SERVICES
from twinstack.api.www_authenticate import WWWAuthenticateMiddleware
from twinstack.cloud import Cloud


def _match_any_character(app: FastAPI) -> None:
    """Hand every path under a service's prefix to that service, even one holding a line break (``%0A``).

    Starlette matches a mount's rest of path with ``.*``, which stops at a line break: such a request would
    fall through to this outer app's bare 404 instead of the service's own fault format.
    """
    for route in app.routes:
        if isinstance(route, Mount):
            route.path_regex = re.compile(route.path_regex.pattern, re.DOTALL)


def create_app(cloud: Cloud) -> FastAPI:
    public_url = cloud.settings.effective_public_url
    app = FastAPI(title="Twinstack", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.cloud = cloud

    @app.get("/")
    def services() -> dict[str, Any]:
        """What this server offers, for a person with curl."""
        return {
            "name": "Twinstack",
            "services": [
                {"type": s.type, "name": s.name, "url": s.base_url(public_url) + s.catalog_suffix}
                for s in SERVICES
            ],
        }

    for service in SERVICES:
        built = service.build(cloud, service.base_url(public_url))
        built.state.service_type = service.type  # what access rules name it by (see api.deps)
        app.mount(service.prefix, built)
    _match_any_character(app)
    identity = next(s for s in SERVICES if s.type == "identity")
    limits = cloud.settings.api
    app.add_middleware(BodyLimitMiddleware, max_bytes=limits.max_request_body_bytes,
                       max_json_depth=limits.max_json_depth)
    app.add_middleware(WWWAuthenticateMiddleware, identity_url=identity.base_url(public_url))
    app.add_middleware(RequestLogMiddleware)
    return app
