"""Requests to one service over the in-process app, as a given user at a given microversion.

Each service's test client (Nova, Cinder, Neutron) names its path prefix and its OpenStack-API-Version service type;
the token, the microversion and the verbs are the same for all of them.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

import httpx

from tests.conftest import Api


class ServiceClient:
    prefix: ClassVar[str]
    """Where the service is mounted, e.g. ``/compute/v2.1``."""
    service_type: ClassVar[str | None] = None
    """The service's name in the OpenStack-API-Version header, e.g. ``compute``; None: a service without
    microversions (networking), which gets no such header."""
    default_version: ClassVar[str] = ""

    def __init__(self, api: Api, token: str | None = None, version: str | None = None) -> None:
        self.api = api
        self.token = token or api.admin_token
        self.version = version or self.default_version

    def at(self, version: str) -> Self:
        return type(self)(self.api, self.token, version)

    def as_user(self, token: str) -> Self:
        return type(self)(self.api, token, self.version)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        versioned = {"OpenStack-API-Version": f"{self.service_type} {self.version}"} if self.service_type else {}
        headers = {"X-Auth-Token": self.token, **versioned, **kwargs.pop("headers", {})}
        return self.api.http.request(method, f"{self.prefix}{path}", headers=headers, **kwargs)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", path, **kw)
