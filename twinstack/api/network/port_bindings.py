"""Networking API: a port's bindings (Neutron's ``binding-extended``), ``/v2.0/ports/{id}/bindings``.

List, show, create (ACTIVE on an unbound port, else INACTIVE), ``PUT .../bindings/{host}/activate``
(answered with the binding bare, as Neutron's actions answer and openstacksdk reads it) and delete
(inactive ones only), for admins as in Neutron (Nova calls them with an admin token for live migration).
Only compute ports take them. Activation re-plugs the port where it is now active.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from twinstack.api.deps import CallerDep
from twinstack.api.network import bodies
from twinstack.api.network.common import BodyDep, one, refresh_ports
from twinstack.api.network.listing import respond
from twinstack.core.network import port_bindings
from twinstack.core.network.port_bindings import Binding

router = APIRouter()

VNIC_TYPES = (
    "normal",
    "direct",
    "macvtap",
    "baremetal",
    "direct-physical",
    "virtio-forwarder",
    "smart-nic",
    "remote-managed",
)
ATTRIBUTES: dict[str, bodies.Attr] = {
    "host": bodies.Attr(bodies.string(), required=True),
    "vnic_type": bodies.Attr(bodies.one_of(*VNIC_TYPES)),
    "profile": bodies.Attr(bodies.dict_value),
}


def render(binding: Binding) -> dict[str, Any]:
    """A binding as Neutron shows it: bound by the (simulated) OVS mechanism on its host, active or not."""
    return {
        "host": binding.host,
        "vif_type": "ovs",
        "vif_details": {"port_filter": True},
        "vnic_type": binding.vnic_type,
        "profile": binding.profile,
        "status": binding.status,
    }


@router.get("/v2.0/ports/{port_id}/bindings")
def list_bindings(port_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("get_port_binding")
    with caller.cloud.sessions() as session:
        found = port_bindings.list_bindings(session, caller.creds, port_id)
    return respond(request, "bindings", [render(b) for b in found], path=f"/v2.0/ports/{port_id}/bindings")


@router.get("/v2.0/ports/{port_id}/bindings/{host}")
def show_binding(port_id: str, host: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("get_port_binding")
    with caller.cloud.sessions() as session:
        return one(request, "binding", render(port_bindings.get_binding(session, caller.creds, port_id, host)))


@router.post("/v2.0/ports/{port_id}/bindings", status_code=201)
def create_binding(port_id: str, body: BodyDep, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("create_port_binding")
    attrs = bodies.parse(body, "binding", ATTRIBUTES, caller.creds)
    cloud = caller.cloud
    with cloud.transaction() as session:
        binding = port_bindings.create_binding(
            session,
            cloud.clock,
            caller.creds,
            port_id,
            attrs["host"],
            attrs.get("vnic_type", "normal"),
            attrs.get("profile"),
        )
    return {"binding": render(binding)}


@router.put("/v2.0/ports/{port_id}/bindings/{host}/activate")
def activate_binding(port_id: str, host: str, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("activate")
    cloud = caller.cloud
    with cloud.transaction() as session:
        binding = port_bindings.activate(session, cloud.clock, caller.creds, port_id, host)
    refresh_ports(caller, [port_id])
    return render(binding)  # a Neutron action answers the plugin's dict bare (as add_router_interface does)


@router.delete("/v2.0/ports/{port_id}/bindings/{host}", status_code=204)
def delete_binding(port_id: str, host: str, caller: CallerDep) -> Response:
    caller.enforce("delete_port_binding")
    with caller.cloud.transaction() as session:
        port_bindings.delete_binding(session, caller.creds, port_id, host)
    return Response(status_code=204)
