"""What the domain, project, user and group endpoints share: query flags, filters, body checks, list scope.

List policy, as Keystone's defaults have it: an admin or a system reader sees every entity; a
reader scoped to a domain sees that domain's entities only; anyone else is refused.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from twinstack.api.deps import Caller
from twinstack.core.errors import BadRequest

FALSE = frozenset({"0", "false", "f", "no", "n", "off"})


def flag(value: str | None) -> bool:
    """A query flag such as ``?parents_as_ids``: set when present, unless given as false or 0."""
    return value is not None and value.lower() not in FALSE


def as_bool(value: str | None) -> bool | None:
    """A boolean filter such as ``?enabled=false``; None when absent."""
    if value is None:
        return None
    return value.lower() not in FALSE


def visible_domain(caller: Caller, action: str, asked: str | None = None) -> str | None:
    """The one domain a list may show the caller (None: every domain); Forbidden if none.

    A domain-scoped reader asking for another domain's entities is refused, not shown nothing.
    """
    if caller.allows(action, {}):
        return None
    scope = caller.token.domain_id
    caller.enforce(action, {"domain_id": scope})
    if asked is not None:
        caller.enforce(action, {"domain_id": asked})
    return scope


def tag_list(value: str | None) -> tuple[str, ...]:
    """``?tags=a,b`` as a tuple of tags."""
    if value is None:
        return ()
    return tuple(t for t in value.split(",") if t)


NOT_NULL = ("name", "enabled", "tags", "options", "is_domain")
"""Fields a PATCH body may leave out but not set to null."""


def patch_changes(body: BaseModel, entity_id: str) -> dict[str, Any]:
    """The fields a PATCH body sets, unknown ones gathered under ``extra``; BadRequest for a changed id."""
    changes = body.model_dump(exclude_unset=True, exclude=set(body.model_extra or {}))
    given_id = changes.pop("id", None)
    if given_id is not None and given_id != entity_id:
        raise BadRequest("Cannot change ID")
    for name in NOT_NULL:
        if name in changes and changes[name] is None:
            raise BadRequest(f"Invalid input for field '{name}': None is not allowed.")
    extra = extra_attributes(body)
    if extra:
        changes["extra"] = extra
    return changes


RESERVED = frozenset({"id", "links", "extra", "password_expires_at", "parents", "subtree"})


def extra_attributes(body: BaseModel) -> dict[str, Any]:
    """Attributes a client sent that the model does not know (Keystone keeps them as given)."""
    return {k: v for k, v in (body.model_extra or {}).items() if k not in RESERVED}
