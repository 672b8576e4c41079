"""Token sealing: every authentic payload round-trips; anything altered, forged or foreign is refused."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twinstack.core.clock import ManualClock
from twinstack.core.errors import Unauthorized
from twinstack.core.identity.revocation import RevocationList
from twinstack.core.identity.tokens import KeyPair, TokenPayload, TokenSealer
from twinstack.core.identity.validator import TokenValidator

KEYS = KeyPair.generate()
OTHER_KEYS = KeyPair.generate()
SEALER = TokenSealer([KEYS])

ids = st.text(alphabet="0123456789abcdef", min_size=1, max_size=32)
maybe_id = st.none() | ids
roles = st.lists(st.tuples(ids, st.text(min_size=1, max_size=20)), max_size=5).map(tuple)


@st.composite
def payloads(draw: st.DrawFn) -> TokenPayload:
    issued = draw(st.floats(min_value=0, max_value=4e9, allow_nan=False))
    return TokenPayload(
        user_id=draw(ids),
        user_domain_id=draw(ids),
        methods=tuple(draw(st.lists(st.sampled_from(["password", "token", "application_credential"]),
                                    min_size=1, max_size=3, unique=True))),
        issued_at=issued,
        expires_at=issued + draw(st.floats(min_value=1, max_value=1e6, allow_nan=False)),
        audit_ids=tuple(draw(st.lists(ids, min_size=1, max_size=2))),
        project_id=draw(maybe_id),
        project_domain_id=draw(maybe_id),
        domain_id=draw(maybe_id),
        system=draw(st.none() | st.just("all")),
        roles=draw(roles),
        trust_id=draw(maybe_id),
        trustor_user_id=draw(maybe_id),
        trustee_user_id=draw(maybe_id),
        impersonation=draw(st.booleans()),
        app_cred_id=draw(maybe_id),
        app_cred_restricted=draw(st.booleans()),
        access_rules=tuple(draw(st.lists(st.tuples(ids, st.sampled_from(["compute", "image"]),
                                                   st.sampled_from(["GET", "POST"]), st.text(max_size=30)),
                                         max_size=3))),
    )


@given(payloads())
def test_every_sealed_payload_opens_to_itself(payload: TokenPayload) -> None:
    assert TokenSealer([KEYS]).open(SEALER.seal(payload)) == payload


@given(payloads(), st.data())
@settings(max_examples=200)
def test_any_changed_character_is_refused(payload: TokenPayload, data: st.DataObject) -> None:
    token = SEALER.seal(payload)
    position = data.draw(st.integers(min_value=0, max_value=len(token) - 1))
    replacement = data.draw(st.sampled_from("ABCxyz019-_.").filter(lambda c: c != token[position]))
    altered = token[:position] + replacement + token[position + 1:]
    try:
        opened = TokenSealer([KEYS]).open(altered)
    except Unauthorized:
        return
    # base64 can map two texts to one byte string (unused low bits of the last character):
    # then the bytes, and so the payload, are exactly the original ones.
    assert opened == payload


@given(payloads())
def test_a_token_sealed_with_another_key_is_refused(payload: TokenPayload) -> None:
    forged = TokenSealer([OTHER_KEYS]).seal(payload)
    with pytest.raises(Unauthorized):
        TokenSealer([KEYS]).open(forged)


def test_a_validating_only_service_needs_just_the_public_key() -> None:
    public_only = TokenSealer([KeyPair(KEYS.key_id, None, KEYS.public_pem)])
    payload = TokenPayload("u", "d", ("password",), 1.0, 2.0, ("a",))
    assert public_only.open(SEALER.seal(payload)) == payload
    with pytest.raises(RuntimeError):
        public_only.seal(payload)


def test_keys_rotated_elsewhere_are_fetched_on_first_sight() -> None:
    loaded: list[int] = []

    def loader() -> list[KeyPair]:
        loaded.append(1)
        return [OTHER_KEYS]

    sealer = TokenSealer([KEYS], key_loader=loader)
    payload = TokenPayload("u", "d", ("password",), 1.0, 2.0, ("a",))
    assert sealer.open(TokenSealer([OTHER_KEYS]).seal(payload)) == payload
    assert loaded == [1]


@given(payloads(), st.floats(min_value=0, max_value=5e9, allow_nan=False))
def test_validator_refuses_exactly_the_expired_tokens(payload: TokenPayload, now: float) -> None:
    validator = TokenValidator(SEALER, RevocationList(), ManualClock(now))
    token = SEALER.seal(payload)
    if payload.expires_at > now:
        assert validator.validate(token) == payload
    else:
        with pytest.raises(Unauthorized):
            validator.validate(token)


@pytest.mark.parametrize("garbage", ["", "x", "a.b", "a.b.c", "...", "eyJ9.AAAA", "é.é"])
def test_garbage_is_refused_not_crashed(garbage: str) -> None:
    with pytest.raises(Unauthorized):
        SEALER.open(garbage)
