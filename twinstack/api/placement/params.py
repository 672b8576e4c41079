"""Query strings Placement understands: resources, required traits, member_of, request groups.

Every parser answers 400 (Placement's wording) for a malformed value, and for a parameter the
negotiated microversion does not know.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence

from starlette.datastructures import QueryParams

from twinstack.api.placement.microversion import Version
from twinstack.core.errors import BadRequest
from twinstack.core.scheduler.candidates import CandidateQuery, RequestGroup
from twinstack.core.scheduler.placement import normalize_uuid


def multi(params: QueryParams) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for key, value in params.multi_items():
        out[key].append(value)
    return dict(out)


def refuse_unknown(given: Sequence[str], known: set[str]) -> None:
    extra = sorted(set(given) - known)
    if extra:
        raise BadRequest(f"Invalid query string parameters: Additional properties are not allowed "
                         f"({', '.join(repr(e) for e in extra)} {'was' if len(extra) == 1 else 'were'} unexpected)")


def resources(value: str) -> dict[str, int]:
    """``VCPU:2,MEMORY_MB:1024`` -> {"VCPU": 2, "MEMORY_MB": 1024}."""
    form = "?resources=VCPU:2,MEMORY_MB:1024"
    if not value.strip():
        raise BadRequest(f"Badly formed resources parameter. Expected resources query string parameter in form: "
                         f"{form}. Got: empty string.")
    out: dict[str, int] = {}
    for item in value.split(","):
        try:
            rc, amount_text = item.split(":")
        except ValueError:
            raise BadRequest(f"Badly formed resources parameter. Expected resources query string parameter in "
                             f"form: {form}. Got: {item}.") from None
        try:
            amount = int(amount_text)
        except ValueError:
            raise BadRequest(f"Requested resource {rc} expected positive integer amount. Got: {amount_text}.") from None
        if amount < 1:
            raise BadRequest(f"Requested resource {rc} requires amount >= 1. Got: {amount}.")
        out[rc.strip()] = amount
    return out


def traits(values: Sequence[str], version: Version, key: str = "required",
           any_of_allowed: bool = True) -> tuple[tuple[frozenset[str], ...], frozenset[str]]:
    """The any-of sets that must each be met, and the forbidden traits, of ``required`` values.

    ``!T`` forbids (from 1.22); ``in:T1,T2`` asks for any of them and ``required`` may repeat
    (from 1.39).
    """
    allow_forbidden = version.at_least(22)
    allow_any = any_of_allowed and version.at_least(39)
    if len(values) > 1 and not allow_any:
        raise BadRequest(f"Only one '{key}' query parameter is allowed at this microversion.")
    required: list[frozenset[str]] = []
    forbidden: set[str] = set()
    form = "HW_CPU_X86_VMX,!CUSTOM_MAGIC" if allow_forbidden else "HW_CPU_X86_VMX,CUSTOM_MAGIC"
    for value in values:
        if allow_any and value.startswith("in:"):
            names = [t.strip() for t in value[3:].split(",")]
            if not all(names) or any(n.startswith("!") for n in names):
                raise BadRequest(f"Invalid query string parameters: Expected '{key}' parameter value of the form: "
                                 f"in:HW_CPU_X86_VMX,CUSTOM_MAGIC. Got: {value}")
            required.append(frozenset(names))
            continue
        names = [t.strip() for t in value.split(",")]
        if not all(names) or any(n.startswith("!") and (not allow_forbidden or len(n) == 1) for n in names):
            raise BadRequest(f"Invalid query string parameters: Expected '{key}' parameter value of the form: "
                             f"{form}. Got: {value}")
        for name in names:
            if name.startswith("!"):
                forbidden.add(name[1:])
            else:
                required.append(frozenset([name]))
    clash = forbidden & {t for s in required if len(s) == 1 for t in s}
    if clash:
        raise BadRequest(f"Conflicting required and forbidden traits found in the following traits keys: "
                         f"{key}: ({', '.join(sorted(clash))})")
    return tuple(required), frozenset(forbidden)


def member_of(values: Sequence[str], version: Version, key: str = "member_of",
              ) -> tuple[tuple[frozenset[str], ...], frozenset[str]]:
    """The any-of aggregate sets that must each be met, and the forbidden aggregates."""
    if len(values) > 1 and not version.at_least(24):
        raise BadRequest(f"Multiple {key} parameters are not supported")
    wanted: list[frozenset[str]] = []
    forbidden: set[str] = set()
    for value in values:
        negative = value.startswith("!")
        if negative:
            if not version.at_least(32):
                raise BadRequest(f"Invalid query string parameters: Expected '{key}' parameter to contain valid "
                                 f"UUID(s). Got: {value}")
            value = value[1:]
        if "," in value and not value.startswith("in:"):
            raise BadRequest(f"Multiple values for '{key}' must be prefixed with the 'in:' keyword. Got: {value}")
        names = value[3:].split(",") if value.startswith("in:") else [value]
        if any(n.startswith("!") for n in names):
            raise BadRequest(f"Invalid query string parameters: Expected '{key}' parameter to contain valid UUID(s). "
                             f"Got: {value}")
        try:
            uuids = frozenset(normalize_uuid(n) for n in names)
        except BadRequest:
            raise BadRequest(f"Invalid query string parameters: Expected '{key}' parameter to contain valid UUID(s). "
                             f"Got: {value}") from None
        if negative:
            forbidden |= uuids
        else:
            wanted.append(uuids)
    return tuple(wanted), frozenset(forbidden)


GROUP_KEYS = ("resources", "required", "member_of", "in_tree")


def candidate_query(params: QueryParams, version: Version) -> CandidateQuery:
    """GET /allocation_candidates' query string as a CandidateQuery (groups, policy, limit, ...)."""
    given = multi(params)
    known = {"resources"}
    if version.at_least(16):
        known.add("limit")
    if version.at_least(17):
        known.add("required")
    if version.at_least(21):
        known.add("member_of")
    if version.at_least(25):
        known.add("group_policy")
    if version.at_least(31):
        known.add("in_tree")
    if version.at_least(35):
        known.add("root_required")
    if version.at_least(36):
        known.add("same_subtree")
    suffix_form = r"[a-zA-Z0-9_-]{1,64}" if version.at_least(33) else r"[1-9][0-9]*"
    grouped: dict[str, dict[str, list[str]]] = defaultdict(dict)
    for key, values in given.items():
        for base in GROUP_KEYS:
            if key.startswith(base) and base in known:
                suffix = key[len(base):]
                if suffix == "" or (version.at_least(25) and re.fullmatch(suffix_form, suffix)):
                    grouped[suffix][base] = values
                    break
        else:
            if key not in known:
                refuse_unknown([key], known)
    for key in ("limit", "group_policy"):
        if len(given.get(key, [])) > 1:
            raise BadRequest(f"Invalid query string parameters: '{key}' may be given only once")
    same_subtree = tuple(
        frozenset(s.strip() for s in value.split(",")) for value in given.get("same_subtree", [])
    )
    named_in_subtree = set().union(*same_subtree) if same_subtree else set()
    groups = []
    for suffix in sorted(grouped, key=lambda s: (s != "", s)):
        items = grouped[suffix]
        res = items.get("resources")
        if res is None and suffix not in named_in_subtree:
            raise BadRequest(f"All member_of parameters must be associated with resources. Found the following "
                             f"orphaned member_of keys: member_of{suffix}" if "member_of" in items else
                             "All traits parameters must be associated with resources. Found the following orphaned "
                             f"traits keys: required{suffix}")
        if res is not None and len(res) > 1:
            raise BadRequest(f"Invalid query string parameters: 'resources{suffix}' may be given only once")
        required, forbidden = traits(items.get("required", []), version, f"required{suffix}")
        aggregates, not_aggregates = member_of(items.get("member_of", []), version, f"member_of{suffix}")
        in_tree = items.get("in_tree")
        groups.append(RequestGroup(
            suffix=suffix,
            resources=resources(res[0]) if res else {},
            required=required,
            forbidden=forbidden,
            member_of=aggregates,
            forbidden_aggregates=not_aggregates,
            in_tree=normalize_uuid(in_tree[-1], "in_tree UUID") if in_tree else None,
        ))
    if not any(g.resources for g in groups):
        raise BadRequest("Invalid query string parameters: 'resources' is a required property")
    suffixes = {g.suffix for g in groups}
    for named in same_subtree:
        unknown = sorted(named - suffixes)
        if unknown:
            raise BadRequest(f"Real suffixes should be specified in same_subtree: {', '.join(unknown)} not found "
                             "in request groups.")
    policy = given.get("group_policy", [None])[0]
    if policy not in (None, "none", "isolate"):
        raise BadRequest(f"Invalid query string parameters: {policy!r} is not one of ['none', 'isolate']")
    if policy is None and len([g for g in groups if g.same_provider and g.resources]) > 1:
        raise BadRequest('The "group_policy" parameter is required when specifying more than one "resources{N}" '
                         "parameter.")
    limit = None
    if "limit" in given:
        text = given["limit"][0]
        if not text.isdigit() or int(text) < 1:
            raise BadRequest(f"Invalid query string parameters: Failed validating 'pattern' in limit: {text!r}")
        limit = int(text)
    root_required, root_forbidden = traits(given.get("root_required", []), version, "root_required",
                                           any_of_allowed=False) if "root_required" in given else ((), frozenset())
    return CandidateQuery(
        groups=tuple(groups),
        group_policy=policy,
        limit=limit,
        root_required=root_required,
        root_forbidden=root_forbidden,
        same_subtree=same_subtree,
        nested=version.at_least(29),
    )
