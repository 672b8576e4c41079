"""Locust users for the compute API's core paths, against a served cloud whose hosts boot in zero time.

Each user logs in once (a project-scoped token for the admin of the cloud under test) and then:

* ``BootAndDelete``: Rally's ``NovaServers.boot_and_delete_server`` — create, poll until ACTIVE,
  delete, poll until gone. Fires ``server_active`` and ``server_gone`` events with the time each took.
* ``CreateOnly``: server creates as fast as they are accepted (202), nothing else; what the API alone
  can take in. The servers stay; the load harness deletes them afterwards.
* ``ListServers``: ``GET /servers/detail?limit=100``, following the ``next`` link to a random depth;
  the latency to watch with thousands of servers present.
* ``IssueToken``: password logins, the identity path every client takes first.
* ``CheckToken``: ``HEAD /v3/auth/tokens`` on its own token: authenticated, authorized, no database: what one
  request costs the HTTP stack, the token check and the policy alone (the ceiling of any other rate).

The harness (benchmarks/load.py) sets ``host`` and the class attributes below before it starts them.
"""

from __future__ import annotations

import random
import time
from typing import Any, ClassVar

from locust import FastHttpUser, constant, task

WAIT_POLL = 0.2
"""Seconds between polls of a server's status: close to what a tight client does (the CLI's --wait polls 5 s)."""
GIVE_UP = 120.0


def password_body(auth: dict[str, Any]) -> dict[str, Any]:
    """A project-scoped password login for clouds.yaml's ``auth`` section."""
    return {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": auth["username"], "domain": {"name": auth["user_domain_name"]}, "password": auth["password"]}}},
        "scope": {"project": {"name": auth["project_name"], "domain": {"name": auth["project_domain_name"]}}}}}


class _Cloud(FastHttpUser):
    abstract = True
    wait_time = constant(0)
    auth: ClassVar[dict[str, Any]] = {}
    """clouds.yaml's auth section of the cloud under test."""
    flavor_ref: ClassVar[str] = "1"
    image_ref: ClassVar[str] = ""
    token: str = ""

    def on_start(self) -> None:
        with self.client.post("/identity/v3/auth/tokens", json=password_body(self.auth), name="token issue",
                              catch_response=True) as response:
            if response.status_code != 201:
                response.failure(f"login failed: {response.status_code}")
                return
            self.token = response.headers["X-Subject-Token"]

    def headers(self) -> dict[str, str]:
        return {"X-Auth-Token": self.token, "OpenStack-API-Version": "compute 2.79"}

    def boot_body(self) -> dict[str, Any]:
        return {"server": {"name": f"load-{random.getrandbits(40):010x}", "flavorRef": self.flavor_ref,
                           "imageRef": self.image_ref, "networks": "none"}}

    def create(self) -> str | None:
        with self.client.post("/compute/v2.1/servers", json=self.boot_body(), headers=self.headers(),
                              name="server create", catch_response=True) as response:
            if response.status_code != 202:
                response.failure(f"{response.status_code}: {response.text[:200]}")
                return None
            return str(response.json()["server"]["id"])

    def status(self, server_id: str) -> str | None:
        """The server's status, or None once it is gone (404)."""
        with self.client.get(f"/compute/v2.1/servers/{server_id}", headers=self.headers(), name="server show",
                             catch_response=True) as response:
            if response.status_code == 404:
                response.success()
                return None
            if response.status_code != 200:
                response.failure(f"{response.status_code}")
                return "UNKNOWN"
            return str(response.json()["server"]["status"])


class BootAndDelete(_Cloud):
    @task
    def boot_and_delete(self) -> None:
        started = time.perf_counter()
        server_id = self.create()
        if server_id is None:
            return
        status = self.status(server_id)
        while status not in ("ACTIVE", "ERROR", None) and time.perf_counter() - started < GIVE_UP:
            time.sleep(WAIT_POLL)
            status = self.status(server_id)
        self.environment.events.request.fire(
            request_type="EVENT", name="server active", response_time=(time.perf_counter() - started) * 1000,
            response_length=0, exception=None if status == "ACTIVE" else RuntimeError(f"ended {status}"),
            context={})
        deleting = time.perf_counter()
        self.client.delete(f"/compute/v2.1/servers/{server_id}", headers=self.headers(), name="server delete")
        while self.status(server_id) is not None and time.perf_counter() - deleting < GIVE_UP:
            time.sleep(WAIT_POLL)
        self.environment.events.request.fire(
            request_type="EVENT", name="server gone", response_time=(time.perf_counter() - deleting) * 1000,
            response_length=0, exception=None, context={})


class CreateOnly(_Cloud):
    @task
    def create_server(self) -> None:
        self.create()


class ListServers(_Cloud):
    max_pages: ClassVar[int] = 3

    @task
    def list_servers(self) -> None:
        url: str | None = "/compute/v2.1/servers/detail?limit=100"
        for _ in range(random.randint(1, self.max_pages)):
            if url is None:
                break
            with self.client.get(url, headers=self.headers(), name="server list (100, paginated)",
                                 catch_response=True) as response:
                if response.status_code != 200:
                    response.failure(f"{response.status_code}")
                    return
                links = response.json().get("servers_links") or []
                nxt = next((link["href"] for link in links if link.get("rel") == "next"), None)
                url = nxt[nxt.index("/compute/"):] if nxt else None


class IssueToken(_Cloud):
    def on_start(self) -> None:
        pass

    @task
    def issue(self) -> None:
        with self.client.post("/identity/v3/auth/tokens", json=password_body(self.auth), name="token issue",
                              catch_response=True) as response:
            if response.status_code != 201:
                response.failure(f"{response.status_code}")


class CheckToken(_Cloud):
    @task
    def check(self) -> None:
        with self.client.request("HEAD", "/identity/v3/auth/tokens", name="token check (no database)",
                                 headers={"X-Auth-Token": self.token, "X-Subject-Token": self.token},
                                 catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}")
