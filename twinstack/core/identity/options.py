"""Resource options: the typed ``options`` mapping of domains, projects and users, as Keystone has them.

Each kind of entity accepts a fixed set of option names, each with a type; an unknown name or a
value of the wrong type is refused (400), and an option set to ``null`` is removed. Domains and
projects know one option, ``immutable``: an immutable entity can be neither changed nor deleted,
except by a request whose only change is to clear the flag.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from twinstack.core.errors import BadRequest, Forbidden

IMMUTABLE = "immutable"


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _is_rules(value: Any) -> bool:
    """``multi_factor_auth_rules``: a list of lists of method names."""
    return isinstance(value, list) and all(
        isinstance(rule, list) and all(isinstance(method, str) for method in rule) for rule in value
    )


Check = Callable[[Any], bool]

RESOURCE_OPTIONS: Mapping[str, Check] = {IMMUTABLE: _is_bool}
"""Options of domains and projects."""

USER_OPTIONS: Mapping[str, Check] = {
    "ignore_change_password_upon_first_use": _is_bool,
    "ignore_password_expiry": _is_bool,
    "ignore_lockout_failure_attempts": _is_bool,
    "lock_password": _is_bool,
    "ignore_user_inactivity": _is_bool,
    "multi_factor_auth_rules": _is_rules,
    "multi_factor_auth_enabled": _is_bool,
}


def merge_options(current: Mapping[str, Any], given: Mapping[str, Any], allowed: Mapping[str, Check]) -> dict[str, Any]:
    """``current`` updated with ``given`` (``None`` removes an option); BadRequest for an invalid one."""
    merged = dict(current)
    for name, value in given.items():
        check = allowed.get(name)
        if check is None:
            raise BadRequest(f"Invalid option: '{name}' is not a known option.")
        if value is None:
            merged.pop(name, None)
        elif not check(value):
            raise BadRequest(f"Invalid value for option '{name}': {value!r}.")
        else:
            merged[name] = value
    return merged


def check_mutable(kind: str, entity_id: str, options: Mapping[str, Any], changes: Mapping[str, Any]) -> None:
    """Refuse (403) to change an immutable entity, unless the request only clears ``immutable``."""
    if not options.get(IMMUTABLE):
        return
    asked = changes.get("options") or {}
    clears_only = set(changes) == {"options"} and IMMUTABLE in asked and not asked[IMMUTABLE]
    if not clears_only:
        raise Forbidden(f"Unable to update immutable {kind} resource: `{entity_id}`. "
                        "Immutable flag must be set to false first.")


def check_deletable(kind: str, entity_id: str, options: Mapping[str, Any]) -> None:
    if options.get(IMMUTABLE):
        raise Forbidden(f"Unable to delete immutable {kind} resource: `{entity_id}`. "
                        "Immutable flag must be set to false first.")
