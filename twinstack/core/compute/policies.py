"""The compute service's rules for servers, flavors, keypairs and instance actions, after Nova's defaults.

Targets carry ``project_id`` (the server's project, or the caller's own for a listing) or
``user_id`` (a keypair's owner). Admins may do everything; project members act on their project's
servers and readers look at them. Other compute modules (quotas, hypervisors...) register their
own rules beside these.
"""

from __future__ import annotations

from twinstack.core.policy import ADMIN, Rule, all_of, any_of, anyone, caller_is, project_scoped_to, role

_in_project = project_scoped_to("project_id")
PROJECT_MEMBER_OR_ADMIN = any_of(ADMIN, all_of(role("member"), _in_project))
PROJECT_READER_OR_ADMIN = any_of(ADMIN, all_of(role("reader"), _in_project))
OWNER_OR_ADMIN = any_of(ADMIN, caller_is("user_id"))

SERVERS = "os_compute_api:servers:"

RULES: dict[str, Rule] = {
    # servers
    SERVERS + "index": PROJECT_READER_OR_ADMIN,
    SERVERS + "detail": PROJECT_READER_OR_ADMIN,
    SERVERS + "index:get_all_tenants": ADMIN,
    SERVERS + "detail:get_all_tenants": ADMIN,
    SERVERS + "allow_all_filters": ADMIN,
    SERVERS + "show": PROJECT_READER_OR_ADMIN,
    SERVERS + "show:host_status": ADMIN,
    SERVERS + "create": PROJECT_MEMBER_OR_ADMIN,
    SERVERS + "create:forced_host": ADMIN,
    SERVERS + "create:requested_destination": ADMIN,
    SERVERS + "create:attach_volume": PROJECT_MEMBER_OR_ADMIN,
    SERVERS + "create:attach_network": PROJECT_MEMBER_OR_ADMIN,
    SERVERS + "update": PROJECT_MEMBER_OR_ADMIN,
    SERVERS + "delete": PROJECT_MEMBER_OR_ADMIN,
    SERVERS + "reboot": PROJECT_MEMBER_OR_ADMIN,
    SERVERS + "start": PROJECT_MEMBER_OR_ADMIN,
    SERVERS + "stop": PROJECT_MEMBER_OR_ADMIN,
    SERVERS + "resize": PROJECT_MEMBER_OR_ADMIN,
    SERVERS + "confirm_resize": PROJECT_MEMBER_OR_ADMIN,
    SERVERS + "revert_resize": PROJECT_MEMBER_OR_ADMIN,
    SERVERS + "rebuild": PROJECT_MEMBER_OR_ADMIN,
    SERVERS + "create_image": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-migrate-server:migrate": ADMIN,
    "os_compute_api:os-migrate-server:migrate:host": ADMIN,
    "os_compute_api:os-migrate-server:migrate_live": ADMIN,
    "os_compute_api:os-evacuate": ADMIN,
    "os_compute_api:os-migrations:index": ADMIN,
    SERVERS + "migrations:index": ADMIN,
    SERVERS + "migrations:show": ADMIN,
    "os_compute_api:os-pause-server:pause": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-pause-server:unpause": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-suspend-server:suspend": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-suspend-server:resume": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-console-output": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-lock-server:lock": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-lock-server:unlock": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-lock-server:unlock:unlock_override": ADMIN,
    "os_compute_api:os-extended-server-attributes": ADMIN,
    "os_compute_api:os-security-groups:add": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-security-groups:remove": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-security-groups:list": PROJECT_READER_OR_ADMIN,
    "os_compute_api:server-metadata:index": PROJECT_READER_OR_ADMIN,
    "os_compute_api:server-metadata:show": PROJECT_READER_OR_ADMIN,
    "os_compute_api:server-metadata:create": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:server-metadata:update": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:server-metadata:update_all": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:server-metadata:delete": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-server-tags:index": PROJECT_READER_OR_ADMIN,
    "os_compute_api:os-server-tags:show": PROJECT_READER_OR_ADMIN,
    "os_compute_api:os-server-tags:update": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-server-tags:update_all": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-server-tags:delete": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-server-tags:delete_all": PROJECT_MEMBER_OR_ADMIN,
    # instance actions
    "os_compute_api:os-instance-actions:list": PROJECT_READER_OR_ADMIN,
    "os_compute_api:os-instance-actions:show": PROJECT_READER_OR_ADMIN,
    "os_compute_api:os-instance-actions:events": ADMIN,
    # flavors
    "os_compute_api:flavors:index": anyone,
    "os_compute_api:flavors:show": anyone,
    "os_compute_api:os-flavor-manage:create": ADMIN,
    "os_compute_api:os-flavor-manage:update": ADMIN,
    "os_compute_api:os-flavor-manage:delete": ADMIN,
    "os_compute_api:os-flavor-extra-specs:index": anyone,
    "os_compute_api:os-flavor-extra-specs:show": anyone,
    "os_compute_api:os-flavor-extra-specs:create": ADMIN,
    "os_compute_api:os-flavor-extra-specs:update": ADMIN,
    "os_compute_api:os-flavor-extra-specs:delete": ADMIN,
    "os_compute_api:os-flavor-access": ADMIN,
    "os_compute_api:os-flavor-access:add_tenant_access": ADMIN,
    "os_compute_api:os-flavor-access:remove_tenant_access": ADMIN,
    # keypairs
    "os_compute_api:os-keypairs:index": OWNER_OR_ADMIN,
    "os_compute_api:os-keypairs:show": OWNER_OR_ADMIN,
    "os_compute_api:os-keypairs:create": OWNER_OR_ADMIN,
    "os_compute_api:os-keypairs:delete": OWNER_OR_ADMIN,
}
