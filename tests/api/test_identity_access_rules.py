"""Application credentials with access rules: the user's rules, and every service holding their tokens to them.

Every test runs on SQLite and on PostgreSQL (the ``cloud`` fixture is overridden here).
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.test_identity_trusts_appcreds import Person, app_cred_login, create_app_cred, make_user
from tests.conftest import Api
from tests.databases import on_each_database as cloud  # noqa: F401  (runs every test on both databases)

FLAVORS = {"service": "compute", "method": "GET", "path": "/v2.1/flavors/detail"}
ONE_FLAVOR = {"service": "compute", "method": "GET", "path": "/v2.1/flavors/{flavor_id}"}


def ruled_token(api: Api, person: Person, name: str, rules: list[dict[str, Any]]) -> tuple[dict[str, Any], str]:
    """A credential of ``person`` limited to ``rules``, and a token issued with it."""
    response = create_app_cred(api, person, name=name, access_rules=rules)
    assert response.status_code == 201, response.text
    cred = response.json()["application_credential"]
    login = app_cred_login(api, cred["id"], cred["secret"])
    assert login.status_code == 201, login.text
    return cred, login.headers["X-Subject-Token"]


def call(api: Api, method: str, path: str, token: str) -> httpx.Response:
    return api.http.request(method, path, headers={"X-Auth-Token": token})


def test_a_credential_keeps_its_rules_and_its_tokens_carry_them(api: Api) -> None:
    alice = make_user(api, "alice")
    cred, token = ruled_token(api, alice, "flavors", [FLAVORS, ONE_FLAVOR])
    kept = [{k: r[k] for k in ("service", "method", "path")} for r in cred["access_rules"]]
    assert kept == [FLAVORS, ONE_FLAVOR]
    assert all(len(r["id"]) >= 32 for r in cred["access_rules"])
    shown = api.get(f"/users/{alice.id}/application_credentials/{cred['id']}", token=alice.token).json()
    assert shown["application_credential"]["access_rules"] == cred["access_rules"]

    body = api.get("/auth/tokens", headers={"X-Auth-Token": token, "X-Subject-Token": token}).json()["token"]
    assert body["application_credential"]["access_rules"] == cred["access_rules"]


def test_a_ruled_token_makes_only_the_requests_its_rules_allow_on_every_service(api: Api) -> None:
    alice = make_user(api, "alice")
    _, token = ruled_token(api, alice, "flavors", [FLAVORS, ONE_FLAVOR])
    listed = call(api, "GET", "/compute/v2.1/flavors/detail", token)
    assert listed.status_code == 200, listed.text
    flavor_id = listed.json()["flavors"][0]["id"]
    assert call(api, "GET", f"/compute/v2.1/flavors/{flavor_id}", token).status_code == 200

    for method, path in (
        ("GET", "/compute/v2.1/os-keypairs"),
        ("GET", "/compute/v2.1/flavors"),
        ("POST", "/compute/v2.1/os-keypairs"),
        ("GET", "/image/v2/images"),
        ("GET", "/network/v2.0/networks"),
        ("GET", "/identity/v3/auth/catalog"),
    ):
        refused = call(api, method, path, token)
        assert refused.status_code == 401, (method, path, refused.text)
        assert refused.headers["WWW-Authenticate"].startswith("Keystone uri=")
    # a service may always ask the identity service what the token is
    assert api.get("/auth/tokens", headers={"X-Auth-Token": token, "X-Subject-Token": token}).status_code == 200


def test_a_credential_without_rules_is_not_limited(api: Api) -> None:
    alice = make_user(api, "alice")
    _, token = ruled_token(api, alice, "any", [])
    assert call(api, "GET", "/compute/v2.1/flavors", token).status_code == 200
    assert call(api, "GET", "/image/v2/images", token).status_code == 200


def test_rules_belong_to_the_user_shared_by_their_credentials(api: Api) -> None:
    alice = make_user(api, "alice")
    first, _ = ruled_token(api, alice, "first", [FLAVORS])
    rule_id = first["access_rules"][0]["id"]
    same = create_app_cred(api, alice, name="same", access_rules=[FLAVORS]).json()["application_credential"]
    by_id = create_app_cred(api, alice, name="by-id", access_rules=[{"id": rule_id}]).json()["application_credential"]
    assert same["access_rules"][0]["id"] == rule_id == by_id["access_rules"][0]["id"]

    listed = api.get(f"/users/{alice.id}/access_rules", token=alice.token)
    assert listed.status_code == 200
    assert [r["id"] for r in listed.json()["access_rules"]] == [rule_id]
    rule = api.get(f"/users/{alice.id}/access_rules/{rule_id}", token=alice.token).json()["access_rule"]
    assert {k: rule[k] for k in ("id", "service", "method", "path")} == {"id": rule_id, **FLAVORS}
    assert rule["links"]["self"].endswith(f"/v3/users/{alice.id}/access_rules/{rule_id}")
    assert api.get(f"/users/{alice.id}/access_rules?service=image", token=alice.token).json()["access_rules"] == []
    assert (
        len(
            api.get(f"/users/{alice.id}/access_rules?method=GET&service=compute", token=alice.token).json()[
                "access_rules"
            ]
        )
        == 1
    )


def test_another_users_rule_is_neither_seen_nor_borrowed(api: Api) -> None:
    alice = make_user(api, "alice")
    carol = make_user(api, "carol")
    cred, _ = ruled_token(api, alice, "flavors", [FLAVORS])
    rule_id = cred["access_rules"][0]["id"]
    assert api.get(f"/users/{alice.id}/access_rules", token=carol.token).status_code == 403
    assert api.get(f"/users/{carol.id}/access_rules/{rule_id}", token=carol.token).status_code == 404
    assert create_app_cred(api, carol, access_rules=[{"id": rule_id}]).status_code == 404
    assert api.get(f"/users/{alice.id}/access_rules").status_code == 200  # the admin may look


def test_malformed_rules_are_400_and_store_nothing(api: Api) -> None:
    alice = make_user(api, "alice")
    for rules in (
        [{"service": "compute", "method": "GET"}],
        [{"service": "compute", "method": "get", "path": "/x"}],
        [{"service": "compute", "method": "GET", "path": "no-slash"}],
        [FLAVORS, {"service": "compute", "method": "GET", "path": "/x", "colour": "red"}],
        [FLAVORS, {"service": "compute", "method": "GET", "path": "/" + "p" * 225}],
    ):
        response = create_app_cred(api, alice, access_rules=rules)
        assert response.status_code == 400, (rules, response.text)
        assert response.json()["error"]["code"] == 400
    assert create_app_cred(api, alice, access_rules=[{"id": "no-such-rule"}]).status_code == 404
    assert api.get(f"/users/{alice.id}/access_rules", token=alice.token).json()["access_rules"] == []
    assert (
        api.get(f"/users/{alice.id}/application_credentials", token=alice.token).json()["application_credentials"] == []
    )


def test_a_rule_in_use_cannot_be_deleted_but_outlives_its_credentials(api: Api) -> None:
    alice = make_user(api, "alice")
    cred, _ = ruled_token(api, alice, "flavors", [FLAVORS])
    rule_path = f"/users/{alice.id}/access_rules/{cred['access_rules'][0]['id']}"
    refused = api.delete(rule_path, token=alice.token)
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "May not delete access rule in use"

    assert api.delete(f"/users/{alice.id}/application_credentials/{cred['id']}", token=alice.token).status_code == 204
    assert api.get(rule_path, token=alice.token).status_code == 200
    assert api.delete(rule_path, token=alice.token).status_code == 204
    assert api.get(rule_path, token=alice.token).status_code == 404
    assert api.delete(rule_path, token=alice.token).status_code == 404


def test_deleting_the_user_deletes_their_rules(api: Api) -> None:
    alice = make_user(api, "alice")
    cred, _ = ruled_token(api, alice, "flavors", [FLAVORS])
    assert api.delete(f"/users/{alice.id}").status_code == 204
    assert api.get(f"/users/{alice.id}/access_rules/{cred['access_rules'][0]['id']}").status_code == 404
