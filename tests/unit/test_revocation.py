"""Revocation events match a token exactly when every named attribute matches and it is old enough."""

from __future__ import annotations

from dataclasses import fields

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from twinstack.core.identity.revocation import FIELDS, Revocation, RevocationList, token_values
from twinstack.core.identity.tokens import TokenPayload
from twinstack.db.base import Base
from twinstack.db.session import make_engine

small = st.sampled_from(["a", "b", "c"])


@st.composite
def tokens(draw: st.DrawFn) -> TokenPayload:
    return TokenPayload(
        user_id=draw(small),
        user_domain_id=draw(small),
        methods=("password",),
        issued_at=draw(st.integers(0, 10)),
        expires_at=100.0,
        audit_ids=tuple(draw(st.lists(small, min_size=1, max_size=2))),
        project_id=draw(st.none() | small),
        project_domain_id=draw(st.none() | small),
        roles=tuple((r, r) for r in draw(st.sets(small, max_size=3))),
        trust_id=draw(st.none() | small),
        trustor_user_id=draw(st.none() | small),
        app_cred_id=draw(st.none() | small),
    )


@st.composite
def events(draw: st.DrawFn) -> Revocation:
    named = {f: draw(st.none() | small) for f in FIELDS}
    return Revocation(issued_before=draw(st.integers(0, 10)), **named)


def matches_by_definition(event: Revocation, token: TokenPayload) -> bool:
    values = token_values(token)
    return token.issued_at <= event.issued_before and all(getattr(event, f) in values[f] for f in event.named)


@given(st.lists(events(), max_size=6), tokens())
def test_indexed_check_agrees_with_the_definition(evs: list[Revocation], token: TokenPayload) -> None:
    revocations = RevocationList()
    for event in evs:
        revocations.add(event)
    assert revocations.is_revoked(token) == any(matches_by_definition(e, token) for e in evs)


@given(tokens())
def test_a_token_issued_after_the_event_survives_it(token: TokenPayload) -> None:
    revocations = RevocationList()
    revocations.add(Revocation(issued_before=token.issued_at - 1, user_id=token.user_id))
    assert not revocations.is_revoked(token)
    revocations.add(Revocation(issued_before=token.issued_at, user_id=token.user_id))
    assert revocations.is_revoked(token)


def test_revocation_fields_cover_every_event_column() -> None:
    assert {f.name for f in fields(Revocation)} - {"issued_before"} == set(FIELDS)


ENGINE = make_engine("sqlite://")
Base.metadata.create_all(ENGINE)


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=1e9, max_value=4e9, allow_nan=False))
def test_a_token_revoked_at_its_own_issue_time_stays_revoked_once_reloaded(issued_at: float) -> None:
    """The stored time has microseconds only; a token issued within that microsecond is still caught."""
    token = TokenPayload(
        user_id="u",
        user_domain_id="d",
        methods=("password",),
        issued_at=issued_at,
        expires_at=issued_at + 3600,
        audit_ids=("a",),
    )
    with Session(ENGINE) as session:
        RevocationList().revoke(session, Revocation(issued_before=issued_at, audit_id="a"), issued_at)
        session.flush()
        reloaded = RevocationList()
        reloaded.load(session, oldest=0)
        assert reloaded.is_revoked(token)
        later = TokenPayload(
            user_id="u",
            user_domain_id="d",
            methods=("password",),
            issued_at=issued_at + 0.01,
            expires_at=issued_at + 3600,
            audit_ids=("a",),
        )
        assert not reloaded.is_revoked(later)
        session.rollback()
