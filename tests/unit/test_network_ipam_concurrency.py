"""IPAM under concurrency, on SQLite and PostgreSQL: 200 ports created at once on one /24 get 200
distinct addresses; once the pool is spent, the next creation fails with IpAddressGenerationFailure
and leaves nothing behind. Two first uses of a project's security groups racing make one default, and two first
asks for its auto-allocated topology make one topology.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import make_settings
from twinstack.cloud import Cloud, open_cloud
from twinstack.core.clock import ManualClock
from twinstack.core.errors import CloudError
from twinstack.core.network import auto_allocation, bootstrap, networks, ports, security_groups, subnets
from twinstack.core.network.common import acting_for
from twinstack.core.network.errors import IpAddressGenerationFailure
from twinstack.db.models.network import (
    AutoAllocatedTopologyRow,
    DefaultSecurityGroupRow,
    IpAllocationRow,
    NetworkRow,
    PortRow,
    RouterRow,
)

PROJECT = "p" * 32
WORKERS = 24


@pytest.fixture
def cloud(tmp_path: Path, database_url: str) -> Iterator[Cloud]:
    built = open_cloud(make_settings(tmp_path, database_url), clock=ManualClock(1_800_000_000.0))
    yield built
    built.close()


def make_subnet(cloud: Cloud) -> str:
    creds = acting_for(PROJECT)
    with cloud.transaction() as session:
        network = networks.create_network(session, cloud.clock, cloud.settings.network, creds,
                                          networks.NetworkSpec(name="n"))
        subnets.create_subnet(session, cloud.clock, creds, subnets.SubnetSpec(network_id=network.id, ip_version=4,
                                                                              cidr="10.0.0.0/24"))
        return network.id


def create_port(cloud: Cloud, network_id: str) -> str | CloudError:
    try:
        with cloud.transaction() as session:
            row = ports.create_port(session, cloud.clock, cloud.settings.network, acting_for(PROJECT),
                                    ports.PortSpec(network_id=network_id, security_groups=[]))
            return row.id
    except CloudError as exc:
        return exc


def addresses(cloud: Cloud, network_id: str) -> list[str]:
    with cloud.sessions() as session:
        return list(session.scalars(select(IpAllocationRow.ip_address)
                                    .where(IpAllocationRow.network_id == network_id)))


@pytest.mark.timeout(240)
def test_parallel_ports_get_distinct_addresses_and_a_full_subnet_fails_cleanly(cloud: Cloud) -> None:
    network_id = make_subnet(cloud)
    with ThreadPoolExecutor(WORKERS) as pool:
        made = list(pool.map(lambda _: create_port(cloud, network_id), range(200)))
    errors = [m for m in made if isinstance(m, CloudError)]
    assert errors == []
    held = addresses(cloud, network_id)
    assert len(held) == len(set(held)) == 200
    with ThreadPoolExecutor(WORKERS) as pool:
        rest = list(pool.map(lambda _: create_port(cloud, network_id), range(60)))
    failures = [m for m in rest if isinstance(m, CloudError)]
    assert len(failures) == 60 - 53 and all(isinstance(f, IpAddressGenerationFailure) for f in failures)
    held = addresses(cloud, network_id)
    assert len(held) == len(set(held)) == 253
    assert {f"10.0.0.{n}" for n in range(2, 255)} == set(held)
    with cloud.sessions() as session:
        assert session.scalar(select(func.count()).select_from(PortRow)) == 253


def test_racing_first_uses_make_one_default_group(cloud: Cloud) -> None:
    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(lambda _: security_groups.ensure_default(cloud.sessions, cloud.clock, PROJECT), range(16)))
    assert len(ids) == 1
    with cloud.sessions() as session:
        assert session.scalar(select(func.count()).select_from(DefaultSecurityGroupRow)) == 1
        groups = security_groups.list_groups(session, acting_for(PROJECT))
        assert [g.name for g in groups] == ["default"]


def test_racing_first_asks_for_the_auto_allocated_topology_make_one(cloud: Cloud) -> None:
    with cloud.transaction() as session:
        bootstrap.ensure_public_network(session, cloud.clock, cloud.settings.network, "a" * 32)
        bootstrap.ensure_default_subnetpool(session, cloud.clock, cloud.settings.network, "a" * 32)

    def ask(_: int) -> str:
        with cloud.transaction() as session:
            return auto_allocation.get_or_build(session, cloud.clock, cloud.settings.network, acting_for(PROJECT),
                                                PROJECT)

    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(ask, range(16)))
    assert len(ids) == 1
    with cloud.sessions() as session:
        assert session.scalar(select(func.count()).select_from(AutoAllocatedTopologyRow)) == 1
        assert list(session.scalars(select(NetworkRow.id).where(NetworkRow.project_id == PROJECT))) == list(ids)
        assert session.scalar(select(func.count()).select_from(RouterRow)) == 1
