"""The Placement service (wire-compatible with OpenStack Placement 1.0-1.39), as its own FastAPI app."""

from __future__ import annotations

from fastapi import FastAPI

from twinstack.api.placement import (
    aggregates,
    allocation_candidates,
    allocations,
    faults,
    inventories,
    reshaper,
    resource_classes,
    resource_providers,
    root,
    traits,
    usages,
)
from twinstack.api.placement.microversion import MAX_VERSION, MicroversionMiddleware
from twinstack.cloud import Cloud
from twinstack.core.scheduler.policies import RULES

ROUTERS = [
    root.router,
    resource_providers.router,
    inventories.router,
    usages.router,
    traits.router,
    aggregates.router,
    allocations.router,
    resource_classes.router,
    allocation_candidates.router,
    reshaper.router,
]


def build_app(cloud: Cloud, base_url: str) -> FastAPI:
    """The Placement API for ``cloud``, answering as if rooted at ``base_url`` (unversioned)."""
    app = FastAPI(title="Twinstack Placement", version=str(MAX_VERSION), docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json")
    app.state.cloud = cloud
    app.state.base_url = base_url
    cloud.enforcer.register(RULES)
    identity_url = base_url.rsplit("/", 1)[0] + "/identity"

    def www_authenticate(status: int) -> dict[str, str]:
        return {"WWW-Authenticate": f'Keystone uri="{identity_url}"'} if status == 401 else {}

    faults.install(app, www_authenticate)
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(MicroversionMiddleware, clock=cloud.clock, fault=faults.fault_body)
    return app
