"""Token signing keys, kept in the database so every process of one cloud seals and opens alike."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from twinstack.core.clock import Clock, utcnow
from twinstack.core.identity.tokens import KeyPair
from twinstack.db.models.identity import SigningKey


def load_keys(session: Session) -> list[KeyPair]:
    """Every known key, the active (signing) one first."""
    rows = session.scalars(select(SigningKey).order_by(SigningKey.active.desc(), SigningKey.created_at.desc()))
    return [KeyPair(r.id, r.private_key if r.active else None, r.public_key) for r in rows]


def ensure_signing_key(session: Session, clock: Clock) -> None:
    """Create the first signing key of a new cloud; a cloud that has one is left alone."""
    if session.scalar(select(SigningKey.id).where(SigningKey.active.is_(True)).limit(1)) is not None:
        return
    pair = KeyPair.generate()
    assert pair.private_pem is not None
    session.add(
        SigningKey(id=pair.key_id, private_key=pair.private_pem, public_key=pair.public_pem,
                   created_at=utcnow(clock), active=True)
    )
