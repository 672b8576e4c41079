"""Users and groups over the identity API: bodies, passwords, memberships, policy and token revocation.

Every test runs on SQLite and on PostgreSQL (the ``cloud`` fixture is overridden here).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from tests.api.identity_people import (
    PASSWORD,
    grant,
    is_valid,
    later,
    login,
    login_status,
    make_domain,
    make_group,
    make_project,
    make_user,
)
from tests.conftest import Api
from tests.databases import on_each_database as cloud  # noqa: F401  (runs every test on both databases)
from twinstack.db.models.identity import ApplicationCredential, RoleAssignment, User

# --- users ---------------------------------------------------------------------------------------


def test_a_user_is_shown_without_password_and_with_extra_attributes_flat(api: Api) -> None:
    created = api.post("/users", json={"user": {"name": "alice", "password": "s3cret", "email": "alice@example.org",
                                                "description": "Alice"}})
    assert created.status_code == 201
    user = created.json()["user"]
    assert user["domain_id"] == "default"  # the caller's (project-scoped admin's) domain
    assert user["email"] == "alice@example.org"
    assert user["description"] == "Alice"
    assert user["enabled"] is True and user["options"] == {} and user["password_expires_at"] is None
    assert "password" not in user and "default_project_id" not in user
    assert user["links"]["self"].endswith(f"/identity/v3/users/{user['id']}")
    assert api.get(f"/users/{user['id']}").json()["user"] == user

    project = make_project(api, "demo")
    with_project = make_user(api, "bob", default_project_id=project)
    assert api.get(f"/users/{with_project}").json()["user"]["default_project_id"] == project


def test_a_new_user_logs_in_with_their_password(api: Api) -> None:
    user = make_user(api, "alice")
    assert is_valid(api, login(api, user))
    assert login_status(api, user, password="wrong") == 401


def test_a_password_is_kept_only_as_a_salted_scrypt_hash(api: Api) -> None:
    first, second = make_user(api, "alice"), make_user(api, "bob")
    with api.cloud.sessions() as session:
        hashes = [session.get(User, user_id).password_hash for user_id in (first, second)]  # type: ignore[union-attr]
    for stored in hashes:
        scheme, cost, _r, _p, salt, digest = stored.split("$")
        assert (scheme, int(cost)) == ("scrypt", api.cloud.settings.identity.password_kdf_n)
        assert PASSWORD not in stored and salt and digest
    assert hashes[0] != hashes[1]  # same password, different salt


def test_user_names_are_unique_within_a_domain_only(api: Api) -> None:
    make_user(api, "alice")
    clash = api.post("/users", json={"user": {"name": "alice"}})
    assert clash.status_code == 409
    assert "Duplicate entry" in clash.json()["error"]["message"]
    make_user(api, "alice", make_domain(api, "acme"))


def test_a_user_in_an_unknown_domain_is_404(api: Api) -> None:
    assert api.post("/users", json={"user": {"name": "alice", "domain_id": "nope"}}).status_code == 404


def test_a_user_is_found_by_name_after_a_404_on_the_name_as_id(api: Api) -> None:
    user = make_user(api, "alice")
    assert api.get("/users/alice").status_code == 404
    assert [u["id"] for u in api.get("/users", params={"name": "alice"}).json()["users"]] == [user]


def test_users_are_filtered_by_domain_enabled_and_password_expiry(api: Api) -> None:
    acme = make_domain(api, "acme")
    wile = make_user(api, "wile", acme)
    road = make_user(api, "road", acme, enabled=False)
    with api.cloud.transaction() as session:
        session.get(User, wile).password_expires_at = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)  # type: ignore[union-attr]

    def ids(**params: str) -> set[str]:
        return {u["id"] for u in api.get("/users", params=params).json()["users"]}

    assert ids(domain_id=acme) == {wile, road}
    assert ids(domain_id=acme, enabled="false") == {road}
    assert ids(password_expires_at="lt:2031-01-01T00:00:00Z") == {wile}
    assert ids(password_expires_at="gt:2031-01-01T00:00:00Z") == set()
    assert ids(password_expires_at="2030-01-01T00:00:00Z") == {wile}
    assert api.get("/users", params={"password_expires_at": "soon"}).status_code == 400


def test_the_federation_filters_find_no_local_user(api: Api) -> None:
    """Keystone keeps ``idp_id``, ``protocol_id`` and ``unique_id`` filters for users with a federated identity;
    this cloud has no identity provider, so no user has one."""
    make_user(api, "local")
    for name in ("idp_id", "protocol_id", "unique_id"):
        listed = api.get("/users", params={name: "anything"})
        assert listed.status_code == 200
        assert listed.json()["users"] == [], name


def test_a_user_is_updated_but_keeps_their_domain_and_id(api: Api) -> None:
    user = make_user(api, "alice", email="old@example.org")
    updated = api.patch(f"/users/{user}", json={"user": {"name": "alicia", "email": "new@example.org",
                                                         "options": {"ignore_password_expiry": True}}})
    assert updated.status_code == 200
    body = updated.json()["user"]
    assert (body["name"], body["email"], body["options"]) == ("alicia", "new@example.org",
                                                              {"ignore_password_expiry": True})
    assert api.patch(f"/users/{user}", json={"user": {"domain_id": make_domain(api, "acme")}}).status_code == 400
    assert api.patch(f"/users/{user}", json={"user": {"id": "other"}}).status_code == 400
    assert api.patch(f"/users/{user}", json={"user": {"name": None}}).status_code == 400
    assert api.patch(f"/users/{user}", json={"user": {"options": {"favourite_colour": "red"}}}).status_code == 400
    assert api.patch(f"/users/{user}", json={"user": {"default_project_id": "default"}}).status_code == 400


def test_disabling_a_user_revokes_their_tokens_and_refuses_their_logins(api: Api) -> None:
    user = make_user(api, "alice")
    token = login(api, user)
    assert api.patch(f"/users/{user}", json={"user": {"enabled": False}}).status_code == 200
    assert not is_valid(api, token)
    assert login_status(api, user) == 401
    api.patch(f"/users/{user}", json={"user": {"enabled": True}})
    later(api)
    assert is_valid(api, login(api, user))


def test_an_admin_password_reset_revokes_the_users_tokens(api: Api) -> None:
    user = make_user(api, "alice")
    token = login(api, user)
    api.patch(f"/users/{user}", json={"user": {"password": "reset-1"}})
    assert not is_valid(api, token)
    later(api)
    assert login_status(api, user) == 401
    assert is_valid(api, login(api, user, password="reset-1"))


def test_a_user_changes_their_own_password_with_the_original_one(api: Api) -> None:
    user = make_user(api, "alice")
    token = login(api, user)
    wrong = api.post(f"/users/{user}/password", token=token,
                     json={"user": {"original_password": "nope", "password": "new-pass-1"}})
    assert wrong.status_code == 401
    assert is_valid(api, token)

    changed = api.post(f"/users/{user}/password", token=token,
                       json={"user": {"original_password": PASSWORD, "password": "new-pass-1"}})
    assert changed.status_code == 204
    assert not is_valid(api, token)
    later(api)
    assert login_status(api, user) == 401
    assert is_valid(api, login(api, user, password="new-pass-1"))


def test_a_password_change_needs_no_token_but_a_token_must_be_the_users_own(api: Api) -> None:
    alice = make_user(api, "alice")
    bob = make_user(api, "bob")
    body = {"user": {"original_password": PASSWORD, "password": "new-pass-1"}}
    assert api.post(f"/users/{alice}/password", token=login(api, bob), json=body).status_code == 403
    no_token = api.http.post(f"/identity/v3/users/{alice}/password", json=body)
    assert no_token.status_code == 204
    assert api.get(f"/users/{alice}/password").status_code == 405


def test_deleting_a_user_revokes_tokens_and_removes_grants_memberships_and_credentials(api: Api) -> None:
    project = make_project(api, "demo")
    user = make_user(api, "alice")
    group = make_group(api, "devs")
    api.put(f"/groups/{group}/users/{user}")
    grant(api, "member", user=user, project=project)
    token = login(api, user, scope={"project": {"id": project}})
    with api.cloud.transaction() as session:
        session.add(ApplicationCredential(name="ci", user_id=user, project_id=project, secret_hash="x",
                                          created_at=dt.datetime.now(dt.UTC)))

    assert api.delete(f"/users/{user}").status_code == 204
    assert not is_valid(api, token)
    assert api.get(f"/users/{user}").status_code == 404
    assert api.get(f"/groups/{group}/users").json()["users"] == []
    with api.cloud.sessions() as session:
        assert session.scalars(select(RoleAssignment).where(RoleAssignment.actor_id == user)).all() == []
        assert session.scalars(select(ApplicationCredential).where(ApplicationCredential.user_id == user)).all() == []


def test_a_users_projects_come_from_direct_group_and_inherited_grants(api: Api) -> None:
    direct = make_project(api, "direct")
    via_group = make_project(api, "via-group")
    parent = make_project(api, "parent")
    inherited = make_project(api, "inherited", parent_id=parent)
    acme = make_domain(api, "acme")
    in_acme = make_project(api, "in-acme", domain_id=acme, enabled=False)
    make_project(api, "unrelated")
    user = make_user(api, "alice")
    group = make_group(api, "devs")
    api.put(f"/groups/{group}/users/{user}")
    grant(api, "member", user=user, project=direct)
    grant(api, "reader", group=group, project=via_group)
    grant(api, "member", user=user, project=parent, inherited=True)
    grant(api, "reader", group=group, domain=acme, inherited=True)

    listed = api.get(f"/users/{user}/projects")
    assert listed.status_code == 200
    assert {p["name"] for p in listed.json()["projects"]} == {"direct", "via-group", "inherited", "in-acme"}
    assert {p["id"] for p in api.get(f"/users/{user}/projects", params={"enabled": "false"}).json()["projects"]} == {
        in_acme}

    own = api.get(f"/users/{user}/projects", token=login(api, user, scope={"project": {"id": direct}}))
    assert own.status_code == 200 and len(own.json()["projects"]) == 4
    assert inherited in {p["id"] for p in own.json()["projects"]}
    stranger = make_user(api, "mallory")
    assert api.get(f"/users/{user}/projects", token=login(api, stranger)).status_code == 403


def test_a_user_may_see_themselves_but_not_others_nor_the_user_list(api: Api) -> None:
    alice = make_user(api, "alice")
    bob = make_user(api, "bob")
    token = login(api, alice)
    assert api.get(f"/users/{alice}", token=token).status_code == 200
    assert api.get(f"/users/{bob}", token=token).status_code == 403
    assert api.get("/users", token=token).status_code == 403
    assert api.patch(f"/users/{alice}", token=token, json={"user": {"enabled": True}}).status_code == 403
    assert api.delete(f"/users/{bob}", token=token).status_code == 403


def test_a_domain_reader_lists_the_users_and_groups_of_its_domain_only(api: Api) -> None:
    acme = make_domain(api, "acme")
    reader = make_user(api, "auditor", acme)
    wile = make_user(api, "wile", acme)
    make_user(api, "alice")
    coyotes = make_group(api, "coyotes", acme)
    make_group(api, "devs")
    grant(api, "reader", user=reader, domain=acme)
    token = login(api, reader, scope={"domain": {"id": acme}})

    assert {u["id"] for u in api.get("/users", token=token).json()["users"]} == {reader, wile}
    assert [g["id"] for g in api.get("/groups", token=token).json()["groups"]] == [coyotes]
    assert api.get("/users", params={"domain_id": "default"}, token=token).status_code == 403
    assert api.get(f"/users/{wile}", token=token).status_code == 200


# --- groups --------------------------------------------------------------------------------------


def test_a_group_is_created_shown_listed_updated_and_deleted(api: Api) -> None:
    created = api.post("/groups", json={"group": {"name": "devs", "description": "Developers"}})
    assert created.status_code == 201
    group = created.json()["group"]
    assert set(group) == {"id", "name", "domain_id", "description", "links"}
    assert group["domain_id"] == "default"
    assert api.get(f"/groups/{group['id']}").json()["group"] == group
    acme = make_domain(api, "acme")
    make_group(api, "devs", acme)
    assert {g["domain_id"] for g in api.get("/groups", params={"name": "devs"}).json()["groups"]} == {"default", acme}
    assert [g["id"] for g in api.get("/groups", params={"domain_id": "default"}).json()["groups"]] == [group["id"]]

    assert api.post("/groups", json={"group": {"name": "devs"}}).status_code == 409
    renamed = api.patch(f"/groups/{group['id']}", json={"group": {"name": "ops"}})
    assert renamed.status_code == 200 and renamed.json()["group"]["name"] == "ops"
    assert api.patch(f"/groups/{group['id']}", json={"group": {"domain_id": acme}}).status_code == 400
    assert api.delete(f"/groups/{group['id']}").status_code == 204
    assert api.get(f"/groups/{group['id']}").status_code == 404


def test_members_are_added_checked_listed_and_removed(api: Api) -> None:
    group = make_group(api, "devs")
    alice = make_user(api, "alice")
    bob = make_user(api, "bob")
    assert api.put(f"/groups/{group}/users/{alice}").status_code == 204
    assert api.put(f"/groups/{group}/users/{alice}").status_code == 204  # idempotent
    assert api.head(f"/groups/{group}/users/{alice}").status_code == 204
    assert api.head(f"/groups/{group}/users/{bob}").status_code == 404
    assert [u["id"] for u in api.get(f"/groups/{group}/users").json()["users"]] == [alice]
    assert [g["id"] for g in api.get(f"/users/{alice}/groups").json()["groups"]] == [group]
    assert api.get(f"/users/{bob}/groups").json()["groups"] == []

    assert api.delete(f"/groups/{group}/users/{alice}").status_code == 204
    assert api.delete(f"/groups/{group}/users/{alice}").status_code == 404
    assert api.put(f"/groups/{group}/users/nobody").status_code == 404
    assert api.put(f"/groups/nothing/users/{alice}").status_code == 404


def test_a_user_sees_their_own_groups_but_not_the_groups_members(api: Api) -> None:
    group = make_group(api, "devs")
    alice = make_user(api, "alice")
    api.put(f"/groups/{group}/users/{alice}")
    token = login(api, alice)
    assert [g["id"] for g in api.get(f"/users/{alice}/groups", token=token).json()["groups"]] == [group]
    assert api.get(f"/groups/{group}/users", token=token).status_code == 403
    assert api.put(f"/groups/{group}/users/{alice}", token=token).status_code == 403


def test_leaving_a_group_revokes_the_users_tokens(api: Api) -> None:
    project = make_project(api, "demo")
    group = make_group(api, "devs")
    alice = make_user(api, "alice")
    bob = make_user(api, "bob")
    for user in (alice, bob):
        api.put(f"/groups/{group}/users/{user}")
    grant(api, "member", group=group, project=project)
    alices = login(api, alice, scope={"project": {"id": project}})
    bobs = login(api, bob, scope={"project": {"id": project}})

    api.delete(f"/groups/{group}/users/{alice}")
    assert not is_valid(api, alices)
    assert is_valid(api, bobs)
    later(api)
    assert login_status(api, alice, scope={"project": {"id": project}}) == 401


def test_deleting_a_group_removes_its_grants_and_revokes_its_members_tokens(api: Api) -> None:
    project = make_project(api, "demo")
    group = make_group(api, "devs")
    alice = make_user(api, "alice")
    api.put(f"/groups/{group}/users/{alice}")
    grant(api, "member", group=group, project=project)
    token = login(api, alice, scope={"project": {"id": project}})

    assert api.delete(f"/groups/{group}").status_code == 204
    assert not is_valid(api, token)
    assert api.get(f"/users/{alice}/projects").json()["projects"] == []
    with api.cloud.sessions() as session:
        assert session.scalars(select(RoleAssignment).where(RoleAssignment.actor_id == group)).all() == []
