"""``/v3/auth/*``: issue, validate, check and revoke tokens; the caller's catalog, projects, domains."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from twinstack.api.deps import CallerDep, CloudDep
from twinstack.api.identity.domains import render_domain
from twinstack.api.identity.links import list_links
from twinstack.api.identity.projects import render_project
from twinstack.api.openapi_doc import SUBJECT_TOKEN, faults
from twinstack.api.request_log import note_caller
from twinstack.api.timefmt import iso_micro
from twinstack.core.errors import BadRequest, Forbidden
from twinstack.core.identity.auth import AuthRequest, EntityRef
from twinstack.core.identity.catalog import CatalogEntry, service_catalog
from twinstack.core.identity.grants import snapshot_for
from twinstack.core.identity.projects import assignment_targets
from twinstack.core.identity.revocation import Revocation
from twinstack.core.identity.tokens import TokenPayload
from twinstack.db.models.identity import (
    ApplicationCredential,
    Domain,
    Project,
    User,
)

router = APIRouter()


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class DomainRef(_Open):
    id: str | None = None
    name: str | None = None


class UserRef(_Open):
    id: str | None = None
    name: str | None = None
    domain: DomainRef | None = None
    password: str | None = None


class PasswordMethod(_Open):
    user: UserRef


class TokenMethod(_Open):
    id: str


class AppCredMethod(_Open):
    id: str | None = None
    name: str | None = None
    secret: str
    user: UserRef | None = None


class Identity(_Open):
    methods: list[str]
    password: PasswordMethod | None = None
    token: TokenMethod | None = None
    application_credential: AppCredMethod | None = None


class ProjectScope(_Open):
    id: str | None = None
    name: str | None = None
    domain: DomainRef | None = None


class TrustScope(_Open):
    id: str


class Scope(_Open):
    project: ProjectScope | None = None
    domain: DomainRef | None = None
    system: dict[str, Any] | None = None
    trust: TrustScope | None = Field(None, alias="OS-TRUST:trust")


class Auth(_Open):
    identity: Identity
    scope: Scope | str | None = None


class AuthBody(_Open):
    auth: Auth


def _ref(user: UserRef | None) -> EntityRef | None:
    if user is None:
        return None
    domain = user.domain or DomainRef()
    if not user.id and not (user.name and (domain.id or domain.name)):
        raise BadRequest("Expecting to find a user id, or a user name with its domain.")
    return EntityRef(id=user.id, name=user.name, domain_id=domain.id, domain_name=domain.name)


def to_auth_request(body: AuthBody) -> AuthRequest:
    ident = body.auth.identity
    scope = body.auth.scope
    password = ident.password
    app_cred = ident.application_credential
    fields: dict[str, Any] = {"methods": tuple(ident.methods)}
    if "password" in ident.methods:
        if password is None:
            raise BadRequest("Expecting to find password in identity.")
        fields |= {"user": _ref(password.user), "password": password.user.password}
    if "token" in ident.methods:
        if ident.token is None:
            raise BadRequest("Expecting to find token in identity.")
        fields["token"] = ident.token.id
    if "application_credential" in ident.methods:
        if app_cred is None:
            raise BadRequest("Expecting to find application_credential in identity.")
        if not app_cred.id and not (app_cred.name and app_cred.user):
            raise BadRequest("Expecting an application credential id, or a name with its user.")
        fields |= {"app_cred_id": app_cred.id, "app_cred_name": app_cred.name,
                   "app_cred_secret": app_cred.secret, "user": _ref(app_cred.user)}
    if scope == "unscoped":
        fields["unscoped"] = True
    elif isinstance(scope, str):
        raise BadRequest("Invalid scope: expected an object or 'unscoped'.")
    elif scope is not None:
        named = [s for s in (scope.project, scope.domain, scope.system, scope.trust) if s is not None]
        if len(named) > 1:
            raise BadRequest("Specify only one of project, domain, system or trust scope.")
        if scope.project is not None:
            project, domain = scope.project, scope.project.domain or DomainRef()
            if not project.id and not (project.name and (domain.id or domain.name)):
                raise BadRequest("Expecting a project id, or a project name with its domain.")
            fields["scope_project"] = EntityRef(id=project.id, name=project.name, domain_id=domain.id,
                                                domain_name=domain.name)
        elif scope.domain is not None:
            if not scope.domain.id and not scope.domain.name:
                raise BadRequest("Expecting a domain id or name.")
            fields["scope_domain"] = EntityRef(id=scope.domain.id, name=scope.domain.name)
        elif scope.system is not None:
            if scope.system.get("all") is not True:
                raise BadRequest("Only the system scope {'all': true} is supported.")
            fields["scope_system"] = True
        elif scope.trust is not None:
            fields["scope_trust_id"] = scope.trust.id
    return AuthRequest(**fields)


def _domain_ref(session: Session, domain_id: str) -> dict[str, str]:
    domain = session.get(Domain, domain_id)
    return {"id": domain_id, "name": domain.name if domain else ""}


def render_catalog(entries: list[CatalogEntry]) -> list[dict[str, Any]]:
    return [
        {
            "id": entry.id,
            "type": entry.type,
            "name": entry.name,
            "endpoints": [
                {"id": ep.id, "interface": ep.interface, "region": ep.region_id, "region_id": ep.region_id,
                 "url": ep.url}
                for ep in entry.endpoints
            ],
        }
        for entry in entries
    ]


def render_token(session: Session, token: TokenPayload, with_catalog: bool = True) -> dict[str, Any]:
    """The ``token`` body Keystone returns on issue and validation."""
    user = session.get(User, token.user_id)
    body: dict[str, Any] = {
        "methods": list(token.methods),
        "user": {
            "id": token.user_id,
            "name": user.name if user else "",
            "domain": _domain_ref(session, token.user_domain_id),
            "password_expires_at": iso_micro(user.password_expires_at) if user else None,
        },
        "audit_ids": list(token.audit_ids),
        "issued_at": iso_micro(token.issued_at),
        "expires_at": iso_micro(token.expires_at),
    }
    if token.project_id:
        project = session.get(Project, token.project_id)
        body["project"] = {
            "id": token.project_id,
            "name": project.name if project else "",
            "domain": _domain_ref(session, token.project_domain_id or ""),
        }
        body["is_domain"] = False
    elif token.domain_id:
        body["domain"] = _domain_ref(session, token.domain_id)
    elif token.system:
        body["system"] = {"all": True}
    if token.scoped:
        body["roles"] = [{"id": rid, "name": name} for rid, name in token.roles]
        if with_catalog:
            body["catalog"] = render_catalog(service_catalog(session))
    if token.trust_id:
        body["OS-TRUST:trust"] = {
            "id": token.trust_id,
            "impersonation": token.impersonation,
            "trustor_user": {"id": token.trustor_user_id},
            "trustee_user": {"id": token.trustee_user_id},
        }
    if token.app_cred_id:
        cred = session.get(ApplicationCredential, token.app_cred_id)
        body["application_credential"] = {
            "id": token.app_cred_id,
            "name": cred.name if cred else "",
            "restricted": token.app_cred_restricted,
        }
        if token.access_rules:
            body["application_credential"]["access_rules"] = [
                {"id": rule_id, "service": service, "method": method, "path": path}
                for rule_id, service, method, path in token.access_rules]
    return body


@router.post("/v3/auth/tokens", status_code=201, responses=faults(401))
def issue_token(body: AuthBody, request: Request, cloud: CloudDep, nocatalog: str | None = None) -> JSONResponse:
    auth = to_auth_request(body)
    with cloud.transaction() as session:
        payload = cloud.authenticator.authenticate(session, auth)
        token = cloud.sealer.seal(payload)
        rendered = render_token(session, payload, with_catalog=nocatalog is None)
    note_caller(request.scope, payload.user_id, payload.project_id)
    return JSONResponse({"token": rendered}, status_code=201, headers={"X-Subject-Token": token})


def _subject(request: Request, caller: CallerDep, action: str) -> tuple[str, TokenPayload]:
    subject = request.headers.get("x-subject-token")
    if not subject:
        raise BadRequest("Expecting to find X-Subject-Token in the request headers.")
    payload = caller.cloud.validator.validate_subject(subject)
    caller.enforce(action, {"token.user_id": payload.user_id})
    return subject, payload


@router.get("/v3/auth/tokens", responses=faults(400, 404), openapi_extra=SUBJECT_TOKEN)
def validate_token(request: Request, caller: CallerDep, nocatalog: str | None = None) -> JSONResponse:
    subject, payload = _subject(request, caller, "identity:validate_token")
    with caller.cloud.sessions() as session:
        rendered = render_token(session, payload, with_catalog=nocatalog is None)
    return JSONResponse({"token": rendered}, headers={"X-Subject-Token": subject})


@router.head("/v3/auth/tokens", status_code=200, responses=faults(400, 404), openapi_extra=SUBJECT_TOKEN)
def check_token(request: Request, caller: CallerDep) -> Response:
    subject, _ = _subject(request, caller, "identity:check_token")
    return Response(status_code=200, headers={"X-Subject-Token": subject})


@router.delete("/v3/auth/tokens", status_code=204, responses=faults(400, 404), openapi_extra=SUBJECT_TOKEN)
def revoke_token(request: Request, caller: CallerDep) -> Response:
    _, payload = _subject(request, caller, "identity:revoke_token")
    cloud = caller.cloud
    with cloud.transaction() as session:
        cloud.revocations.revoke(session, Revocation(issued_before=payload.issued_at,
                                                     audit_id=payload.audit_id), cloud.clock.now())
    return Response(status_code=204)


@router.get("/v3/auth/catalog")
def auth_catalog(request: Request, caller: CallerDep) -> dict[str, Any]:
    if not caller.token.project_id:
        raise Forbidden("A project-scoped token is required to produce a service catalog.")
    with caller.cloud.sessions() as session:
        return {"catalog": render_catalog(service_catalog(session)), "links": list_links(request)}


@router.get("/v3/auth/projects")
def auth_projects(request: Request, caller: CallerDep) -> dict[str, Any]:
    with caller.cloud.sessions() as session:
        ids = assignment_targets(session, caller.token.user_id, "project")
        projects = session.scalars(
            select(Project).where(Project.id.in_(ids), Project.enabled.is_(True)).order_by(Project.name)
        ).all()
        return {"projects": [render_project(request, p) for p in projects], "links": list_links(request)}


@router.get("/v3/auth/domains")
def auth_domains(request: Request, caller: CallerDep) -> dict[str, Any]:
    with caller.cloud.sessions() as session:
        ids = assignment_targets(session, caller.token.user_id, "domain")
        domains = session.scalars(
            select(Domain).where(Domain.id.in_(ids), Domain.enabled.is_(True)).order_by(Domain.name)
        ).all()
        return {"domains": [render_domain(request, d) for d in domains], "links": list_links(request)}


@router.get("/v3/auth/system")
def auth_system(request: Request, caller: CallerDep) -> dict[str, Any]:
    with caller.cloud.sessions() as session:
        snapshot, _groups = snapshot_for(session, caller.token.user_id, "system", "all")
    has_system = bool(snapshot.grants)
    return {"system": [{"all": True}] if has_system else [], "links": list_links(request)}

