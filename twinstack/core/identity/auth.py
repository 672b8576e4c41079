"""Authentication: turn credentials and a requested scope into a token payload.

Supported methods: ``password`` (user by id, or by name and domain), ``token`` (rescope an
unscoped or scoped token) and ``application_credential``; scopes: project, domain, system, a
trust (``OS-TRUST:trust``) or none. Every refusal of credentials is the same 401, so it tells an
attacker nothing; a trust that cannot be used (deleted, expired, used up) is 404, as in Keystone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from twinstack.core.clock import Clock
from twinstack.core.errors import BadRequest, Forbidden, Unauthorized
from twinstack.core.identity.assignments import SYSTEM_TARGET, implied_closure
from twinstack.core.identity.grants import implied_map, roles_by_ids, user_roles_on
from twinstack.core.identity.passwords import verify_password
from twinstack.core.identity.tokens import TokenPayload, new_audit_id
from twinstack.core.identity.trusts import consume_use, get_trust
from twinstack.core.identity.validator import TokenValidator
from twinstack.db.models.identity import ApplicationCredential, Domain, Project, Role, User

REFUSED = "The request you have made requires authentication."


@dataclass(frozen=True)
class EntityRef:
    """An entity named by id, or by name within a domain (itself named by id or name)."""

    id: str | None = None
    name: str | None = None
    domain_id: str | None = None
    domain_name: str | None = None


@dataclass(frozen=True)
class AuthRequest:
    methods: tuple[str, ...]
    user: EntityRef | None = None
    password: str | None = None
    token: str | None = None
    app_cred_id: str | None = None
    app_cred_name: str | None = None
    app_cred_secret: str | None = None
    scope_project: EntityRef | None = None
    scope_domain: EntityRef | None = None
    scope_system: bool = False
    scope_trust_id: str | None = None
    unscoped: bool = False


@dataclass
class AuthPolicy:
    token_ttl: int
    kdf_n: int = 2**14
    extra: dict[str, str] = field(default_factory=dict)


def find_domain(session: Session, ref: EntityRef) -> Domain | None:
    if ref.domain_id:
        return session.get(Domain, ref.domain_id)
    if ref.domain_name:
        return session.scalar(select(Domain).where(Domain.name == ref.domain_name))
    return None


def find_user(session: Session, ref: EntityRef) -> User | None:
    if ref.id:
        return session.get(User, ref.id)
    domain = find_domain(session, ref)
    if domain is None or ref.name is None:
        return None
    return session.scalar(select(User).where(User.domain_id == domain.id, User.name == ref.name))


def find_project(session: Session, ref: EntityRef) -> Project | None:
    if ref.id:
        return session.get(Project, ref.id)
    domain = find_domain(session, ref)
    if domain is None or ref.name is None:
        return None
    return session.scalar(select(Project).where(Project.domain_id == domain.id, Project.name == ref.name))


def _active_user(session: Session, user: User | None) -> User:
    if user is None or not user.enabled:
        raise Unauthorized(REFUSED)
    domain = session.get(Domain, user.domain_id)
    if domain is None or not domain.enabled:
        raise Unauthorized(REFUSED)
    return user


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=dt.UTC)


class Authenticator:
    def __init__(self, validator: TokenValidator, clock: Clock, policy: AuthPolicy) -> None:
        self.validator = validator
        self.clock = clock
        self.policy = policy

    def authenticate(self, session: Session, request: AuthRequest) -> TokenPayload:
        """A payload for the identified user and the requested scope; Unauthorized otherwise."""
        now = self.clock.now()
        if not request.methods:
            raise BadRequest("Expecting to find identity methods in auth.")
        expires_at = now + self.policy.token_ttl
        audit_ids: tuple[str, ...] = (new_audit_id(),)
        methods = request.methods
        app_cred: ApplicationCredential | None = None
        if "application_credential" in methods:
            user, app_cred = self._application_credential(session, request, now)
        elif "password" in methods:
            if request.user is None or request.password is None:
                raise BadRequest("Expecting to find user and password in the password method.")
            user = _active_user(session, find_user(session, request.user))
            if not verify_password(request.password, user.password_hash):
                raise Unauthorized(REFUSED)
            expiry = _aware(user.password_expires_at)
            if expiry is not None and expiry.timestamp() <= now:
                raise Unauthorized("The password is expired and needs to be changed for user: "
                                   f"{user.id}.")
        elif "token" in methods:
            if request.token is None:
                raise BadRequest("Expecting to find a token id in the token method.")
            original = self.validator.validate(request.token)
            if original.trust_id or original.app_cred_id:
                raise Forbidden("A trust-scoped or application credential token cannot be rescoped.")
            user = _active_user(session, session.get(User, original.user_id))
            expires_at = original.expires_at
            audit_ids = (audit_ids[0], original.audit_chain_id)
            methods = tuple(dict.fromkeys((*original.methods, "token")))
        else:
            raise Unauthorized(f"Unsupported authentication method: {', '.join(methods)}.")

        base = TokenPayload(
            user_id=user.id,
            user_domain_id=user.domain_id,
            methods=methods,
            issued_at=now,
            expires_at=expires_at,
            audit_ids=audit_ids,
        )
        if app_cred is not None:
            return self._app_cred_scope(session, base, user, app_cred, request)
        if request.scope_trust_id:
            return self._trust_scope(session, base, user, request.scope_trust_id, now)
        if request.scope_project:
            project = find_project(session, request.scope_project)
            if project is None:
                raise Unauthorized(REFUSED)
            return self._project_scope(session, base, user, project)
        if request.scope_domain:
            domain = find_domain(
                session,
                EntityRef(domain_id=request.scope_domain.id, domain_name=request.scope_domain.name),
            )
            if domain is None or not domain.enabled:
                raise Unauthorized(REFUSED)
            roles = user_roles_on(session, user.id, "domain", domain.id)
            if not roles:
                raise Unauthorized(f"User {user.id} has no access to domain {domain.id}")
            return _with(base, domain_id=domain.id, roles=_pairs(roles))
        if request.scope_system:
            roles = user_roles_on(session, user.id, "system", SYSTEM_TARGET)
            if not roles:
                raise Unauthorized(f"User {user.id} has no access to the system")
            return _with(base, system=SYSTEM_TARGET, roles=_pairs(roles))
        if not request.unscoped and user.default_project_id:
            project = session.get(Project, user.default_project_id)
            if project is not None and project.enabled:
                roles = user_roles_on(session, user.id, "project", project.id)
                if roles:
                    return _with(base, project_id=project.id, project_domain_id=project.domain_id,
                                 roles=_pairs(roles))
        return base

    def _project_scope(self, session: Session, base: TokenPayload, user: User, project: Project) -> TokenPayload:
        domain = session.get(Domain, project.domain_id)
        if not project.enabled or domain is None or not domain.enabled:
            raise Unauthorized(REFUSED)
        roles = user_roles_on(session, user.id, "project", project.id)
        if not roles:
            raise Unauthorized(f"User {user.id} has no access to project {project.id}")
        return _with(base, project_id=project.id, project_domain_id=project.domain_id, roles=_pairs(roles))

    def _trust_scope(self, session: Session, base: TokenPayload, user: User, trust_id: str,
                     now: float) -> TokenPayload:
        """Scope to a trust: its project and roles, its trustee (or trustor, when impersonating).

        An unusable trust (deleted, expired, used up) is 404 as in Keystone; one use is taken only
        once every other check has passed.
        """
        trust = get_trust(session, trust_id, now)
        if trust.trustee_user_id != user.id:
            raise Forbidden("The authenticated user is not the trustee of this trust.")
        trustor = _active_user(session, session.get(User, trust.trustor_user_id))
        token_user = trustor if trust.impersonation else user
        expiry = _aware(trust.expires_at)
        expires_at = base.expires_at if expiry is None else min(base.expires_at, expiry.timestamp())
        base = _with(
            base,
            user_id=token_user.id,
            user_domain_id=token_user.domain_id,
            expires_at=expires_at,
            trust_id=trust.id,
            trustor_user_id=trustor.id,
            trustee_user_id=user.id,
            impersonation=trust.impersonation,
        )
        if trust.project_id is not None:
            project = session.get(Project, trust.project_id)
            domain = session.get(Domain, project.domain_id) if project is not None else None
            if project is None or not project.enabled or domain is None or not domain.enabled:
                raise Unauthorized(REFUSED)
            held = {r.id for r in user_roles_on(session, trustor.id, "project", project.id)}
            if not trust.role_ids or not set(trust.role_ids) <= held:
                raise Forbidden("Trustee has no delegated roles.")
            roles = _with_implied(session, trust.role_ids)
            base = _with(base, project_id=project.id, project_domain_id=project.domain_id, roles=_pairs(roles))
        consume_use(session, trust)
        return base

    def _application_credential(
        self, session: Session, request: AuthRequest, now: float
    ) -> tuple[User, ApplicationCredential]:
        if request.app_cred_secret is None:
            raise BadRequest("Expecting to find a secret in the application_credential method.")
        cred: ApplicationCredential | None = None
        if request.app_cred_id:
            cred = session.get(ApplicationCredential, request.app_cred_id)
        elif request.app_cred_name and request.user is not None:
            owner = find_user(session, request.user)
            if owner is not None:
                cred = session.scalar(
                    select(ApplicationCredential).where(
                        ApplicationCredential.user_id == owner.id,
                        ApplicationCredential.name == request.app_cred_name,
                    )
                )
        if cred is None or not verify_password(request.app_cred_secret, cred.secret_hash):
            raise Unauthorized(REFUSED)
        expiry = _aware(cred.expires_at)
        if expiry is not None and expiry.timestamp() <= now:
            raise Unauthorized("The application credential has expired.")
        return _active_user(session, session.get(User, cred.user_id)), cred

    def _app_cred_scope(self, session: Session, base: TokenPayload, user: User,
                        cred: ApplicationCredential, request: AuthRequest) -> TokenPayload:
        if request.scope_domain or request.scope_system or request.scope_trust_id:
            raise Unauthorized("An application credential token is scoped to its project only.")
        if cred.project_id is None:
            raise Unauthorized(REFUSED)
        project = session.get(Project, cred.project_id)
        if project is None:
            raise Unauthorized(REFUSED)
        if request.scope_project:
            asked = find_project(session, request.scope_project)
            if asked is None or asked.id != project.id:
                raise Unauthorized("An application credential token is scoped to its project only.")
        held = {r.id for r in user_roles_on(session, user.id, "project", project.id)}
        if not set(cred.role_ids) <= held:
            raise Unauthorized("The user no longer holds every role of this application credential.")
        scoped = self._project_scope(session, base, user, project)
        roles = _with_implied(session, cred.role_ids)
        rules = tuple((r["id"], r["service"], r["method"], r["path"]) for r in cred.access_rules)
        return _with(scoped, roles=_pairs(roles), app_cred_id=cred.id, access_rules=rules,
                     app_cred_restricted=not cred.unrestricted, methods=("application_credential",))


def _pairs(roles: list[Role]) -> tuple[tuple[str, str], ...]:
    return tuple((r.id, r.name) for r in roles)


def _with_implied(session: Session, role_ids: list[str]) -> list[Role]:
    return roles_by_ids(session, implied_closure(role_ids, implied_map(session)))


def _with(payload: TokenPayload, **changes: object) -> TokenPayload:
    return replace(payload, **changes)  # type: ignore[arg-type]

