"""Fixtures of the modules that drive servers on networks in-process: a live simulated plane, a member
``alice`` of project ``demo``, and her Nova (microversion 2.37) and Neutron clients. A module imports the
ones it uses (pytest finds fixtures by the names a module holds)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.compute_helpers import Member, Nova, make_member, running_plane
from tests.api.network_helpers import Neutron
from tests.conftest import Api
from twinstack.cloud import Cloud
from twinstack.compute_plane import ComputePlane


@pytest.fixture
def plane(cloud: Cloud) -> Iterator[ComputePlane]:
    yield from running_plane(cloud)


@pytest.fixture
def alice(api: Api) -> Member:
    return make_member(api, "alice", "demo")


@pytest.fixture
def nova(api: Api, alice: Member, plane: ComputePlane) -> Nova:
    return Nova(api, alice.token, "2.37")


@pytest.fixture
def neutron(api: Api, alice: Member) -> Neutron:
    return Neutron(api, alice.token)
