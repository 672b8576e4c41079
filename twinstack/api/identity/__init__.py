"""The identity service (Keystone v3), as its own FastAPI application."""

from __future__ import annotations

import copy

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from twinstack.api.faults import install_fault_handlers
from twinstack.api.identity import (
    application_credentials,
    catalog_admin,
    credentials,
    discovery,
    domains,
    grants,
    groups,
    projects,
    role_assignments,
    roles,
    tokens,
    trusts,
    users,
)
from twinstack.api.identity.faults import keystone_fault
from twinstack.cloud import Cloud

ROUTERS = [
    discovery.router,
    tokens.router,
    domains.router,
    projects.router,
    users.router,
    groups.router,
    roles.router,
    grants.router,
    role_assignments.router,
    catalog_admin.router,
    trusts.router,
    application_credentials.router,
    credentials.router,
]


def build_app(cloud: Cloud, base_url: str) -> FastAPI:
    """The identity API for ``cloud``, answering as if rooted at ``base_url``."""
    app = FastAPI(title="Twinstack Identity", version="3.14", docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json")
    app.state.cloud = cloud
    app.state.base_url = base_url

    def www_authenticate(status: int) -> dict[str, str]:
        return {"WWW-Authenticate": f'Keystone uri="{base_url}"'} if status == 401 else {}

    install_fault_handlers(app, keystone_fault, www_authenticate)
    for router in ROUTERS:
        answer_head(router)
        app.include_router(router)
    return app


def answer_head(router: APIRouter) -> None:
    """Let every GET route of ``router`` without a HEAD route of its own answer HEAD too (the same status and
    headers, no body), as each of Keystone's does (Flask adds HEAD to every GET rule). A HEAD route of its own
    (one that answers 204, say) is left to answer. Idempotent."""
    routes = [(r, r.methods) for r in router.routes if isinstance(r, APIRoute) and r.methods]
    own_head = {r.path for r, methods in routes if "HEAD" in methods}
    for route, methods in routes:
        if "GET" in methods and route.path not in own_head:
            # a route of its own, left out of the OpenAPI document: one route answering both would give the
            # document two operations under one operationId (which must be unique)
            head = copy.copy(route)
            head.methods = {"HEAD"}
            head.include_in_schema = False
            router.routes.append(head)
