"""The identity service's rules, one per action, after Keystone's default policies.

Targets are flat mappings such as ``{"user.id": ..., "user.domain_id": ...}``; list actions are
checked against the caller's scope (``{"domain_id": ...}``) and their results filtered by it.
"""

from __future__ import annotations

from twinstack.core.policy import (
    ADMIN,
    ADMIN_OR_SYSTEM_READER,
    Rule,
    admin_or_reader_of_domain,
    all_of,
    any_of,
    anyone,
    caller_is,
    domain_scoped_to,
    not_restricted_app_cred,
    project_scoped_to,
    role,
)

_project_user = project_scoped_to("project.id")
_token_subject_or_admin = any_of(ADMIN_OR_SYSTEM_READER, role("service"), caller_is("token.user_id"))

RULES: dict[str, Rule] = {
    # domains
    "identity:get_domain": any_of(
        admin_or_reader_of_domain("domain.id"),
        domain_scoped_to("domain.id"),
        lambda c, t: c.project_domain_id is not None and c.project_domain_id == t.get("domain.id"),
    ),
    "identity:list_domains": ADMIN_OR_SYSTEM_READER,
    "identity:create_domain": ADMIN,
    "identity:update_domain": ADMIN,
    "identity:delete_domain": ADMIN,
    # projects
    "identity:get_project": any_of(admin_or_reader_of_domain("project.domain_id"), _project_user),
    "identity:list_projects": admin_or_reader_of_domain("domain_id"),
    "identity:list_user_projects": any_of(admin_or_reader_of_domain("user.domain_id"), caller_is("user.id")),
    "identity:create_project": ADMIN,
    "identity:update_project": ADMIN,
    "identity:delete_project": ADMIN,
    "identity:project_tags": any_of(admin_or_reader_of_domain("project.domain_id"), _project_user),
    "identity:update_project_tags": ADMIN,
    # users
    "identity:get_user": any_of(admin_or_reader_of_domain("user.domain_id"), caller_is("user.id")),
    "identity:list_users": admin_or_reader_of_domain("domain_id"),
    "identity:create_user": ADMIN,
    "identity:update_user": ADMIN,
    "identity:delete_user": ADMIN,
    "identity:change_password": caller_is("user.id"),
    # groups
    "identity:get_group": admin_or_reader_of_domain("group.domain_id"),
    "identity:list_groups": admin_or_reader_of_domain("domain_id"),
    "identity:list_groups_for_user": any_of(admin_or_reader_of_domain("user.domain_id"), caller_is("user.id")),
    "identity:create_group": ADMIN,
    "identity:update_group": ADMIN,
    "identity:delete_group": ADMIN,
    "identity:list_users_in_group": admin_or_reader_of_domain("group.domain_id"),
    "identity:add_user_to_group": ADMIN,
    "identity:remove_user_from_group": ADMIN,
    "identity:check_user_in_group": admin_or_reader_of_domain("group.domain_id"),
    # roles and grants
    "identity:get_role": any_of(ADMIN_OR_SYSTEM_READER, role("reader")),
    "identity:list_roles": any_of(ADMIN_OR_SYSTEM_READER, role("reader")),
    "identity:create_role": ADMIN,
    "identity:update_role": ADMIN,
    "identity:delete_role": ADMIN,
    "identity:get_implied_role": ADMIN_OR_SYSTEM_READER,
    "identity:list_implied_roles": ADMIN_OR_SYSTEM_READER,
    "identity:list_role_inference_rules": ADMIN_OR_SYSTEM_READER,
    "identity:create_implied_role": ADMIN,
    "identity:delete_implied_role": ADMIN,
    "identity:check_grant": admin_or_reader_of_domain("target.domain_id"),
    "identity:list_grants": admin_or_reader_of_domain("target.domain_id"),
    "identity:create_grant": ADMIN,
    "identity:revoke_grant": ADMIN,
    "identity:list_role_assignments": any_of(
        admin_or_reader_of_domain("domain_id"), caller_is("user.id")
    ),
    "identity:list_system_grants": ADMIN_OR_SYSTEM_READER,
    # catalog
    "identity:get_service": ADMIN_OR_SYSTEM_READER,
    "identity:list_services": ADMIN_OR_SYSTEM_READER,
    "identity:create_service": ADMIN,
    "identity:update_service": ADMIN,
    "identity:delete_service": ADMIN,
    "identity:get_endpoint": ADMIN_OR_SYSTEM_READER,
    "identity:list_endpoints": ADMIN_OR_SYSTEM_READER,
    "identity:create_endpoint": ADMIN,
    "identity:update_endpoint": ADMIN,
    "identity:delete_endpoint": ADMIN,
    "identity:get_region": anyone,
    "identity:list_regions": anyone,
    "identity:create_region": ADMIN,
    "identity:update_region": ADMIN,
    "identity:delete_region": ADMIN,
    # trusts
    "identity:create_trust": all_of(caller_is("trust.trustor_user_id"), not_restricted_app_cred),
    "identity:list_trusts": ADMIN_OR_SYSTEM_READER,
    "identity:list_trusts_for_trustor": any_of(ADMIN_OR_SYSTEM_READER, caller_is("trust.trustor_user_id")),
    "identity:list_trusts_for_trustee": any_of(ADMIN_OR_SYSTEM_READER, caller_is("trust.trustee_user_id")),
    "identity:get_trust": any_of(
        ADMIN_OR_SYSTEM_READER, caller_is("trust.trustor_user_id"), caller_is("trust.trustee_user_id")
    ),
    "identity:delete_trust": any_of(ADMIN, caller_is("trust.trustor_user_id")),
    "identity:list_roles_for_trust": any_of(
        ADMIN_OR_SYSTEM_READER, caller_is("trust.trustor_user_id"), caller_is("trust.trustee_user_id")
    ),
    "identity:get_role_for_trust": any_of(
        ADMIN_OR_SYSTEM_READER, caller_is("trust.trustor_user_id"), caller_is("trust.trustee_user_id")
    ),
    # application credentials
    "identity:get_application_credential": any_of(ADMIN_OR_SYSTEM_READER, caller_is("user.id")),
    "identity:list_application_credentials": any_of(ADMIN_OR_SYSTEM_READER, caller_is("user.id")),
    "identity:create_application_credential": all_of(caller_is("user.id"), not_restricted_app_cred),
    "identity:delete_application_credential": any_of(ADMIN, caller_is("user.id")),
    "identity:list_access_rules": any_of(ADMIN_OR_SYSTEM_READER, caller_is("user.id")),
    "identity:get_access_rule": any_of(ADMIN_OR_SYSTEM_READER, caller_is("user.id")),
    "identity:delete_access_rule": any_of(ADMIN, caller_is("user.id")),
    # credentials
    "identity:get_credential": any_of(ADMIN_OR_SYSTEM_READER, caller_is("credential.user_id")),
    "identity:list_credentials": anyone,
    "identity:create_credential": any_of(ADMIN, caller_is("credential.user_id")),
    "identity:update_credential": any_of(ADMIN, caller_is("credential.user_id")),
    "identity:delete_credential": any_of(ADMIN, caller_is("credential.user_id")),
    # tokens
    "identity:validate_token": _token_subject_or_admin,
    "identity:check_token": _token_subject_or_admin,
    "identity:revoke_token": any_of(ADMIN, role("service"), caller_is("token.user_id")),
    "identity:get_auth_catalog": anyone,
    "identity:get_auth_projects": anyone,
    "identity:get_auth_domains": anyone,
    "identity:get_auth_system": anyone,
}
