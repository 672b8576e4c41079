"""The block storage service (Cinder v3 with microversions), as its own FastAPI application."""

from __future__ import annotations

from fastapi import FastAPI

from twinstack.api.faults import install_fault_handlers
from twinstack.api.volume import (
    attachments,
    backends,
    discovery,
    metadata,
    quotas,
    snapshots,
    types,
    volume_actions,
    volumes,
)
from twinstack.api.volume.faults import cinder_fault
from twinstack.api.volume.microversion import VolumeMicroversionMiddleware
from twinstack.cloud import Cloud
from twinstack.core.volume.policies import RULES

ROUTERS = [discovery.router, volumes.router, volume_actions.router, metadata.router, snapshots.router,
           types.router, quotas.router, attachments.router, backends.router]


def build_app(cloud: Cloud, base_url: str) -> FastAPI:
    app = FastAPI(title="Twinstack Block Storage", version="3.0", docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json")
    app.state.cloud = cloud
    app.state.base_url = base_url
    cloud.enforcer.register(RULES)
    install_fault_handlers(app, cinder_fault)
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(VolumeMicroversionMiddleware)
    return app
