"""Neutron's ``binding-extended`` (``/v2.0/ports/{id}/bindings``), in-process over a live simulated plane whose
moves take 2 s: the API as Nova uses it (admins only, compute ports only, Neutron's faults), and a live
migration that readies an inactive binding on its destination, re-plugs both hosts while the guest moves,
then activates the destination's binding and drops the source's."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.compute_helpers import Member, Nova, make_member, running_plane
from tests.api.network_helpers import Neutron, fault
from tests.api.test_network_plugs import eventually, plugged
from tests.conftest import Api
from twinstack.cloud import Cloud
from twinstack.compute_plane import ComputePlane


@pytest.fixture
def plane(cloud: Cloud) -> Iterator[ComputePlane]:
    yield from running_plane(cloud, migrate_seconds=2.0)


@pytest.fixture
def alice(api: Api) -> Member:
    return make_member(api, "alice", "demo")


@pytest.fixture
def nova(api: Api, plane: ComputePlane) -> Nova:
    return Nova(api, version="2.37")


@pytest.fixture
def neutron(api: Api) -> Neutron:
    return Neutron(api)


def server_port(nova: Nova, neutron: Neutron) -> tuple[str, str, dict[str, Any]]:
    """A running server on a private network: its id, its host and its port."""
    net = neutron.network("private")
    neutron.subnet(net["id"], "10.0.0.0/24")
    created = nova.boot("vm", networks=[{"uuid": net["id"]}])
    host: str = nova.wait_for(created["id"], "ACTIVE")["OS-EXT-SRV-ATTR:host"]
    [port] = neutron.get(f"/ports?device_id={created['id']}").json()["ports"]
    return created["id"], host, port


def other_host(plane: ComputePlane, host: str) -> str:
    [agent] = plane.agents
    return next(h for h in sorted(agent.hosts) if h != host)


def bindings(neutron: Neutron, port_id: str) -> list[tuple[str, str]]:
    response = neutron.get(f"/ports/{port_id}/bindings")
    assert response.status_code == 200, response.text
    return [(b["host"], b["status"]) for b in response.json()["bindings"]]


def test_bindings_are_created_inactive_activated_and_deleted_as_neutron_does(
    api: Api, plane: ComputePlane, nova: Nova, neutron: Neutron, alice: Member
) -> None:
    assert "binding-extended" in {e["alias"] for e in neutron.get("/extensions").json()["extensions"]}
    _server, host, port = server_port(nova, neutron)
    pid, other = port["id"], other_host(plane, host)
    assert bindings(neutron, pid) == [(host, "ACTIVE")]
    shown = neutron.get(f"/ports/{pid}/bindings/{host}").json()["binding"]
    assert shown == {
        "host": host,
        "vif_type": "ovs",
        "vif_details": {"port_filter": True},
        "vnic_type": "normal",
        "profile": {},
        "status": "ACTIVE",
    }

    created = neutron.post(f"/ports/{pid}/bindings", json={"binding": {"host": other}})
    assert created.status_code == 201, created.text
    assert created.json()["binding"]["status"] == "INACTIVE"
    assert bindings(neutron, pid) == [(host, "ACTIVE"), (other, "INACTIVE")]
    assert neutron.get(f"/ports/{pid}").json()["port"]["binding:host_id"] == host  # still bound where it was

    # Neutron's refusals, each changing nothing
    assert (
        fault(
            neutron.post(f"/ports/{pid}/bindings", json={"binding": {"host": other}}), 409, "PortBindingAlreadyExists"
        )
        == f"Binding for port {pid} on host {other} already exists."
    )
    fault(neutron.post(f"/ports/{pid}/bindings", json={"binding": {"host": host}}), 409, "PortBindingAlreadyExists")
    fault(neutron.post(f"/ports/{pid}/bindings", json={"binding": {}}), 400)
    fault(neutron.post(f"/ports/{pid}/bindings", json={"binding": {"host": "h", "vnic_type": "bogus"}}), 400)
    assert (
        fault(neutron.put(f"/ports/{pid}/bindings/{host}/activate"), 409, "PortBindingAlreadyActive")
        == f"Binding for port {pid} on host {host} is already active."
    )
    fault(neutron.put(f"/ports/{pid}/bindings/nowhere/activate"), 404, "PortBindingNotFound")
    fault(neutron.get(f"/ports/{pid}/bindings/nowhere"), 404, "PortBindingNotFound")
    fault(neutron.get("/ports/no-such-port/bindings"), 404, "PortNotFound")
    member = Neutron(api, alice.token)
    fault(member.post(f"/ports/{pid}/bindings", json={"binding": {"host": "h2"}}), 403)
    fault(member.get(f"/ports/{pid}/bindings"), 403)
    plain = neutron.port(port["network_id"])
    assert (
        fault(neutron.post(f"/ports/{plain['id']}/bindings", json={"binding": {"host": other}}), 400)
        == f"Invalid port {plain['id']}. Operation only valid on compute ports"
    )
    assert bindings(neutron, pid) == [(host, "ACTIVE"), (other, "INACTIVE")]

    # activated: the other host is where the port is bound (and plugged) now; the old binding is inactive
    activated = neutron.put(f"/ports/{pid}/bindings/{other}/activate")
    assert activated.status_code == 200, activated.text
    assert activated.json()["status"] == "ACTIVE" and activated.json()["host"] == other  # bare, as Neutron's actions
    assert bindings(neutron, pid) == [(other, "ACTIVE"), (host, "INACTIVE")]
    assert neutron.get(f"/ports/{pid}").json()["port"]["binding:host_id"] == other
    eventually(lambda: plugged(plane, other, pid) is not None)

    # only an inactive binding may be deleted
    assert (
        fault(neutron.delete(f"/ports/{pid}/bindings/{other}"), 404, "PortBindingNotFound")
        == f"Binding for port {pid} for host {other} could not be found."
    )
    assert neutron.delete(f"/ports/{pid}/bindings/{host}").status_code == 204
    assert bindings(neutron, pid) == [(other, "ACTIVE")]

    # binding:host_id set by the port API onto a host readied before: that binding is the active one now
    assert neutron.post(f"/ports/{pid}/bindings", json={"binding": {"host": host}}).status_code == 201
    assert neutron.put(f"/ports/{pid}", json={"port": {"binding:host_id": host}}).status_code == 200
    assert bindings(neutron, pid) == [(host, "ACTIVE")]


def test_a_live_migration_readies_the_destination_binding_then_activates_it(
    plane: ComputePlane, nova: Nova, neutron: Neutron
) -> None:
    server, source, port = server_port(nova, neutron)
    pid = port["id"]
    assert nova.action(server, {"os-migrateLive": {"host": None, "block_migration": "auto"}}).status_code == 202
    migrating = nova.server(server)
    assert migrating["status"] == "MIGRATING"
    eventually(lambda: len(bindings(neutron, pid)) == 2)
    [(first, first_status), (dest, dest_status)] = bindings(neutron, pid)
    assert (first, first_status, dest_status) == (source, "ACTIVE", "INACTIVE") and dest != source
    assert neutron.get(f"/ports/{pid}").json()["port"]["binding:host_id"] == source
    eventually(lambda: plugged(plane, dest, pid) is not None)  # plugged on the destination before the guest comes
    assert nova.server(server)["status"] == "MIGRATING"

    # a rule added while the guest moves reaches both hosts holding the port
    [default] = neutron.get("/security-groups?name=default").json()["security_groups"][:1]
    rule = neutron.create(
        "security-group-rules",
        "security_group_rule",
        security_group_id=default["id"],
        direction="ingress",
        protocol="tcp",
        port_range_min=443,
        port_range_max=443,
    )
    for host in (source, dest):
        eventually(lambda host=host: any(r.id == rule["id"] for r in plugged(plane, host, pid).security_group_rules))  # type: ignore[union-attr]

    nova.wait_for(server, "ACTIVE")
    assert bindings(neutron, pid) == [(dest, "ACTIVE")]  # the source's binding went with the guest
    assert neutron.get(f"/ports/{pid}").json()["port"]["binding:host_id"] == dest
    eventually(lambda: plugged(plane, source, pid) is None)
