"""The load-balancing service (Octavia v2), as its own FastAPI application."""

from __future__ import annotations

from fastapi import FastAPI

from twinstack.api.faults import install_fault_handlers
from twinstack.api.loadbalancer import discovery, loadbalancers, pools
from twinstack.cloud import Cloud
from twinstack.core.loadbalancer.policies import RULES


def octavia_fault(status: int, title: str, message: str) -> dict[str, object]:
    """Octavia's (WSME's) fault body: who is at fault, and why."""
    return {"faultcode": "Server" if status >= 500 else "Client", "faultstring": message, "debuginfo": None}


def build_app(cloud: Cloud, base_url: str) -> FastAPI:
    app = FastAPI(title="Twinstack Load Balancing", version="2.27", docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json")
    app.state.cloud = cloud
    app.state.base_url = base_url
    cloud.enforcer.register(RULES)
    install_fault_handlers(app, octavia_fault)
    app.include_router(discovery.router)
    for prefix in ("/v2", "/v2.0"):
        app.include_router(loadbalancers.router, prefix=prefix)
        app.include_router(pools.router, prefix=prefix)
    return app
