"""A conductor registering an agent's hosts (SqlBackedPlacement.register_hosts): the providers, inventories and
traits Placement shows afterwards, what registering again keeps, and that the work is set-based (the statements
sent do not grow with the number of hosts). Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from tests.databases import on_each_database as cloud  # noqa: F401  (runs every test on both databases)
from tests.unit.scheduler.hosts import host
from twinstack.cloud import Cloud
from twinstack.core.scheduler import host_providers
from twinstack.core.scheduler import placement as sql
from twinstack.core.scheduler.placement_names import DuplicateName, trait_exists
from twinstack.core.scheduler.shared_placement import SharedPlacement
from twinstack.core.scheduler.write_through import provider_uuid


def provider(cloud: Cloud, name: str) -> tuple[sql.Provider, dict[str, sql.InventorySpec], list[str]]:  # noqa: F811
    with cloud.sessions() as session:
        uuid = next(p.uuid for p in sql.list_providers(session) if p.name == name)
        found, inventories = sql.get_inventories(session, uuid)
        return found, inventories, sql.get_traits(session, uuid)[1]


@contextmanager
def statements(cloud: Cloud) -> Iterator[list[str]]:  # noqa: F811
    sent: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        sent.append(statement)

    engine = cloud.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", seen)


def test_registered_hosts_get_their_providers_inventories_and_traits(cloud: Cloud) -> None:  # noqa: F811
    SharedPlacement(cloud.sessions).register_hosts([
        host("h1", vcpus=4, cpu_ratio=2.0, traits=["HW_CPU_X86_AVX2", "CUSTOM_FAST", "HW_NO_SUCH_TRAIT"]),
        host("h2", ram_mb=2048, traits=[]),
    ])
    first, inventories, traits = provider(cloud, "h1")
    assert (first.uuid, first.root_uuid, first.parent_uuid) == (provider_uuid("h1"), provider_uuid("h1"), None)
    assert first.generation == 2, "its inventories, then its traits, each a generation"
    assert inventories["VCPU"] == sql.InventorySpec(4, 0, 1, 4, 1, 2.0)
    assert traits == ["CUSTOM_FAST", "HW_CPU_X86_AVX2"], "a custom trait is made, an unknown standard one left out"
    with cloud.sessions() as session:
        assert trait_exists(session, "CUSTOM_FAST") and not trait_exists(session, "HW_NO_SUCH_TRAIT")
    second, inventories, traits = provider(cloud, "h2")
    assert second.generation == 1 and traits == [], "no traits: nothing to replace"
    assert inventories["MEMORY_MB"] == sql.InventorySpec(2048, 0, 1, 2048, 1, 1.0)


def test_registering_again_changes_nothing_and_keeps_the_allocations(cloud: Cloud) -> None:  # noqa: F811
    hosts = [host("h1", vcpus=4, traits=["CUSTOM_FAST"]), host("h2", vcpus=4)]
    first = SharedPlacement(cloud.sessions)
    first.register_hosts(hosts)
    assert first.claim("vm-1", "p", "u", "h1", {"VCPU": 3, "MEMORY_MB": 512})
    before = [provider(cloud, name) for name in ("h1", "h2")]
    restarted = SharedPlacement(cloud.sessions)  # a conductor starting over, the agent registering again
    restarted.register_hosts(hosts)
    assert [provider(cloud, name) for name in ("h1", "h2")] == before, "generations, inventories, traits as they were"
    assert restarted.allocations("vm-1") == {"h1": {"VCPU": 3, "MEMORY_MB": 512}}, "the columns load what is held"
    assert not restarted.claim("vm-2", "p", "u", "h1", {"VCPU": 2}), "and count it: 1 vCPU left on h1"
    assert restarted.claim("vm-2", "p", "u", "h2", {"VCPU": 2})


def test_a_changed_inventory_is_replaced_but_never_below_what_is_allocated(cloud: Cloud) -> None:  # noqa: F811
    placement = SharedPlacement(cloud.sessions)
    placement.register_hosts([host("h1", vcpus=4), host("h2", vcpus=4)])
    assert placement.claim("vm-1", "p", "u", "h1", {"VCPU": 3})
    placement.register_hosts([host("h1", vcpus=8), host("h2", vcpus=4)])
    grown, inventories, _traits = provider(cloud, "h1")
    assert inventories["VCPU"].total == 8 and grown.generation == 3, "one more generation: the claim, then this"
    assert provider(cloud, "h2")[0].generation == 1, "unchanged, untouched"
    with pytest.raises(sql.InventoryInUse):
        SharedPlacement(cloud.sessions).register_hosts([host("h1", vcpus=2), host("h2", vcpus=8)])
    assert provider(cloud, "h1")[1]["VCPU"].total == 8 and provider(cloud, "h2")[1]["VCPU"].total == 4, \
        "refused as a whole: nothing changed"


def test_registering_many_hosts_sends_no_more_statements_than_a_few(cloud: Cloud) -> None:  # noqa: F811
    """Set-based: one host at a time was some 24 statements per new host, and 8 per known one."""
    few, many = [host(f"a{i}", traits=["CUSTOM_A"]) for i in range(3)], [host(f"b{i}") for i in range(40)]
    counts = []
    for hosts in (few, many, few, many):
        with statements(cloud) as sent:
            SharedPlacement(cloud.sessions).register_hosts(hosts)
        counts.append(len(sent))
    assert counts[1] <= counts[0] and counts[3] <= counts[2], counts


def test_hosts_beyond_one_statements_worth_are_all_registered(cloud: Cloud,  # noqa: F811
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The statements take 500 hosts each: every host of every slice gets its provider, inventories and traits, and
    its allocations loaded (here slices of 7, so that 20 hosts make three)."""
    monkeypatch.setattr(host_providers, "CHUNK", 7)
    hosts = [host(f"h{i:02d}", vcpus=2 + i, traits=[f"CUSTOM_T{i % 3}"]) for i in range(20)]
    first = SharedPlacement(cloud.sessions)
    first.register_hosts(hosts)
    for i in (0, 6, 7, 13, 14, 19):
        assert first.claim(f"vm-{i}", "p", "u", f"h{i:02d}", {"VCPU": 1})
    again = SharedPlacement(cloud.sessions)
    again.register_hosts(hosts)
    for i, registered in enumerate(hosts):
        found, inventories, traits = provider(cloud, registered.host)
        assert inventories["VCPU"].total == 2 + i and traits == [f"CUSTOM_T{i % 3}"]
        assert found.generation == (3 if i in (0, 6, 7, 13, 14, 19) else 2), "registered again: unchanged"
    assert {again.host_of(f"vm-{i}") for i in (0, 6, 7, 13, 14, 19)} == {"h00", "h06", "h07", "h13", "h14", "h19"}


def test_a_new_hosts_provider_uuid_held_under_another_name_is_refused(cloud: Cloud) -> None:  # noqa: F811
    """As Placement refuses a second provider with a taken uuid: nothing of the registration is written."""
    with cloud.sessions() as session, session.begin():
        sql.create_provider(session, "renamed-elsewhere", provider_uuid("h1"))
    with pytest.raises(DuplicateName):
        SharedPlacement(cloud.sessions).register_hosts([host("h2"), host("h1")])
    with cloud.sessions() as session:
        assert [p.name for p in sql.list_providers(session)] == ["renamed-elsewhere"]
