"""Fixtures of the modules that drive block storage beside a compute plane in-process: the running planes and
the Cinder and Nova (microversion 2.79) clients. A module imports the ones it uses (pytest finds fixtures by the
names a module holds) and overrides ``conductor_settings`` to run the planes' conductor with its own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.compute_helpers import Nova
from tests.api.volume_helpers import Cinder, Planes, running_planes
from tests.conftest import Api
from twinstack.core.compute.conductor import ConductorSettings


@pytest.fixture
def conductor_settings() -> ConductorSettings | None:
    """The planes' conductor settings; None: the plane's own."""
    return None


@pytest.fixture
def planes(api: Api, conductor_settings: ConductorSettings | None) -> Iterator[Planes]:
    yield from running_planes(api, conductor=conductor_settings)


@pytest.fixture
def cinder(api: Api, planes: Planes) -> Cinder:
    return Cinder(api)


@pytest.fixture
def nova(api: Api, planes: Planes) -> Nova:
    return Nova(api, version="2.79")
