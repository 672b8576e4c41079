"""Locust users for the networking paths, against the same served cloud as the compute users.

* ``BootWithPort``: what a user with a pre-made port does — create a port on the load network, boot a server
  on it (``networks: [{"port": ...}]``), poll until ACTIVE, delete the server, poll until gone, delete the port.
  Fires ``port server active`` with the time from the port's creation to ACTIVE.
* ``NetworkLifecycle``: Rally's ``NeutronNetworks.create_and_delete_ports`` grown to the whole chain — create
  a network, a subnet on it and a port, then delete the port, the subnet and the network. Fires
  ``network lifecycle`` with the time the six calls took together.

The harness (benchmarks/load.py) makes the load network and sets ``network_id`` before starting them.
"""

from __future__ import annotations

import random
import time
from typing import Any, ClassVar

from locust import task

from benchmarks.locustfiles.compute import GIVE_UP, WAIT_POLL, _Cloud


class _Network(_Cloud):
    abstract = True
    network_id: ClassVar[str] = ""

    def neutron(self, method: str, path: str, name: str, expect: int,
                json: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """One networking call; its body (or {} for a 204), or None after recording a failure."""
        with self.client.request(method, f"/network/v2.0{path}", headers={"X-Auth-Token": self.token},
                                 name=name, catch_response=True, json=json) as response:
            if response.status_code != expect:
                response.failure(f"{response.status_code}: {response.text[:200]}")
                return None
            return response.json() if response.content else {}

    def event(self, name: str, started: float, failure: str | None = None) -> None:
        self.environment.events.request.fire(
            request_type="EVENT", name=name, response_time=(time.perf_counter() - started) * 1000,
            response_length=0, exception=RuntimeError(failure) if failure else None, context={})


class BootWithPort(_Network):
    @task
    def boot_with_port(self) -> None:
        started = time.perf_counter()
        made = self.neutron("POST", "/ports", "port create", 201, json={"port": {"network_id": self.network_id}})
        if made is None:
            return
        port_id = str(made["port"]["id"])
        body = {"server": {"name": f"load-{random.getrandbits(40):010x}", "flavorRef": self.flavor_ref,
                           "imageRef": self.image_ref, "networks": [{"port": port_id}]}}
        with self.client.post("/compute/v2.1/servers", json=body, headers=self.headers(),
                              name="server create (port)", catch_response=True) as response:
            if response.status_code != 202:
                response.failure(f"{response.status_code}: {response.text[:200]}")
                self.neutron("DELETE", f"/ports/{port_id}", "port delete", 204)
                return
            server_id = str(response.json()["server"]["id"])
        status = self.status(server_id)
        while status not in ("ACTIVE", "ERROR", None) and time.perf_counter() - started < GIVE_UP:
            time.sleep(WAIT_POLL)
            status = self.status(server_id)
        self.event("port server active", started, None if status == "ACTIVE" else f"ended {status}")
        deleting = time.perf_counter()
        self.client.delete(f"/compute/v2.1/servers/{server_id}", headers=self.headers(), name="server delete")
        while self.status(server_id) is not None and time.perf_counter() - deleting < GIVE_UP:
            time.sleep(WAIT_POLL)
        self.neutron("DELETE", f"/ports/{port_id}", "port delete", 204)


class NetworkLifecycle(_Network):
    @task
    def network_subnet_port(self) -> None:
        started = time.perf_counter()
        network = self.neutron("POST", "/networks", "network create", 201,
                               json={"network": {"name": f"load-{random.getrandbits(32):08x}"}})
        if network is None:
            return
        network_id = str(network["network"]["id"])
        subnet = self.neutron("POST", "/subnets", "subnet create", 201, json={"subnet": {
            "network_id": network_id, "ip_version": 4, "cidr": "192.168.0.0/24"}})
        port = self.neutron("POST", "/ports", "port create", 201, json={"port": {"network_id": network_id}}) \
            if subnet is not None else None
        failure = None if port is not None else "a create failed"
        if port is not None:
            self.neutron("DELETE", f"/ports/{port['port']['id']}", "port delete", 204)
        if subnet is not None:
            self.neutron("DELETE", f"/subnets/{subnet['subnet']['id']}", "subnet delete", 204)
        if self.neutron("DELETE", f"/networks/{network_id}", "network delete", 204) is None:
            failure = failure or "network delete failed"
        self.event("network lifecycle", started, failure)
