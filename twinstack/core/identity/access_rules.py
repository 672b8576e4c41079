"""A user's access rules: the requests their application credentials may be limited to.

A credential made with access rules yields tokens that every service of this cloud accepts only for
a request one of the rules allows (see :mod:`access_rule_match`). As in Keystone, rules belong to
the user: a rule asked for again (same service, method and path) is the same rule, a rule may be
named by its id in a later credential, and it stays until the user deletes it, which is refused
while a credential still uses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from twinstack.core.errors import BadRequest, Forbidden, NotFound
from twinstack.core.identity.access_rule_match import METHODS
from twinstack.db.models.identity import AccessRule, ApplicationCredential

MAX_PATH = 225
MAX_SERVICE = 64


@dataclass(frozen=True)
class AskedRule:
    """One entry of a credential's ``access_rules`` as given: an existing rule's id, or a new rule."""

    id: str | None = None
    service: str | None = None
    method: str | None = None
    path: str | None = None


@dataclass(frozen=True)
class AccessRuleFilter:
    service: str | None = None
    method: str | None = None
    path: str | None = None


def as_wire(rule: AccessRule) -> dict[str, Any]:
    """The rule as Keystone shows it, and as a credential keeps it."""
    return {"id": rule.id, "service": rule.service, "method": rule.method, "path": rule.path}


def _checked(asked: AskedRule) -> tuple[str, str, str]:
    """(service, method, path) of a new rule; 400 when one is missing or malformed."""
    if not asked.service or not asked.method or asked.path is None:
        raise BadRequest(
            "Invalid input for field 'access_rules': a new access rule needs a service, a method and a path."
        )
    if len(asked.service) > MAX_SERVICE:
        raise BadRequest(f"Invalid input for field 'service': at most {MAX_SERVICE} characters.")
    if asked.method not in METHODS:
        raise BadRequest(
            f"Invalid input for field 'method': '{asked.method}' is not one of {', '.join(sorted(METHODS))}."
        )
    if not asked.path.startswith("/") or len(asked.path) > MAX_PATH:
        raise BadRequest(
            f"Invalid input for field 'path': '{asked.path}' does not start with '/' or is "
            f"longer than {MAX_PATH} characters."
        )
    return asked.service, asked.method, asked.path


def resolve_rules(session: Session, user_id: str, asked: tuple[AskedRule, ...]) -> list[AccessRule]:
    """The user's rules for ``asked``, made where new; a rule named by id must be the user's own (404).

    A new rule identical to one the user has is that rule; a new rule may bring its own id.

    Validates everything before storing anything, so a refused credential leaves no rule behind.
    """
    wanted: list[AccessRule | AskedRule] = []
    for item in asked:
        existing = session.get(AccessRule, item.id) if item.id else None
        if existing is not None:
            if existing.user_id != user_id:
                raise NotFound(f"Could not find Access Rule: {item.id}.")
            wanted.append(existing)
        elif item.id and item.service is None and item.method is None and item.path is None:
            raise NotFound(f"Could not find Access Rule: {item.id}.")
        else:
            _checked(item)
            wanted.append(item)
    rules: list[AccessRule] = []
    for entry in wanted:
        if isinstance(entry, AccessRule):
            rule = entry
        else:
            service, method, path = _checked(entry)
            found = session.scalar(
                select(AccessRule).where(
                    AccessRule.user_id == user_id,
                    AccessRule.service == service,
                    AccessRule.method == method,
                    AccessRule.path == path,
                )
            )
            if found is None:
                chosen_id = {"id": entry.id} if entry.id else {}
                found = AccessRule(user_id=user_id, service=service, method=method, path=path, **chosen_id)
                session.add(found)
                session.flush()
            rule = found
        if rule not in rules:
            rules.append(rule)
    return rules


def list_access_rules(session: Session, user_id: str, where: AccessRuleFilter) -> list[AccessRule]:
    query = select(AccessRule).where(AccessRule.user_id == user_id)
    if where.service is not None:
        query = query.where(AccessRule.service == where.service)
    if where.method is not None:
        query = query.where(AccessRule.method == where.method)
    if where.path is not None:
        query = query.where(AccessRule.path == where.path)
    return list(session.scalars(query.order_by(AccessRule.service, AccessRule.path, AccessRule.method, AccessRule.id)))


def get_access_rule(session: Session, user_id: str, rule_id: str) -> AccessRule:
    """The user's rule; another user's is as missing as an unknown one."""
    rule = session.get(AccessRule, rule_id)
    if rule is None or rule.user_id != user_id:
        raise NotFound(f"Could not find Access Rule: {rule_id}.")
    return rule


def delete_access_rule(session: Session, user_id: str, rule_id: str) -> None:
    """Remove the user's rule; 403 while one of their application credentials uses it."""
    rule = get_access_rule(session, user_id, rule_id)
    creds = session.scalars(select(ApplicationCredential).where(ApplicationCredential.user_id == user_id))
    if any(entry.get("id") == rule.id for cred in creds for entry in cred.access_rules):
        raise Forbidden("May not delete access rule in use")
    session.delete(rule)
    session.flush()
