"""Schemathesis over every service's OpenAPI document, as the cloud admin: no 5xx, and every answer is one the
document describes (status, content type, body, faults in the service's own format)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.hostile import PREFIXES, HostileCloud, fuzz, hostile_cloud

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileCloud]:
    yield from hostile_cloud(tmp_path_factory.mktemp("hostile-admin"))


@pytest.mark.parametrize("prefix", PREFIXES)
def test_valid_requests_get_documented_answers(hostile: HostileCloud, prefix: str) -> None:
    failures = fuzz(hostile.api, prefix, hostile.api.admin_token, max_examples=4)
    assert not failures, "\n\n".join(failures)
