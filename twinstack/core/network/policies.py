"""The networking service's rules, after Neutron's defaults.

Reads are open to any project member or reader: visibility (own, shared, external, network owner)
does the real work in core. Writes need the member role (admins have it by implication); the
attributes only admins may set (shared, router:external, provider:*, binding:*) are refused by the
body parser before any rule here is asked.
"""

from __future__ import annotations

from twinstack.core.policy import ADMIN, Rule, any_of, anyone, role

MEMBER = any_of(ADMIN, role("member"))

_RESOURCES = ("network", "subnet", "port", "router", "floatingip", "security_group", "security_group_rule",
              "subnetpool")

RULES: dict[str, Rule] = {}
for _resource in _RESOURCES:
    RULES[f"get_{_resource}"] = anyone
    RULES[f"create_{_resource}"] = MEMBER
    RULES[f"update_{_resource}"] = MEMBER
    RULES[f"delete_{_resource}"] = MEMBER
RULES |= {
    "add_router_interface": MEMBER,
    # auto-allocated-topology: the caller's own project (core refuses another's to non-admins); a reader may
    # get it, as Neutron's default policy says, even though a first get builds it
    "get_auto_allocated_topology": anyone,
    "delete_auto_allocated_topology": MEMBER,
    "remove_router_interface": MEMBER,
    "update_tags": MEMBER,
    "get_quota": anyone,
    "update_quota": ADMIN,
    "delete_quota": ADMIN,
    "list_quotas": ADMIN,
    # binding-extended: Nova's (an admin or service token) for live migration
    "get_port_binding": ADMIN,
    "create_port_binding": ADMIN,
    "delete_port_binding": ADMIN,
    "activate": ADMIN,
}
