"""The compute service (Nova v2.1 with microversions), as its own FastAPI application."""

from __future__ import annotations

from fastapi import FastAPI

from twinstack.api.compute import (
    aggregates,
    availability_zones,
    discovery,
    flavor_access,
    flavor_extra_specs,
    flavors,
    hypervisors,
    instance_actions,
    keypairs,
    limits,
    migrations,
    quotas,
    server_actions,
    server_groups,
    server_metadata,
    server_security_groups,
    server_tags,
    servers,
    services,
    usage,
    volume_attachments,
)
from twinstack.api.compute.faults import nova_fault
from twinstack.api.compute.microversion import MicroversionMiddleware
from twinstack.api.faults import install_fault_handlers
from twinstack.cloud import Cloud
from twinstack.core.compute.admin_policies import RULES as ADMIN_RULES
from twinstack.core.compute.policies import RULES

ROUTERS = [
    discovery.router,
    servers.router,
    server_metadata.router,
    server_tags.router,
    server_security_groups.router,
    server_actions.router,
    flavors.router,
    flavor_extra_specs.router,
    flavor_access.router,
    keypairs.router,
    instance_actions.router,
    limits.router,
    quotas.router,
    hypervisors.router,
    services.router,
    availability_zones.router,
    aggregates.router,
    server_groups.router,
    usage.router,
    migrations.router,
    volume_attachments.router,
]


def build_app(cloud: Cloud, base_url: str) -> FastAPI:
    app = FastAPI(title="Twinstack Compute", version="2.1", docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json")
    app.state.cloud = cloud
    app.state.base_url = base_url
    cloud.enforcer.register(RULES)
    cloud.enforcer.register(ADMIN_RULES)
    cloud.enforcer.register(volume_attachments.RULES)
    install_fault_handlers(app, nova_fault)
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(MicroversionMiddleware)
    return app
