"""Fixtures of the modules that drive the load-balancer API in-process: a member ``alice`` of project ``demo``,
the simulated amphorae beside a live plane, her Octavia client and a subnet of hers. A module imports the ones it
uses (pytest finds fixtures by the names a module holds)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.compute_helpers import Member, make_member
from tests.api.loadbalancer_helpers import Octavia, running_amphorae
from tests.api.network_fixtures import plane  # noqa: F401  (fixture)
from tests.api.network_helpers import Neutron
from tests.conftest import Api
from twinstack.cloud import Cloud
from twinstack.compute_plane import ComputePlane
from twinstack.sim.amphora import SimAmphoraDriver


@pytest.fixture
def alice(api: Api) -> Member:
    return make_member(api, "alice", "demo")


@pytest.fixture
def amphorae(cloud: Cloud, plane: ComputePlane) -> Iterator[SimAmphoraDriver]:  # noqa: F811
    yield from running_amphorae(cloud, plane)


@pytest.fixture
def octavia(api: Api, alice: Member, amphorae: SimAmphoraDriver) -> Octavia:
    return Octavia(api, alice.token)


@pytest.fixture
def subnet(api: Api, alice: Member) -> dict[str, Any]:
    neutron = Neutron(api, alice.token)
    return neutron.subnet(neutron.network("lb-net")["id"], "10.40.0.0/24")
