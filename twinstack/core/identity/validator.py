"""The one place a token is judged: authentic (signature), unexpired (clock), not revoked."""

from __future__ import annotations

from twinstack.core.clock import Clock
from twinstack.core.errors import NotFound, Unauthorized
from twinstack.core.identity.revocation import RevocationList
from twinstack.core.identity.tokens import TokenPayload, TokenSealer


class TokenValidator:
    """Shared by every service of a process, so a revocation applies to all of them at once."""

    def __init__(self, sealer: TokenSealer, revocations: RevocationList, clock: Clock) -> None:
        self.sealer = sealer
        self.revocations = revocations
        self.clock = clock

    def validate(self, token: str) -> TokenPayload:
        """The token's payload, or Unauthorized if it is forged, expired or revoked."""
        payload = self.sealer.open(token)
        if payload.expires_at <= self.clock.now():
            raise Unauthorized("The request you have made requires authentication.")
        if self.revocations.is_revoked(payload):
            raise Unauthorized("The request you have made requires authentication.")
        return payload

    def validate_subject(self, token: str) -> TokenPayload:
        """Like validate, for a token named as the subject of a call: unknown answers 404."""
        try:
            return self.validate(token)
        except Unauthorized as exc:
            raise NotFound("Could not find token.") from exc
