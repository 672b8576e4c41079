"""Allocation candidates over provider trees: nested providers, sharing providers, request groups,
group_policy, root_required and same_subtree, as Placement defines them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from twinstack.core.errors import BadRequest
from twinstack.core.scheduler import placement as pl
from twinstack.core.scheduler.candidates import CandidateQuery, RequestGroup, allocation_candidates
from twinstack.db import migrate
from twinstack.db.session import make_engine, make_session_factory

AGG = "5a3c7b1e-0000-4000-8000-000000000001"


@pytest.fixture
def sessions() -> Iterator[sessionmaker[Session]]:
    engine = make_engine("sqlite://")
    migrate.upgrade(engine)
    yield make_session_factory(engine)
    engine.dispose()


def make(s: Session, name: str, parent: str | None = None, traits: tuple[str, ...] = (),
         aggregates: tuple[str, ...] = (), **inventory: int) -> str:
    rp = pl.create_provider(s, name, parent_uuid=parent)
    if inventory:
        pl.set_inventories(s, rp.uuid, None, {rc: pl.InventorySpec(n) for rc, n in inventory.items()})
    if traits:
        pl.set_traits(s, rp.uuid, None, traits)
    if aggregates:
        pl.set_aggregates(s, rp.uuid, None, aggregates)
    return rp.uuid


def candidates(sessions: sessionmaker[Session], *groups: RequestGroup, **kw: object) -> list[dict[str, dict[str, int]]]:
    with sessions() as s:
        found = allocation_candidates(s, CandidateQuery(groups, **kw))  # type: ignore[arg-type]
    return [r.allocations for r in found.allocation_requests]


def test_a_sharing_provider_serves_the_trees_of_its_aggregate(sessions: sessionmaker[Session]) -> None:
    with sessions() as s, s.begin():
        host = make(s, "host", aggregates=(AGG,), VCPU=8)
        other = make(s, "other", VCPU=8)
        nfs = make(s, "nfs", traits=("MISC_SHARES_VIA_AGGREGATE",), aggregates=(AGG,), DISK_GB=1000)
    assert candidates(sessions, RequestGroup("", {"VCPU": 1, "DISK_GB": 100})) == [
        {host: {"VCPU": 1}, nfs: {"DISK_GB": 100}}]
    assert other not in str(candidates(sessions, RequestGroup("", {"VCPU": 1, "DISK_GB": 100})))
    assert candidates(sessions, RequestGroup("", {"DISK_GB": 100})) == [{nfs: {"DISK_GB": 100}}]


def test_root_required_looks_at_the_root_of_the_tree(sessions: sessionmaker[Session]) -> None:
    with sessions() as s, s.begin():
        good = make(s, "good", traits=("COMPUTE_VOLUME_ATTACH",))
        bad = make(s, "bad")
        numa_good = make(s, "good-numa", parent=good, VCPU=4)
        make(s, "bad-numa", parent=bad, VCPU=4)
    wanted = (frozenset(["COMPUTE_VOLUME_ATTACH"]),)
    assert candidates(sessions, RequestGroup("", {"VCPU": 1}), root_required=wanted) == [{numa_good: {"VCPU": 1}}]
    assert len(candidates(sessions, RequestGroup("", {"VCPU": 1}),
                          root_forbidden=frozenset(["COMPUTE_VOLUME_ATTACH"]))) == 1


def test_same_subtree_keeps_groups_under_one_ancestor(sessions: sessionmaker[Session]) -> None:
    with sessions() as s, s.begin():
        host = make(s, "host")
        nic0 = make(s, "nic0", parent=host, traits=("HW_NIC_SRIOV",))
        nic1 = make(s, "nic1", parent=host)
        port0 = make(s, "nic0-port", parent=nic0, NET_BW_EGR_KILOBIT_PER_SEC=1000)
        port1 = make(s, "nic1-port", parent=nic1, NET_BW_EGR_KILOBIT_PER_SEC=1000)
    bandwidth = RequestGroup("_BW", {"NET_BW_EGR_KILOBIT_PER_SEC": 100})
    sriov = RequestGroup("_NIC", required=(frozenset(["HW_NIC_SRIOV"]),))
    assert candidates(sessions, bandwidth, sriov, group_policy="none") == [
        {port0: {"NET_BW_EGR_KILOBIT_PER_SEC": 100}}, {port1: {"NET_BW_EGR_KILOBIT_PER_SEC": 100}}]
    assert candidates(sessions, bandwidth, sriov, group_policy="none",
                      same_subtree=(frozenset(["_BW", "_NIC"]),)) == [{port0: {"NET_BW_EGR_KILOBIT_PER_SEC": 100}}]


def test_groups_on_one_provider_must_fit_together(sessions: sessionmaker[Session]) -> None:
    with sessions() as s, s.begin():
        host = make(s, "host", VCPU=4)
    one, two = RequestGroup("1", {"VCPU": 3}), RequestGroup("2", {"VCPU": 1})
    assert candidates(sessions, one, two, group_policy="none") == [{host: {"VCPU": 4}}]
    assert candidates(sessions, one, RequestGroup("2", {"VCPU": 2}), group_policy="none") == []
    assert candidates(sessions, one, two, group_policy="isolate") == []


def test_unknown_names_are_refused(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(BadRequest, match="CUSTOM_NOPE"):
        candidates(sessions, RequestGroup("", {"CUSTOM_NOPE": 1}))
    with pytest.raises(BadRequest, match="CUSTOM_TRAIT"):
        candidates(sessions, RequestGroup("", {"VCPU": 1}, required=(frozenset(["CUSTOM_TRAIT"]),)))
