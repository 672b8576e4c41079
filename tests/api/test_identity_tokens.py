"""Tokens over the identity API: issue, validate, check, revoke, and the faults around them."""

from __future__ import annotations

from tests.conftest import ADMIN_PASSWORD, Api


def test_password_login_returns_a_project_scoped_token_with_the_catalog(api: Api) -> None:
    response = api.http.post(
        "/identity/v3/auth/tokens",
        json={"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"name": "Default"}, "password": ADMIN_PASSWORD}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}},
    )
    assert response.status_code == 201
    token = response.json()["token"]
    assert response.headers["X-Subject-Token"]
    assert token["project"]["name"] == "admin"
    assert token["project"]["domain"] == {"id": "default", "name": "Default"}
    assert {r["name"] for r in token["roles"]} == {"admin", "member", "reader"}
    assert token["methods"] == ["password"]
    assert "identity" in [e["type"] for e in token["catalog"]]
    identity = next(e for e in token["catalog"] if e["type"] == "identity")
    assert {ep["interface"] for ep in identity["endpoints"]} == {"public", "internal", "admin"}
    assert token["expires_at"].endswith("Z") and token["issued_at"].endswith("Z")


def test_wrong_password_is_401_in_keystone_format_with_www_authenticate(api: Api) -> None:
    response = api.http.post(
        "/identity/v3/auth/tokens",
        json={"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"name": "Default"}, "password": "nope"}}}}},
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == 401
    assert response.json()["error"]["title"] == "Unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Keystone uri=")


def test_malformed_body_is_400_not_422(api: Api) -> None:
    response = api.http.post("/identity/v3/auth/tokens", json={"auth": {"identity": {}}})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 400


def test_validate_check_and_revoke(api: Api) -> None:
    subject = api.login("admin", ADMIN_PASSWORD, project="admin")
    shown = api.get("/auth/tokens", headers={"X-Auth-Token": api.admin_token, "X-Subject-Token": subject})
    assert shown.status_code == 200
    assert shown.headers["X-Subject-Token"] == subject
    assert api.head("/auth/tokens", headers={"X-Auth-Token": api.admin_token,
                                             "X-Subject-Token": subject}).status_code == 200
    assert api.delete("/auth/tokens", headers={"X-Auth-Token": api.admin_token,
                                               "X-Subject-Token": subject}).status_code == 204
    gone = api.get("/auth/tokens", headers={"X-Auth-Token": api.admin_token, "X-Subject-Token": subject})
    assert gone.status_code == 404
    assert api.get("/auth/catalog", token=subject).status_code == 401
    assert api.get("/auth/catalog").status_code == 200


def test_expired_token_is_refused(api: Api) -> None:
    token = api.login("admin", ADMIN_PASSWORD, project="admin")
    api.cloud.clock.advance(3601)  # type: ignore[attr-defined]
    assert api.get("/auth/catalog", token=token).status_code == 401


def test_missing_token_is_401(api: Api) -> None:
    response = api.http.get("/identity/v3/auth/catalog")
    assert response.status_code == 401
    assert "error" in response.json()


def test_rescope_keeps_expiry_and_chains_the_audit_ids(api: Api) -> None:
    unscoped = api.http.post("/identity/v3/auth/tokens", json={"auth": {"identity": {
        "methods": ["password"], "password": {"user": {"name": "admin", "domain": {"id": "default"},
                                                        "password": ADMIN_PASSWORD}}}, "scope": "unscoped"}})
    assert unscoped.status_code == 201
    assert "project" not in unscoped.json()["token"]
    first = unscoped.json()["token"]
    rescoped = api.http.post("/identity/v3/auth/tokens", json={"auth": {"identity": {
        "methods": ["token"], "token": {"id": unscoped.headers["X-Subject-Token"]}},
        "scope": {"system": {"all": True}}}})
    assert rescoped.status_code == 201
    body = rescoped.json()["token"]
    assert body["system"] == {"all": True}
    assert body["expires_at"] == first["expires_at"]
    assert body["audit_ids"][1] == first["audit_ids"][0]
    assert body["methods"] == ["password", "token"]
