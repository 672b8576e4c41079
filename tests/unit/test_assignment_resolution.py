"""Role-assignment resolution over random clouds: the rules hold whatever the graph of grants.

Each example is a small random cloud: a forest of projects over two domains, users in groups,
grants of every kind (inherited or not), and implication rules between roles, cycles included.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from twinstack.core.identity.assignments import (
    GROUP_DOMAIN,
    GROUP_PROJECT,
    GROUP_SYSTEM,
    SYSTEM_TARGET,
    USER_DOMAIN,
    USER_PROJECT,
    USER_SYSTEM,
    EffectiveGrant,
    Grant,
    Snapshot,
    ancestors,
    descendants,
    effective_grants,
    expand_assignments,
    implied_closure,
    priors_of,
    roles_on,
)

USERS = [f"u{i}" for i in range(4)]
GROUPS = [f"g{i}" for i in range(3)]
DOMAINS = ["d0", "d1"]
ROLES = [f"r{i}" for i in range(5)]
KINDS = [USER_PROJECT, GROUP_PROJECT, USER_DOMAIN, GROUP_DOMAIN, USER_SYSTEM, GROUP_SYSTEM]

RANDOM_CLOUDS = settings(max_examples=150, deadline=None)


@st.composite
def projects(draw: st.DrawFn) -> tuple[dict[str, str | None], dict[str, str]]:
    """A forest of up to 7 projects; a child lives in its parent's domain."""
    parent: dict[str, str | None] = {}
    domain: dict[str, str] = {}
    for i in range(draw(st.integers(1, 7))):
        pid = f"p{i}"
        up = draw(st.none() | st.sampled_from(sorted(parent))) if parent else None
        parent[pid] = up
        domain[pid] = domain[up] if up is not None else draw(st.sampled_from(DOMAINS))
    return parent, domain


@st.composite
def grants(draw: st.DrawFn, project_ids: list[str]) -> Grant:
    kind = draw(st.sampled_from(KINDS))
    actor = draw(st.sampled_from(GROUPS if kind.startswith("Group") else USERS))
    role = draw(st.sampled_from(ROLES))
    if kind.endswith("System"):
        return Grant(kind, actor, SYSTEM_TARGET, role)
    target = draw(st.sampled_from(project_ids if kind.endswith("Project") else DOMAINS))
    return Grant(kind, actor, target, role, draw(st.booleans()))


implications = st.dictionaries(st.sampled_from(ROLES), st.lists(st.sampled_from(ROLES), max_size=3, unique=True),
                               max_size=5)
memberships = st.dictionaries(st.sampled_from(GROUPS), st.lists(st.sampled_from(USERS), max_size=4, unique=True),
                              max_size=3)


@st.composite
def snapshots(draw: st.DrawFn) -> Snapshot:
    parent, domain = draw(projects())
    return Snapshot(
        grants=draw(st.lists(grants(sorted(parent)), max_size=12)),
        group_members=draw(memberships),
        project_parent=parent,
        project_domain=domain,
        implied=draw(implications),
    )


def every_target(snapshot: Snapshot) -> list[tuple[str, str]]:
    return ([("project", p) for p in snapshot.project_parent] + [("domain", d) for d in DOMAINS]
            + [("system", SYSTEM_TARGET)])


def held(effective: Iterable[EffectiveGrant], user: str, target_type: str, target_id: str) -> set[str]:
    return {e.role_id for e in effective if (e.user_id, e.target_type, e.target_id) == (user, target_type, target_id)}


def groups_of(snapshot: Snapshot, user: str) -> list[str]:
    return [g for g, members in snapshot.group_members.items() if user in set(members)]


@RANDOM_CLOUDS
@given(snapshots())
def test_roles_on_agrees_with_effective_grants_everywhere(snapshot: Snapshot) -> None:
    effective = effective_grants(snapshot)
    for user in USERS:
        for target_type, target_id in every_target(snapshot):
            assert roles_on(snapshot, user, target_type, target_id) == held(effective, user, target_type, target_id)


@RANDOM_CLOUDS
@given(snapshots())
def test_a_snapshot_cut_to_one_user_and_target_answers_as_the_whole_cloud(snapshot: Snapshot) -> None:
    """What the token path loads (the user's and their groups' grants on the target and above) is enough."""
    for user in USERS:
        groups = groups_of(snapshot, user)
        for target_type, target_id in every_target(snapshot):
            reach = {target_id}
            if target_type == "project":
                reach |= set(ancestors(target_id, snapshot.project_parent)) | {snapshot.project_domain[target_id]}
            cut = Snapshot(
                grants=[g for g in snapshot.grants if g.target_id in reach and g.actor_id in {user, *groups}],
                project_parent=snapshot.project_parent, project_domain=snapshot.project_domain,
                implied=snapshot.implied,
            )
            assert roles_on(cut, user, target_type, target_id, groups) == roles_on(
                snapshot, user, target_type, target_id)


