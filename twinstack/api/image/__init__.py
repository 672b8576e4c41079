"""The image service (Glance v2), as its own FastAPI application."""

from __future__ import annotations

from fastapi import FastAPI

from twinstack.api.faults import install_fault_handlers
from twinstack.api.image import data, discovery, images, imports, members, schemas
from twinstack.cloud import Cloud
from twinstack.core.image.context import image_config
from twinstack.core.image.policies import RULES

ROUTERS = [discovery.router, images.router, data.router, members.router, imports.router, schemas.router]


def glance_fault(status: int, title: str, message: str) -> dict[str, object]:
    """Glance answers errors as a plain title and message; clients read the status code."""
    return {"code": status, "title": title, "message": message, "error": {"code": status, "title": title,
                                                                          "message": message}}


def build_app(cloud: Cloud, base_url: str) -> FastAPI:
    app = FastAPI(title="Twinstack Image", version="2.16", docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json")
    app.state.cloud = cloud
    app.state.base_url = base_url
    app.state.image_config = image_config(cloud.settings)
    cloud.enforcer.register(RULES)
    install_fault_handlers(app, glance_fault)
    for router in ROUTERS:
        app.include_router(router)
    return app
