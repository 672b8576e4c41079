"""Access rule paths match as keystonemiddleware matches them: {tag} and * one segment, ** anything."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twinstack.core.identity.access_rule_match import RuleRequest, path_matches, request_allowed

segment = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._~:", min_size=1, max_size=12)
paths = st.lists(segment, min_size=1, max_size=5).map(lambda parts: "/" + "/".join(parts))


@pytest.mark.parametrize(
    ("path", "pattern", "matches"),
    [
        ("/v2.1/servers", "/v2.1/servers", True),
        ("/v2.1/servers/abc", "/v2.1/servers", False),
        ("/v2.1/servers/abc", "/v2.1/servers/{server_id}", True),
        ("/v2.1/servers/abc/ips", "/v2.1/servers/{server_id}", False),
        ("/v2.1/servers/abc/ips", "/v2.1/servers/*/ips", True),
        ("/v2.1/servers/abc/def/ips", "/v2.1/servers/*/ips", False),
        ("/v2.1/servers/abc/def/ips", "/v2.1/servers/**", True),
        ("/v2.1/servers", "/v2.1/servers/**", False),
        ("/v2x1/servers", "/v2.1/servers", False),
    ],
)
def test_documented_patterns(path: str, pattern: str, matches: bool) -> None:
    assert path_matches(path, pattern) is matches


@given(paths)
def test_a_literal_path_matches_itself_and_nothing_longer(path: str) -> None:
    assert path_matches(path, path)
    assert not path_matches(path + "/more", path)


@given(paths, segment)
def test_a_star_stands_for_exactly_one_segment(path: str, last: str) -> None:
    assert path_matches(f"{path}/{last}", f"{path}/*")
    assert not path_matches(f"{path}/{last}/{last}", f"{path}/*")
    assert path_matches(f"{path}/{last}/{last}", f"{path}/**")


@given(paths, st.sampled_from(["GET", "POST", "DELETE"]), st.sampled_from(["compute", "image"]))
def test_service_and_method_must_both_match(path: str, method: str, service: str) -> None:
    rules = [(service, method, path)]
    assert request_allowed(rules, RuleRequest(service, method, path))
    assert not request_allowed(rules, RuleRequest("network", method, path))
    assert not request_allowed(rules, RuleRequest(service, "PATCH", path))


def test_the_identity_service_always_validates_a_token() -> None:
    assert request_allowed([], RuleRequest("identity", "GET", "/v3/auth/tokens"))
    assert not request_allowed([], RuleRequest("identity", "GET", "/v3/auth/catalog"))
    assert not request_allowed([], RuleRequest("compute", "GET", "/v3/auth/tokens"))
