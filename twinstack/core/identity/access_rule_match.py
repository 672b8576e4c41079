"""Whether a request is one an application credential's access rules allow: pure, no storage.

A rule names a service type, an HTTP method and a path pattern. As keystonemiddleware reads a
pattern, ``{name}`` and ``*`` stand for one path segment, ``**`` for any run of characters
(slashes included), and everything else must match literally; the whole path must match.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"})

_TOKENS = re.compile(r"(?P<tag>\{[^}]*\})|(?P<wild>\*(?=$|[^*]))|(?P<rec_wild>\*\*)|(?P<literal>[^{}*])")


@dataclass(frozen=True)
class RuleRequest:
    """One request as a service sees it: its own type, the method, and the path below its mount point."""

    service: str
    method: str
    path: str


@lru_cache(maxsize=1024)
def _pattern(path_pattern: str) -> re.Pattern[str]:
    parts: list[str] = []
    for match in _TOKENS.finditer(path_pattern):
        if match["tag"] or match["wild"]:
            parts.append(r"[^/]+")
        elif match["rec_wild"]:
            parts.append(".*")
        else:
            parts.append(re.escape(match["literal"]))
    return re.compile("^" + "".join(parts) + "$")


def path_matches(path: str, path_pattern: str) -> bool:
    return _pattern(path_pattern).match(path) is not None


def request_allowed(rules: Iterable[tuple[str, str, str]], request: RuleRequest) -> bool:
    """Whether one of ``rules`` ((service, method, path pattern) each) allows ``request``.

    Validating a token at the identity service is always allowed, as keystonemiddleware allows it:
    a service holding such a token must be able to ask what it is.
    """
    if request.service == "identity" and request.method == "GET" and request.path.endswith("/v3/auth/tokens"):
        return True
    return any(
        service == request.service and method == request.method and path_matches(request.path, pattern)
        for service, method, pattern in rules
    )
