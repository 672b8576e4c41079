"""``/v2.0/extensions``: the Neutron extensions this service really implements, by alias.

Clients decide from this list (openstackclient asks for e.g. ``tag-ports-during-bulk-creation``,
``external-gateway-multihoming`` and ``router_availability_zone`` before choosing a request shape),
so an alias is listed only when its attributes and behaviour are here.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from twinstack.api.deps import CallerDep
from twinstack.core.errors import NotFound

router = APIRouter()

UPDATED = "2025-01-01T00:00:00-00:00"

EXTENSIONS: tuple[tuple[str, str, str], ...] = (
    ("allowed-address-pairs", "Allowed Address Pairs", "Provides allowed address pairs"),
    ("auto-allocated-topology", "Auto Allocated Topology Services", "Auto Allocated Topology Services."),
    ("binding", "Port Binding", "Expose port bindings of a virtual port to external application"),
    ("binding-extended", "Port Bindings Extended", "Expose port bindings of a virtual port to external application"),
    ("default-subnetpools", "Default Subnetpools", "Provides ability to mark and use a subnetpool as the default."),
    ("external-net", "Neutron external network", "Adds external network attribute to network resource."),
    ("ext-gw-mode", "Neutron L3 Configurable external gateway mode",
     "Extension of the router abstraction for specifying whether SNAT should occur on the external gateway"),
    ("extraroute", "Neutron Extra Route", "Extra routes configuration for L3 router"),
    ("extraroute-atomic", "Atomically add/remove extra routes", "Edit extra routes of a router on server side by "
                                                                "atomically adding/removing extra routes"),
    ("net-mtu", "Network MTU", "Provides MTU attribute for a network resource."),
    ("net-mtu-writable", "Network MTU (writable)", "Provides a writable MTU attribute for a network resource."),
    ("pagination", "Pagination support", "Extension that indicates that pagination is enabled."),
    ("port-security", "Port Security", "Provides port security"),
    ("project-id", "project_id field enabled", "Extension that indicates that project_id field is enabled."),
    ("provider", "Provider Network", "Expose mapping of virtual networks to physical networks"),
    ("quotas", "Quota management support", "Expose functions for quotas management per project"),
    ("quota_details", "Quota details management support", "Expose functions for quotas usage statistics per "
                                                           "project"),
    ("router", "Neutron L3 Router", "Router abstraction for basic L3 forwarding between L2 Neutron networks and "
                                    "access to external networks via a NAT gateway."),
    ("security-group", "security-group", "The security groups extension."),
    ("sorting", "Sorting support", "Extension that indicates that sorting is enabled."),
    ("standard-attr-description", "standard-attr-description", "Extension to add descriptions to standard "
                                                               "attributes"),
    ("standard-attr-revisions", "Resource revision numbers", "This extension will display the revision number of "
                                                             "neutron resources."),
    ("standard-attr-tag", "Tag support for resources with standard attribute: subnet, trunk, router, network, "
                          "policy, subnetpool, port, security_group, floatingip", "Enables to set tag on resources "
                                                                                  "with standard attribute."),
    ("standard-attr-timestamp", "Resource timestamps", "Adds created_at and updated_at fields to all Neutron "
                                                       "resources that have Neutron standard attributes."),
    ("stateful-security-group", "Stateful security group", "Indicates if the security group is stateful or not"),
    ("subnet_allocation", "Subnet Allocation", "Enables allocation of subnets from a subnet pool"),
)


def _extension(alias: str, name: str, description: str) -> dict[str, Any]:
    return {"alias": alias, "name": name, "description": description, "updated": UPDATED, "links": []}


@router.get("/v2.0/extensions")
def list_extensions(_caller: CallerDep) -> dict[str, Any]:
    return {"extensions": [_extension(*entry) for entry in EXTENSIONS]}


@router.get("/v2.0/extensions/{alias}")
def show_extension(alias: str, _caller: CallerDep) -> dict[str, Any]:
    for entry in EXTENSIONS:
        if entry[0] == alias:
            return {"extension": _extension(*entry)}
    raise NotFound(f"Extension with alias {alias} does not exist")
