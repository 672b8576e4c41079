"""Nova's extra-spec operators (``nova.scheduler.filters.extra_specs_ops``): how a requirement written in a
flavor extra spec ("<in> ssd", ">= 2", "<or> a <or> b", plain text...) matches one offered value."""

from __future__ import annotations

import operator
from collections.abc import Callable


def _numeric(test: Callable[[float, float], bool]) -> Callable[[str, str], bool]:
    def compare(value: str, wanted: str) -> bool:
        try:
            return test(float(value), float(wanted))
        except ValueError:
            return False
    return compare


OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "=": _numeric(operator.ge),  # "= 4" means at least 4, as in Nova
    "==": _numeric(operator.eq),
    "!=": _numeric(operator.ne),
    ">=": _numeric(operator.ge),
    "<=": _numeric(operator.le),
    "s==": operator.eq,
    "s!=": operator.ne,
    "s<": operator.lt,
    "s<=": operator.le,
    "s>": operator.gt,
    "s>=": operator.ge,
    "<in>": lambda value, wanted: wanted in value,
}


def match(value: str | None, requirement: str) -> bool:
    """Whether ``value`` satisfies ``requirement``: an operator and its operand(s), or plain text to equal."""
    words = requirement.split()
    op = words.pop(0) if words else None
    if op == "<or>":
        if value is None:
            return False
        return value in words[::2]  # "<or> a <or> b": a, b at the even places after the first <or>
    if op == "<all-in>":
        return value is not None and bool(words) and all(word in value for word in words)
    method = OPERATORS.get(op) if op is not None else None
    if method is None:
        return value == requirement
    if value is None or not words:
        return False
    return method(value, words[0])
