"""Signed tokens: what a token says, and how it is sealed with Ed25519 and checked by any service.

A token is ``<payload>.<signature>``, both base64url without padding. The payload is compact JSON
holding everything a service needs to authorise a call (user, scope, role ids and names, expiry),
so validation is one signature check and a revocation lookup, with no database round trip.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from twinstack.core.errors import Unauthorized

TOKEN_FORMAT_VERSION = 1
OPENED_CACHE_SIZE = 4096


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_audit_id() -> str:
    return _b64encode(uuid.uuid4().bytes)


@dataclass(frozen=True)
class TokenPayload:
    """What a token asserts. Scope is at most one of project, domain and system."""

    user_id: str
    user_domain_id: str
    methods: tuple[str, ...]
    issued_at: float
    expires_at: float
    audit_ids: tuple[str, ...]
    project_id: str | None = None
    project_domain_id: str | None = None
    domain_id: str | None = None
    system: str | None = None
    roles: tuple[tuple[str, str], ...] = ()
    trust_id: str | None = None
    trustor_user_id: str | None = None
    trustee_user_id: str | None = None
    impersonation: bool = False
    app_cred_id: str | None = None
    app_cred_restricted: bool = False
    access_rules: tuple[tuple[str, str, str, str], ...] = ()
    """(id, service, method, path pattern) of each access rule of the credential; none: no limit."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def audit_id(self) -> str:
        return self.audit_ids[0]

    @property
    def audit_chain_id(self) -> str:
        return self.audit_ids[-1]

    @property
    def role_names(self) -> frozenset[str]:
        return frozenset(name for _, name in self.roles)

    @property
    def role_ids(self) -> frozenset[str]:
        return frozenset(role_id for role_id, _ in self.roles)

    @property
    def rule_triples(self) -> tuple[tuple[str, str, str], ...]:
        """The access rules as (service, method, path pattern), what a request is matched against."""
        return tuple((service, method, path) for _, service, method, path in self.access_rules)

    @property
    def scoped(self) -> bool:
        return bool(self.project_id or self.domain_id or self.system)

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "v": TOKEN_FORMAT_VERSION,
            "u": self.user_id,
            "ud": self.user_domain_id,
            "m": list(self.methods),
            "ia": self.issued_at,
            "ea": self.expires_at,
            "au": list(self.audit_ids),
        }
        optional = {
            "p": self.project_id,
            "pd": self.project_domain_id,
            "d": self.domain_id,
            "s": self.system,
            "r": [list(r) for r in self.roles] or None,
            "t": self.trust_id,
            "tr": self.trustor_user_id,
            "te": self.trustee_user_id,
            "im": self.impersonation or None,
            "a": self.app_cred_id,
            "ar": self.app_cred_restricted or None,
            "ac": [list(rule) for rule in self.access_rules] or None,
            "x": self.extra or None,
        }
        wire.update({k: v for k, v in optional.items() if v is not None})
        return wire

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> TokenPayload:
        if wire.get("v") != TOKEN_FORMAT_VERSION:
            raise Unauthorized("The token format is not recognised.")
        return cls(
            user_id=wire["u"],
            user_domain_id=wire["ud"],
            methods=tuple(wire["m"]),
            issued_at=float(wire["ia"]),
            expires_at=float(wire["ea"]),
            audit_ids=tuple(wire["au"]),
            project_id=wire.get("p"),
            project_domain_id=wire.get("pd"),
            domain_id=wire.get("d"),
            system=wire.get("s"),
            roles=tuple((r[0], r[1]) for r in wire.get("r", ())),
            trust_id=wire.get("t"),
            trustor_user_id=wire.get("tr"),
            trustee_user_id=wire.get("te"),
            impersonation=bool(wire.get("im", False)),
            app_cred_id=wire.get("a"),
            app_cred_restricted=bool(wire.get("ar", False)),
            access_rules=tuple((r[0], r[1], r[2], r[3]) for r in wire.get("ac", ())),
            extra=wire.get("x") or {},
        )


@dataclass(frozen=True)
class KeyPair:
    key_id: str
    private_pem: str | None
    public_pem: str

    @classmethod
    def generate(cls) -> KeyPair:
        private = Ed25519PrivateKey.generate()
        return cls(
            key_id=uuid.uuid4().hex[:12],
            private_pem=private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode(),
            public_pem=private.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode(),
        )


class TokenSealer:
    """Seals payloads with the active private key and opens tokens with any known public key.

    A service that only validates is built with public keys alone. ``key_loader`` is asked again
    when a token names a key this sealer has not seen, so keys rotated by another process work.
    """

    def __init__(self, keys: list[KeyPair], key_loader: Any = None) -> None:
        self._private: tuple[str, Ed25519PrivateKey] | None = None
        self._public: dict[str, Ed25519PublicKey] = {}
        self._key_loader = key_loader
        self._opened: dict[str, TokenPayload] = {}
        self._load(keys)

    def _load(self, keys: list[KeyPair]) -> None:
        for pair in keys:
            public = serialization.load_pem_public_key(pair.public_pem.encode())
            assert isinstance(public, Ed25519PublicKey)
            self._public[pair.key_id] = public
            if pair.private_pem and self._private is None:
                private = serialization.load_pem_private_key(pair.private_pem.encode(), password=None)
                assert isinstance(private, Ed25519PrivateKey)
                self._private = (pair.key_id, private)

    def seal(self, payload: TokenPayload) -> str:
        if self._private is None:
            raise RuntimeError("this token sealer holds no private key")
        key_id, private = self._private
        body = json.dumps({"k": key_id, **payload.to_wire()}, separators=(",", ":")).encode()
        encoded = _b64encode(body)
        return f"{encoded}.{_b64encode(private.sign(encoded.encode()))}"

    def open(self, token: str) -> TokenPayload:
        """The payload of an authentic token; Unauthorized for anything forged, altered or garbled.

        Expiry and revocation are the validator's business, not the sealer's. Authentic tokens are
        remembered (a bounded cache) so a busy token is checked by signature only once.
        """
        cached = self._opened.get(token)
        if cached is not None:
            return cached
        payload = self._open(token)
        if len(self._opened) >= OPENED_CACHE_SIZE:
            self._opened.pop(next(iter(self._opened)))
        self._opened[token] = payload
        return payload

    def _open(self, token: str) -> TokenPayload:
        try:
            encoded, signature = token.split(".")
            body = json.loads(_b64decode(encoded))
            key_id = body["k"]
        except (ValueError, KeyError, TypeError) as exc:
            raise Unauthorized("The request you have made requires authentication.") from exc
        public = self._public.get(key_id)
        if public is None and self._key_loader is not None:
            self._load(self._key_loader())
            public = self._public.get(key_id)
        if public is None:
            raise Unauthorized("The token was signed by an unknown key.")
        try:
            public.verify(_b64decode(signature), encoded.encode())
            return TokenPayload.from_wire(body)
        except (InvalidSignature, ValueError, KeyError, TypeError) as exc:
            raise Unauthorized("The request you have made requires authentication.") from exc
