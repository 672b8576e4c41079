"""Revocation events: early revocation of tokens that are otherwise authentic and unexpired.

An event names some attributes (user, project, role, trust, audit id, ...) and a time; a token is
revoked when it was issued no later than that time and matches every attribute the event names.
Events are stored (they survive restarts) and mirrored in memory, indexed by which attributes
they name, so checking a token costs a few dictionary lookups whatever the number of events.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from twinstack.core.clock import from_timestamp
from twinstack.core.identity.tokens import TokenPayload
from twinstack.db.models.identity import RevocationEvent

STORED_TIME_SLACK = 1e-6
"""Seconds added to a stored event's time: more than the rounding of a database timestamp."""

FIELDS = ("user_id", "project_id", "domain_id", "role_id", "trust_id", "app_cred_id", "audit_id",
          "audit_chain_id")


@dataclass(frozen=True)
class Revocation:
    """What to revoke: every named attribute must match. ``issued_before`` is epoch seconds."""

    issued_before: float
    user_id: str | None = None
    project_id: str | None = None
    domain_id: str | None = None
    role_id: str | None = None
    trust_id: str | None = None
    app_cred_id: str | None = None
    audit_id: str | None = None
    audit_chain_id: str | None = None

    @property
    def named(self) -> tuple[str, ...]:
        return tuple(f for f in FIELDS if getattr(self, f) is not None)

    @property
    def key(self) -> tuple[str, ...]:
        return tuple(getattr(self, f) for f in self.named)


def token_values(token: TokenPayload) -> dict[str, tuple[str, ...]]:
    """The values of each attribute a token can be revoked by; several where a token has several."""
    users = {token.user_id} | {u for u in (token.trustor_user_id, token.trustee_user_id) if u}
    domains = {d for d in (token.domain_id, token.user_domain_id, token.project_domain_id) if d}
    return {
        "user_id": tuple(users),
        "project_id": (token.project_id,) if token.project_id else (),
        "domain_id": tuple(domains),
        "role_id": tuple(token.role_ids),
        "trust_id": (token.trust_id,) if token.trust_id else (),
        "app_cred_id": (token.app_cred_id,) if token.app_cred_id else (),
        "audit_id": (token.audit_id,),
        "audit_chain_id": (token.audit_chain_id,),
    }


class RevocationList:
    """Every live revocation event of one cloud, in memory; persisted through :meth:`revoke`."""

    def __init__(self) -> None:
        self._by_shape: dict[tuple[str, ...], dict[tuple[str, ...], float]] = {}
        self._last_id = 0

    def add(self, event: Revocation) -> None:
        index = self._by_shape.setdefault(event.named, {})
        key = event.key
        index[key] = max(index.get(key, event.issued_before), event.issued_before)

    def is_revoked(self, token: TokenPayload) -> bool:
        if not self._by_shape:
            return False
        values = token_values(token)
        for shape, index in self._by_shape.items():
            for key in itertools.product(*(values[f] for f in shape)):
                issued_before = index.get(key)
                if issued_before is not None and token.issued_at <= issued_before:
                    return True
        return False

    def revoke(self, session: Session, event: Revocation, now: float) -> None:
        """Store the event (it takes effect for other processes once committed) and apply it here."""
        session.add(
            RevocationEvent(
                issued_before=from_timestamp(event.issued_before),
                revoked_at=from_timestamp(now),
                **{f: getattr(event, f) for f in FIELDS},
            )
        )
        self.add(event)

    def load(self, session: Session, oldest: float) -> None:
        """Pick up events stored since the last load (by this or another process), newer than ``oldest``."""
        rows: Iterable[RevocationEvent] = session.scalars(
            select(RevocationEvent).where(RevocationEvent.id > self._last_id).order_by(RevocationEvent.id)
        )
        for row in rows:
            self._last_id = max(self._last_id, row.id)
            # Stored times keep whole microseconds (rounded to the nearest); a token is stamped to the
            # float. Without the slack, a token revoked at its own issue time (token revoke) would
            # come back to life after a restart about half the time.
            issued_before = row.issued_before.timestamp() + STORED_TIME_SLACK
            if issued_before < oldest:
                continue
            self.add(Revocation(issued_before=issued_before, **{f: getattr(row, f) for f in FIELDS}))
