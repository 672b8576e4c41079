"""The one HTTP server: every service's application mounted under its own path prefix."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from twinstack.api.body_limits import BodyLimitMiddleware
from twinstack.api.request_log import RequestLogMiddleware
from twinstack.api.services import SERVICES
from twinstack.api.www_authenticate import WWWAuthenticateMiddleware
from twinstack.cloud import Cloud


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
    identity = next(s for s in SERVICES if s.type == "identity")
    limits = cloud.settings.api
    app.add_middleware(BodyLimitMiddleware, max_bytes=limits.max_request_body_bytes,
                       max_json_depth=limits.max_json_depth)
    app.add_middleware(WWWAuthenticateMiddleware, identity_url=identity.base_url(public_url))
    app.add_middleware(RequestLogMiddleware)
    return app
