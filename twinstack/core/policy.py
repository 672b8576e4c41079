"""Policy: who may do what, as small composable rules over a caller's credentials and a target.

The personas are Keystone's defaults: *admin* (the admin role, on any scope, administers the
cloud), *reader* with system scope (sees everything), a domain *reader* (sees its domain), and
project members and readers (see their own project). Every endpoint names one action; every
action has one rule. Unknown actions are refused, so a forgotten rule fails closed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from twinstack.core.errors import Forbidden
from twinstack.core.identity.tokens import TokenPayload

Target = Mapping[str, Any]


@dataclass(frozen=True)
class Credentials:
    """What policy knows about a caller, taken from a validated token."""

    user_id: str
    user_domain_id: str
    roles: frozenset[str]
    project_id: str | None = None
    project_domain_id: str | None = None
    domain_id: str | None = None
    system: str | None = None
    trust_id: str | None = None
    app_cred_id: str | None = None
    app_cred_restricted: bool = False

    @classmethod
    def from_token(cls, token: TokenPayload) -> Credentials:
        return cls(
            user_id=token.user_id,
            user_domain_id=token.user_domain_id,
            roles=token.role_names,
            project_id=token.project_id,
            project_domain_id=token.project_domain_id,
            domain_id=token.domain_id,
            system=token.system,
            trust_id=token.trust_id,
            app_cred_id=token.app_cred_id,
            app_cred_restricted=token.app_cred_restricted,
        )

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def is_system_reader(self) -> bool:
        return self.system is not None and "reader" in self.roles


Rule = Callable[[Credentials, Target], bool]


def role(name: str) -> Rule:
    return lambda creds, _target: name in creds.roles


def any_of(*rules: Rule) -> Rule:
    return lambda creds, target: any(rule(creds, target) for rule in rules)


def all_of(*rules: Rule) -> Rule:
    return lambda creds, target: all(rule(creds, target) for rule in rules)


def system_scoped(creds: Credentials, _target: Target) -> bool:
    return creds.system is not None


def domain_scoped_to(key: str) -> Rule:
    """The caller's token is scoped to the domain found at ``target[key]``."""
    return lambda creds, target: creds.domain_id is not None and creds.domain_id == target.get(key)


def project_scoped_to(key: str) -> Rule:
    return lambda creds, target: creds.project_id is not None and creds.project_id == target.get(key)


def caller_is(key: str) -> Rule:
    """The caller is the user found at ``target[key]`` (the owner of what is touched)."""
    return lambda creds, target: creds.user_id == target.get(key)


def anyone(_creds: Credentials, _target: Target) -> bool:
    return True


def not_restricted_app_cred(creds: Credentials, _target: Target) -> bool:
    return not creds.app_cred_restricted


ADMIN = role("admin")
SYSTEM_READER = all_of(role("reader"), system_scoped)
ADMIN_OR_SYSTEM_READER = any_of(ADMIN, SYSTEM_READER)


def admin_or_reader_of_domain(key: str) -> Rule:
    return any_of(ADMIN, SYSTEM_READER, all_of(role("reader"), domain_scoped_to(key)))


class Enforcer:
    """Holds the rules of one or more services and answers yes or no (or raises) for an action."""

    def __init__(self, rules: Mapping[str, Rule] | None = None) -> None:
        self._rules: dict[str, Rule] = dict(rules or {})

    def register(self, rules: Mapping[str, Rule]) -> None:
        self._rules.update(rules)

    def allows(self, action: str, creds: Credentials, target: Target | None = None) -> bool:
        rule = self._rules.get(action)
        return rule is not None and rule(creds, target or {})

    def enforce(self, action: str, creds: Credentials, target: Target | None = None) -> None:
        if not self.allows(action, creds, target):
            raise Forbidden(f"You are not authorized to perform the requested action: {action}.")
