"""Schemathesis over every service's OpenAPI document, as a project member: valid requests get documented
answers (most of them 403 and 404 faults, in the service's format), and invalid bodies never a 5xx."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.hostile import PREFIXES, HostileCloud, fuzz, hostile_cloud

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileCloud]:
    yield from hostile_cloud(tmp_path_factory.mktemp("hostile-member"))


@pytest.mark.parametrize("prefix", PREFIXES)
def test_valid_requests_get_documented_answers(hostile: HostileCloud, prefix: str) -> None:
    failures = fuzz(hostile.api, prefix, hostile.alice.token, max_examples=3)
    assert not failures, "\n\n".join(failures)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_invalid_bodies_never_break_the_server(hostile: HostileCloud, prefix: str) -> None:
    for token in (hostile.api.admin_token, hostile.alice.token):
        failures = fuzz(hostile.api, prefix, token, max_examples=3, negative=True)
        assert not failures, "\n\n".join(failures)