def reached_targets(grant: Grant, snapshot: Snapshot) -> set[tuple[str, str]]:
    """Where a grant applies, worked out independently of the resolver."""
    if not grant.inherited:
        return {(grant.target_type, grant.target_id)}
    parent = snapshot.project_parent
    if grant.target_type == "project":
        return {("project", p) for p in parent if grant.target_id in ancestors(p, parent)}
    return {("project", p) for p, d in snapshot.project_domain.items() if d == grant.target_id}


@RANDOM_CLOUDS
@given(snapshots())
def test_group_grants_reach_exactly_the_members(snapshot: Snapshot) -> None:
    for grant in (g for g in snapshot.grants if g.to_group):
        alone = replace(snapshot, grants=[grant], implied={})
        reached = {(e.user_id, e.target_type, e.target_id) for e in effective_grants(alone)}
        members = set(snapshot.group_members.get(grant.actor_id, ()))
        assert reached == {(u, *t) for u in members for t in reached_targets(grant, snapshot)}


@RANDOM_CLOUDS
@given(snapshots())
def test_inherited_grants_never_reach_their_own_target_but_reach_every_descendant(snapshot: Snapshot) -> None:
    for grant in (g for g in snapshot.grants if g.inherited):
        as_user = replace(grant, kind="User" + grant.kind.removeprefix("User").removeprefix("Group"), actor_id="u0")
        reached = {(e.target_type, e.target_id) for e in effective_grants(replace(snapshot, grants=[as_user]))}
        assert reached == reached_targets(grant, snapshot)
        assert (grant.target_type, grant.target_id) not in reached


@RANDOM_CLOUDS
@given(snapshots())
def test_descendants_are_exactly_the_projects_with_the_project_among_their_ancestors(snapshot: Snapshot) -> None:
    parent = snapshot.project_parent
    for project in parent:
        assert set(descendants(project, parent)) == {p for p in parent if project in ancestors(p, parent)}


@RANDOM_CLOUDS
@given(implications, st.lists(st.sampled_from(ROLES), max_size=3))
def test_implied_closure_is_transitive_minimal_and_cycle_safe(implied: dict[str, list[str]], start: list[str]) -> None:
    closure = implied_closure(start, implied)
    assert set(start) <= closure
    assert implied_closure(closure, implied) == closure
    for role in closure:
        assert set(implied.get(role, ())) <= closure
    reachable = set(start)
    for _ in ROLES:
        reachable |= {r for p in reachable for r in implied.get(p, ())}
    assert closure == reachable


@RANDOM_CLOUDS
@given(implications, st.sampled_from(ROLES), st.sampled_from(ROLES))
def test_priors_of_is_the_reverse_of_the_closure(implied: dict[str, list[str]], role: str, other: str) -> None:
    assert (role in implied_closure([other], implied)) == (other in priors_of(role, implied))


@RANDOM_CLOUDS
@given(snapshots(), st.data())
def test_removing_a_grant_a_membership_or_a_rule_never_adds_a_role(snapshot: Snapshot, data: st.DataObject) -> None:
    smaller = [replace(snapshot, grants=snapshot.grants[:i] + snapshot.grants[i + 1:])
               for i in range(len(snapshot.grants))]
    if snapshot.group_members:
        group = data.draw(st.sampled_from(sorted(snapshot.group_members)))
        members = list(snapshot.group_members[group])
        smaller.append(replace(snapshot, group_members={**snapshot.group_members, group: members[1:]}))
    if snapshot.implied:
        prior = data.draw(st.sampled_from(sorted(snapshot.implied)))
        smaller.append(replace(snapshot, implied={**snapshot.implied, prior: list(snapshot.implied[prior])[1:]}))
    for less in smaller:
        for user in USERS:
            for target_type, target_id in every_target(snapshot):
                assert roles_on(less, user, target_type, target_id) <= roles_on(snapshot, user, target_type,
                                                                                 target_id)


@RANDOM_CLOUDS
@given(snapshots())
def test_the_effective_listing_holds_the_same_roles_and_each_implied_entry_follows_a_rule(
        snapshot: Snapshot) -> None:
    listing = expand_assignments(snapshot)
    key = lambda e: (e.user_id, e.target_type, e.target_id, e.role_id)  # noqa: E731
    assert {key(e) for e in listing} == {key(e) for e in effective_grants(snapshot)}
    assert len(set(listing)) == len(listing)
    for entry in listing:
        if entry.implied_by is None:
            assert entry.role_id == entry.source.role_id
        else:
            assert entry.role_id in snapshot.implied.get(entry.implied_by, ())
            assert entry.implied_by in implied_closure([entry.source.role_id], snapshot.implied)
