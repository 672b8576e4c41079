"""Property protections (Glance's property-protections file, role form) applied to extra properties.

Each rule names a regex and, per operation (create, read, update, delete), the roles allowed:
``@`` means anyone, ``!`` no one. The first rule whose pattern is found in the property's name
decides. With no rules at all every property is free; once rules exist, a property none of them
matches is refused, as in Glance (operators end their list with a ``.*`` catch-all).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from twinstack.config import PropertyProtection
from twinstack.core.errors import Forbidden

Operation = Literal["create", "read", "update", "delete"]


@dataclass(frozen=True)
class Protections:
    rules: tuple[tuple[re.Pattern[str], PropertyProtection], ...] = ()

    @classmethod
    def from_settings(cls, rules: list[PropertyProtection]) -> Protections:
        return cls(tuple((re.compile(rule.pattern), rule) for rule in rules))

    def allows(self, name: str, operation: Operation, roles: frozenset[str]) -> bool:
        if not self.rules:
            return True
        for pattern, rule in self.rules:
            if pattern.search(name):
                allowed: list[str] = getattr(rule, operation)
                if "!" in allowed:
                    return False
                return "@" in allowed or bool(roles & set(allowed))
        return False

    def check(self, name: str, operation: Operation, roles: frozenset[str]) -> None:
        if not self.allows(name, operation, roles):
            raise Forbidden(f"Property '{name}' is protected")

    def readable(self, properties: Mapping[str, Any], roles: frozenset[str]) -> dict[str, Any]:
        """The properties the caller may see; the rest are as if they did not exist."""
        return {k: v for k, v in properties.items() if self.allows(k, "read", roles)}
