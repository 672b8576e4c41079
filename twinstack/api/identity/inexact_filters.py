"""Keystone's inexact list filters: ``?name__contains=web``, ``__startswith``, ``__endswith``, ``i`` for any case.

Keystone accepts them on every list, for the attributes that list filters on exactly; a comparator
it does not know is ignored. Here they apply to any string attribute of the listed entities (a
list's exact filters are all string attributes too), before the list limit cuts the list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

COMPARATORS: dict[str, Callable[[str, str], bool]] = {
    "contains": lambda target, wanted: wanted in target,
    "startswith": lambda target, wanted: target.startswith(wanted),
    "endswith": lambda target, wanted: target.endswith(wanted),
    "equals": lambda target, wanted: target == wanted,
}


@dataclass(frozen=True)
class InexactFilter:
    attribute: str
    comparator: str
    value: str
    case_sensitive: bool

    def keeps(self, entity: dict[str, Any]) -> bool:
        target = entity.get(self.attribute)
        if not isinstance(target, str):
            return False
        wanted = self.value
        if not self.case_sensitive:
            target, wanted = target.lower(), wanted.lower()
        return COMPARATORS[self.comparator](target, wanted)


def parse_inexact(query: Iterable[tuple[str, str]]) -> list[InexactFilter]:
    """The inexact filters among query parameters; unknown comparators are ignored, as Keystone does."""
    found: list[InexactFilter] = []
    for key, value in query:
        attribute, sep, comparator = key.partition("__")
        if not sep or not attribute:
            continue
        case_sensitive = not comparator.startswith("i")
        comparator = comparator if case_sensitive else comparator[1:]
        if comparator in COMPARATORS:
            found.append(InexactFilter(attribute, comparator, value, case_sensitive))
    return found


def apply_inexact(items: list[dict[str, Any]], filters: list[InexactFilter]) -> list[dict[str, Any]]:
    return [item for item in items if all(f.keeps(item) for f in filters)]
