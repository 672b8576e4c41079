"""Delegation over the identity API: trusts (OS-TRUST) and application credentials, in-process.

Every test runs on SQLite and on PostgreSQL (the ``cloud`` fixture is overridden here).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import FAST_KDF, Api
from tests.databases import on_each_database as cloud  # noqa: F401  (runs every test on both databases)
from twinstack.core.clock import utcnow
from twinstack.core.identity.assignments import USER_PROJECT
from twinstack.core.identity.passwords import hash_password
from twinstack.db.models.identity import Project, Role, RoleAssignment, User

PASSWORD = "s3cret-pass"




@dataclass
class Person:
    id: str
    name: str
    token: str


def ensure_project(api: Api, name: str) -> str:
    with api.cloud.transaction() as session:
        project = session.scalar(select(Project).where(Project.name == name, Project.domain_id == "default"))
        if project is None:
            project = Project(name=name, domain_id="default", description="", enabled=True, tags=[], options={},
                              extra={})
            session.add(project)
            session.flush()
        return project.id


def grant(api: Api, user_id: str, project_id: str, role_name: str) -> None:
    with api.cloud.transaction() as session:
        role = session.scalar(select(Role).where(Role.name == role_name, Role.scope_key == ""))
        assert role is not None
        session.add(RoleAssignment(kind=USER_PROJECT, actor_id=user_id, target_id=project_id, role_id=role.id,
                                   inherited=False))


def revoke_grants(api: Api, user_id: str, project_id: str) -> None:
    with api.cloud.transaction() as session:
        for row in session.scalars(select(RoleAssignment).where(RoleAssignment.actor_id == user_id,
                                                                RoleAssignment.target_id == project_id)):
            session.delete(row)


def make_user(api: Api, name: str, project: str | None = "demo", roles: tuple[str, ...] = ("member",)) -> Person:
    """A user in the Default domain (rows written directly), with roles on ``project``, logged in there."""
    with api.cloud.transaction() as session:
        user = User(name=name, domain_id="default", enabled=True, password_hash=hash_password(PASSWORD, FAST_KDF),
                    created_at=utcnow(api.cloud.clock), options={}, extra={})
        session.add(user)
        session.flush()
        user_id = user.id
    if project is not None:
        project_id = ensure_project(api, project)
        for role in roles:
            grant(api, user_id, project_id, role)
        token = api.login(name, PASSWORD, project=project)
    else:
        token = api.login(name, PASSWORD, scope="unscoped")
    return Person(user_id, name, token)


def role_id(api: Api, name: str) -> str:
    with api.cloud.sessions() as session:
        role = session.scalar(select(Role).where(Role.name == name))
        assert role is not None
        return role.id


def password_auth(name: str, scope: Any = None) -> dict[str, Any]:
    auth: dict[str, Any] = {"identity": {"methods": ["password"], "password": {"user": {
        "name": name, "domain": {"id": "default"}, "password": PASSWORD}}}}
    if scope is not None:
        auth["scope"] = scope
    return {"auth": auth}


def issue(api: Api, body: dict[str, Any]) -> httpx.Response:
    return api.http.post("/identity/v3/auth/tokens", json=body)


def trust_login(api: Api, trustee: str, trust_id: str) -> httpx.Response:
    return issue(api, password_auth(trustee, {"OS-TRUST:trust": {"id": trust_id}}))


@pytest.fixture
def demo(api: Api) -> tuple[Person, Person]:
    """alice (member of demo) and bob (no roles anywhere)."""
    return make_user(api, "alice"), make_user(api, "bob", project=None)


def create_trust(api: Api, trustor: Person, trustee: Person, **extra: Any) -> httpx.Response:
    body = {"trustor_user_id": trustor.id, "trustee_user_id": trustee.id, "impersonation": False,
            "project_id": ensure_project(api, "demo"), "roles": [{"name": "member"}]} | extra
    return api.post("/OS-TRUST/trusts", token=trustor.token, json={"trust": body})


# trusts


def test_trustor_creates_a_trust_shaped_as_keystone_answers(api: Api, demo: tuple[Person, Person]) -> None:
    alice, bob = demo
    response = create_trust(api, alice, bob)
    assert response.status_code == 201, response.text
    trust = response.json()["trust"]
    assert trust["trustor_user_id"] == alice.id
    assert trust["trustee_user_id"] == bob.id
    assert trust["project_id"] == ensure_project(api, "demo")
    assert trust["impersonation"] is False
    assert trust["expires_at"] is None and trust["remaining_uses"] is None
    assert trust["allow_redelegation"] is False and trust["redelegation_count"] == 0
    assert [(r["id"], r["name"]) for r in trust["roles"]] == [(role_id(api, "member"), "member")]
    assert trust["roles"][0]["links"]["self"].endswith(f"/identity/v3/roles/{role_id(api, 'member')}")
    assert trust["links"]["self"] == f"http://127.0.0.1:8000/identity/v3/OS-TRUST/trusts/{trust['id']}"
    assert trust["roles_links"]["self"].endswith(f"/OS-TRUST/trusts/{trust['id']}/roles")


def test_trustee_gets_a_trust_scoped_token_with_the_delegated_roles(api: Api, demo: tuple[Person, Person]) -> None:
    alice, bob = demo
    trust = create_trust(api, alice, bob).json()["trust"]
    response = trust_login(api, "bob", trust["id"])
    assert response.status_code == 201, response.text
    token = response.json()["token"]
    assert token["user"]["id"] == bob.id
    assert token["project"]["name"] == "demo"
    assert {r["name"] for r in token["roles"]} == {"member", "reader"}
    assert token["OS-TRUST:trust"] == {"id": trust["id"], "impersonation": False,
                                       "trustor_user": {"id": alice.id}, "trustee_user": {"id": bob.id}}
    assert token["catalog"]
    trust_token = response.headers["X-Subject-Token"]
    assert api.get("/auth/catalog", token=trust_token).status_code == 200


def test_impersonation_makes_the_token_the_trustors(api: Api, demo: tuple[Person, Person]) -> None:
    alice, bob = demo
    trust = create_trust(api, alice, bob, impersonation=True).json()["trust"]
    token = trust_login(api, "bob", trust["id"]).json()["token"]
    assert token["user"]["id"] == alice.id
    assert token["OS-TRUST:trust"]["impersonation"] is True
    assert token["OS-TRUST:trust"]["trustee_user"] == {"id": bob.id}


def test_only_the_trustee_may_use_a_trust(api: Api, demo: tuple[Person, Person]) -> None:
    alice, bob = demo
    make_user(api, "carol", project=None)
    trust = create_trust(api, alice, bob).json()["trust"]
    assert trust_login(api, "carol", trust["id"]).status_code == 403


def test_remaining_uses_count_down_then_the_trust_is_gone(api: Api, demo: tuple[Person, Person]) -> None:
    alice, bob = demo
    trust = create_trust(api, alice, bob, remaining_uses=2).json()["trust"]
    assert trust["remaining_uses"] == 2
    assert trust_login(api, "bob", trust["id"]).status_code == 201
    assert api.get(f"/OS-TRUST/trusts/{trust['id']}", token=alice.token).json()["trust"]["remaining_uses"] == 1
    assert trust_login(api, "bob", trust["id"]).status_code == 201
    assert trust_login(api, "bob", trust["id"]).status_code == 404
    assert api.get(f"/OS-TRUST/trusts/{trust['id']}", token=alice.token).status_code == 404


def test_a_refused_trust_login_spends_no_use(api: Api, demo: tuple[Person, Person]) -> None:
    alice, bob = demo
    make_user(api, "carol", project=None)
    trust = create_trust(api, alice, bob, remaining_uses=1).json()["trust"]
    assert trust_login(api, "carol", trust["id"]).status_code == 403
    assert trust_login(api, "bob", trust["id"]).status_code == 201


def test_an_expired_trust_is_refused_and_its_tokens_end_with_it(api: Api, demo: tuple[Person, Person]) -> None:
    alice, bob = demo
    expires = utcnow(api.cloud.clock) + dt.timedelta(minutes=10)
    trust = create_trust(api, alice, bob, expires_at=expires.strftime("%Y-%m-%dT%H:%M:%S.%fZ")).json()["trust"]
    assert trust["expires_at"] == expires.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    token = trust_login(api, "bob", trust["id"]).json()["token"]
    assert token["expires_at"] == trust["expires_at"]
    api.cloud.clock.advance(601)  # type: ignore[attr-defined]
    assert trust_login(api, "bob", trust["id"]).status_code == 404
    assert api.get(f"/OS-TRUST/trusts/{trust['id']}", token=api.login("alice", PASSWORD, project="demo")
                   ).status_code == 404


def test_expiry_in_the_past_or_zero_uses_is_400(api: Api, demo: tuple[Person, Person]) -> None:
    alice, bob = demo
    past = (utcnow(api.cloud.clock) - dt.timedelta(seconds=1)).isoformat()
    assert create_trust(api, alice, bob, expires_at=past).status_code == 400
    assert create_trust(api, alice, bob, expires_at="not a time").status_code == 400
    assert create_trust(api, alice, bob, remaining_uses=0).status_code == 400
    missing = api.post("/OS-TRUST/trusts", token=alice.token, json={"trust": {"trustor_user_id": alice.id,
                                                                              "trustee_user_id": bob.id}})
    assert missing.status_code == 400  # impersonation is required
    assert missing.json()["error"]["code"] == 400


def test_refusals_follow_keystone(api: Api, demo: tuple[Person, Person]) -> None:
    alice, bob = demo
    bob_scoped = make_user(api, "bob2")
    # a trust in someone else's name
    assert create_trust(api, bob_scoped, bob, trustor_user_id=alice.id).status_code == 403
    # a project trust without roles
    assert create_trust(api, alice, bob, roles=[]).status_code == 403
    # a role the trustor does not hold, an unknown role, an unknown trustee, an unknown project
    not_held = create_trust(api, alice, bob, roles=[{"name": "admin"}])
    assert not_held.status_code == 404
    assert "Could not find role" in not_held.json()["error"]["message"]
    assert create_trust(api, alice, bob, roles=[{"id": "nope"}]).status_code == 404
    assert create_trust(api, alice, bob, trustee_user_id="nobody").status_code == 404
    assert create_trust(api, alice, bob, project_id="nowhere").status_code == 404
    # the same trust twice
    assert create_trust(api, alice, bob).status_code == 201
    assert create_trust(api, alice, bob).status_code == 409


def test_a_trust_scoped_token_cannot_delegate_further(api: Api, demo: tuple[Person, Person]) -> None:
    alice, bob = demo
    carol = make_user(api, "carol", project=None)
    trust = create_trust(api, alice, bob, impersonation=True, allow_redelegation=True).json()["trust"]
    assert trust["allow_redelegation"] is True and trust["redelegation_count"] == 3
    trust_token = trust_login(api, "bob", trust["id"]).headers["X-Subject-Token"]
    again = api.post("/OS-TRUST/trusts", token=trust_token, json={"trust": {
        "trustor_user_id": alice.id, "trustee_user_id": carol.id, "impersonation": False,
        "project_id": trust["project_id"], "roles": [{"name": "member"}]}})
    assert again.status_code == 403
    # nor an application credential, which would outlive the trust
    assert create_app_cred(api, Person(alice.id, "alice", trust_token)).status_code == 403


def test_trustor_losing_the_role_invalidates_new_trust_logins(api: Api, demo: tuple[Person, Person]) -> None:
    alice, bob = demo
    trust = create_trust(api, alice, bob).json()["trust"]
    revoke_grants(api, alice.id, trust["project_id"])
    response = trust_login(api, "bob", trust["id"])
    assert response.status_code == 403


def test_list_filters_and_visibility(api: Api, demo: tuple[Person, Person]) -> None:
    alice, bob = demo
    carol = make_user(api, "carol")
    mine = create_trust(api, alice, bob).json()["trust"]
    theirs = create_trust(api, carol, bob).json()["trust"]
    bob_token = api.login("bob", PASSWORD, scope="unscoped")

    by_trustor = api.get(f"/OS-TRUST/trusts?trustor_user_id={alice.id}", token=alice.token)
    assert by_trustor.status_code == 200
    assert [t["id"] for t in by_trustor.json()["trusts"]] == [mine["id"]]
    assert "roles" not in by_trustor.json()["trusts"][0]
    assert by_trustor.json()["links"]["self"]
    by_trustee = api.get(f"/OS-TRUST/trusts?trustee_user_id={bob.id}", token=bob_token)
    assert {t["id"] for t in by_trustee.json()["trusts"]} == {mine["id"], theirs["id"]}
    # not your trusts: 403
    assert api.get(f"/OS-TRUST/trusts?trustor_user_id={alice.id}", token=carol.token).status_code == 403
    assert api.get(f"/OS-TRUST/trusts?trustee_user_id={bob.id}", token=alice.token).status_code == 403
    # unfiltered: a user sees the trusts they are party to, the admin sees all
    assert [t["id"] for t in api.get("/OS-TRUST/trusts", token=alice.token).json()["trusts"]] == [mine["id"]]
    assert {t["id"] for t in api.get("/OS-TRUST/trusts").json()["trusts"]} == {mine["id"], theirs["id"]}


def test_show_and_roles_are_for_the_parties_and_admin(api: Api, demo: tuple[Person, Person]) -> None:
    alice, bob = demo
    carol = make_user(api, "carol")
    trust = create_trust(api, alice, bob).json()["trust"]
    path = f"/OS-TRUST/trusts/{trust['id']}"
    bob_token = api.login("bob", PASSWORD, scope="unscoped")
    for token in (alice.token, bob_token, api.admin_token):
        assert api.get(path, token=token).status_code == 200
    assert api.get(path, token=carol.token).status_code == 403
    assert api.get("/OS-TRUST/trusts/nope", token=alice.token).status_code == 404

    roles = api.get(f"{path}/roles", token=bob_token)
    assert roles.status_code == 200
    assert [r["name"] for r in roles.json()["roles"]] == ["member"]
    member = role_id(api, "member")
    assert api.head(f"{path}/roles/{member}", token=bob_token).status_code == 200
    assert api.get(f"{path}/roles/{member}", token=alice.token).json()["role"]["name"] == "member"
    assert api.head(f"{path}/roles/{role_id(api, 'admin')}", token=bob_token).status_code == 404
    assert api.get(f"{path}/roles", token=carol.token).status_code == 403


def test_delete_revokes_trust_tokens(api: Api, demo: tuple[Person, Person]) -> None:
    alice, bob = demo
    trust = create_trust(api, alice, bob).json()["trust"]
    trust_token = trust_login(api, "bob", trust["id"]).headers["X-Subject-Token"]
    assert api.get("/auth/catalog", token=trust_token).status_code == 200
    bob_token = api.login("bob", PASSWORD, scope="unscoped")
    assert api.delete(f"/OS-TRUST/trusts/{trust['id']}", token=bob_token).status_code == 403
    api.cloud.clock.advance(1)  # type: ignore[attr-defined]
    assert api.delete(f"/OS-TRUST/trusts/{trust['id']}", token=alice.token).status_code == 204
    assert api.get("/auth/catalog", token=trust_token).status_code == 401
    assert trust_login(api, "bob", trust["id"]).status_code == 404
    assert api.get(f"/OS-TRUST/trusts/{trust['id']}", token=alice.token).status_code == 404
    assert api.delete(f"/OS-TRUST/trusts/{trust['id']}", token=alice.token).status_code == 404
    assert api.get("/OS-TRUST/trusts", token=alice.token).json()["trusts"] == []
    # other tokens of the trustee and trustor live on
    assert api.get("/auth/catalog", token=alice.token).status_code == 200


def test_a_trust_token_cannot_be_rescoped(api: Api, demo: tuple[Person, Person]) -> None:
    alice, bob = demo
    trust = create_trust(api, alice, bob).json()["trust"]
    trust_token = trust_login(api, "bob", trust["id"]).headers["X-Subject-Token"]
    response = issue(api, {"auth": {"identity": {"methods": ["token"], "token": {"id": trust_token}},
                                    "scope": {"project": {"name": "demo", "domain": {"id": "default"}}}}})
    assert response.status_code == 403


# application credentials


def create_app_cred(api: Api, person: Person, name: str = "monitoring", **extra: Any) -> httpx.Response:
    return api.post(f"/users/{person.id}/application_credentials", token=person.token,
                    json={"application_credential": {"name": name} | extra})


def app_cred_login(api: Api, cred_id: str, secret: str) -> httpx.Response:
    return issue(api, {"auth": {"identity": {"methods": ["application_credential"],
                                             "application_credential": {"id": cred_id, "secret": secret}}}})


def test_create_returns_the_secret_once_and_defaults_to_the_tokens_roles(api: Api) -> None:
    alice = make_user(api, "alice")
    response = create_app_cred(api, alice, description="for the monitor")
    assert response.status_code == 201, response.text
    cred = response.json()["application_credential"]
    assert len(cred["secret"]) >= 64
    assert cred["user_id"] == alice.id
    assert cred["project_id"] == ensure_project(api, "demo")
    assert cred["description"] == "for the monitor"
    assert {r["name"] for r in cred["roles"]} == {"member", "reader"}
    assert cred["unrestricted"] is False and cred["access_rules"] == [] and cred["expires_at"] is None
    assert cred["links"]["self"].endswith(f"/v3/users/{alice.id}/application_credentials/{cred['id']}")

    shown = api.get(f"/users/{alice.id}/application_credentials/{cred['id']}", token=alice.token)
    assert shown.status_code == 200
    assert "secret" not in shown.json()["application_credential"]
    listed = api.get(f"/users/{alice.id}/application_credentials", token=alice.token).json()
    assert [c["id"] for c in listed["application_credentials"]] == [cred["id"]]
    assert all("secret" not in c for c in listed["application_credentials"])
    named = api.get(f"/users/{alice.id}/application_credentials?name=other", token=alice.token).json()
    assert named["application_credentials"] == []


def test_login_with_an_application_credential_by_id_or_by_name(api: Api) -> None:
    alice = make_user(api, "alice")
    cred = create_app_cred(api, alice, roles=[{"name": "reader"}]).json()["application_credential"]
    response = app_cred_login(api, cred["id"], cred["secret"])
    assert response.status_code == 201, response.text
    token = response.json()["token"]
    assert token["methods"] == ["application_credential"]
    assert token["user"]["id"] == alice.id
    assert token["project"]["name"] == "demo"
    assert [r["name"] for r in token["roles"]] == ["reader"]
    assert token["application_credential"] == {"id": cred["id"], "name": "monitoring", "restricted": True}

    by_name = issue(api, {"auth": {"identity": {"methods": ["application_credential"], "application_credential": {
        "name": "monitoring", "secret": cred["secret"], "user": {"name": "alice", "domain": {"name": "Default"}}}}}})
    assert by_name.status_code == 201
    assert app_cred_login(api, cred["id"], "wrong").status_code == 401


def test_a_chosen_secret_works(api: Api) -> None:
    alice = make_user(api, "alice")
    cred = create_app_cred(api, alice, secret="my-own-secret").json()["application_credential"]
    assert cred["secret"] == "my-own-secret"
    assert app_cred_login(api, cred["id"], "my-own-secret").status_code == 201


def test_roles_must_be_the_tokens_and_names_unique(api: Api) -> None:
    alice = make_user(api, "alice")
    assert create_app_cred(api, alice, roles=[{"name": "admin"}]).status_code == 400
    assert create_app_cred(api, alice, roles=[{"id": "nope"}]).status_code == 404
    assert create_app_cred(api, alice, access_rules=[{"service": "compute", "method": "FETCH",
                                                      "path": "/v2.1/servers"}]).status_code == 400
    past = (utcnow(api.cloud.clock) - dt.timedelta(hours=1)).isoformat()
    assert create_app_cred(api, alice, expires_at=past).status_code == 400
    assert create_app_cred(api, alice).status_code == 201
    assert create_app_cred(api, alice).status_code == 409


def test_only_the_user_themself_creates_theirs(api: Api) -> None:
    alice = make_user(api, "alice")
    carol = make_user(api, "carol")
    other = api.post(f"/users/{alice.id}/application_credentials", token=carol.token,
                     json={"application_credential": {"name": "x"}})
    assert other.status_code == 403
    # the admin may read and delete them, not create them
    assert api.post(f"/users/{alice.id}/application_credentials",
                    json={"application_credential": {"name": "x"}}).status_code == 403
    cred = create_app_cred(api, alice).json()["application_credential"]
    assert api.get(f"/users/{alice.id}/application_credentials/{cred['id']}", token=carol.token).status_code == 403
    assert api.get(f"/users/{alice.id}/application_credentials/{cred['id']}").status_code == 200
    assert api.get(f"/users/{carol.id}/application_credentials/{cred['id']}", token=carol.token).status_code == 404


def test_restricted_credentials_cannot_delegate_further(api: Api) -> None:
    alice = make_user(api, "alice")
    bob = make_user(api, "bob", project=None)
    restricted = create_app_cred(api, alice, name="r").json()["application_credential"]
    unrestricted = create_app_cred(api, alice, name="u", unrestricted=True).json()["application_credential"]
    restricted_token = app_cred_login(api, restricted["id"], restricted["secret"]).headers["X-Subject-Token"]
    unrestricted_token = app_cred_login(api, unrestricted["id"], unrestricted["secret"]).headers["X-Subject-Token"]

    as_restricted = Person(alice.id, "alice", restricted_token)
    assert create_app_cred(api, as_restricted, name="more").status_code == 403
    assert create_trust(api, as_restricted, bob).status_code == 403
    assert api.delete(f"/users/{alice.id}/application_credentials/{unrestricted['id']}",
                      token=restricted_token).status_code == 403

    as_unrestricted = Person(alice.id, "alice", unrestricted_token)
    assert create_app_cred(api, as_unrestricted, name="more").status_code == 201
    assert create_trust(api, as_unrestricted, bob).status_code == 201


def test_delete_revokes_its_tokens_and_refuses_logins(api: Api) -> None:
    alice = make_user(api, "alice")
    cred = create_app_cred(api, alice).json()["application_credential"]
    token = app_cred_login(api, cred["id"], cred["secret"]).headers["X-Subject-Token"]
    assert api.get("/auth/catalog", token=token).status_code == 200
    api.cloud.clock.advance(1)  # type: ignore[attr-defined]
    path = f"/users/{alice.id}/application_credentials/{cred['id']}"
    assert api.delete(path, token=alice.token).status_code == 204
    assert api.get("/auth/catalog", token=token).status_code == 401
    assert app_cred_login(api, cred["id"], cred["secret"]).status_code == 401
    assert api.get(path, token=alice.token).status_code == 404
    assert api.delete(path, token=alice.token).status_code == 404


def test_an_expired_credential_is_refused(api: Api) -> None:
    alice = make_user(api, "alice")
    expires = (utcnow(api.cloud.clock) + dt.timedelta(minutes=5)).isoformat()
    cred = create_app_cred(api, alice, expires_at=expires).json()["application_credential"]
    assert cred["expires_at"].endswith("Z")
    assert app_cred_login(api, cred["id"], cred["secret"]).status_code == 201
    api.cloud.clock.advance(301)  # type: ignore[attr-defined]
    assert app_cred_login(api, cred["id"], cred["secret"]).status_code == 401


def test_losing_the_role_refuses_the_credential(api: Api) -> None:
    alice = make_user(api, "alice")
    cred = create_app_cred(api, alice).json()["application_credential"]
    revoke_grants(api, alice.id, cred["project_id"])
    assert app_cred_login(api, cred["id"], cred["secret"]).status_code == 401
