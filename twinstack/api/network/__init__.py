"""The networking service (Neutron v2.0), as its own FastAPI application."""

from __future__ import annotations

from fastapi import FastAPI

from twinstack.api.faults import install_fault_handlers
from twinstack.api.network import (
    auto_allocation,
    discovery,
    extensions,
    floating_ips,
    networks,
    port_bindings,
    ports,
    quotas,
    routers,
    security_groups,
    subnet_pools,
    subnets,
    tags,
)
from twinstack.api.network.faults import neutron_fault
from twinstack.cloud import Cloud
from twinstack.core.network.policies import RULES

ROUTERS = [discovery.router, extensions.router, networks.router, subnets.router, ports.router, port_bindings.router,
           subnet_pools.router, security_groups.router, routers.router, floating_ips.router, quotas.router,
           tags.router, auto_allocation.router]


def build_app(cloud: Cloud, base_url: str) -> FastAPI:
    app = FastAPI(title="Twinstack Networking", version="2.0", docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json")
    app.state.cloud = cloud
    app.state.base_url = base_url
    cloud.enforcer.register(RULES)
    install_fault_handlers(app, neutron_fault)
    for router in ROUTERS:
        app.include_router(router)
    return app
