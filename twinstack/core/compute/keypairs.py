"""Keypairs: a user's SSH public keys (or X.509 certificates), imported or generated here.

A generated key's private half is returned once, at creation, and never stored. Keypairs belong
to a user, not a project: the same user sees the same keypairs in every project.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from twinstack.core.compute.quotas import QuotaExceeded
from twinstack.core.errors import BadRequest, Conflict, NotFound
from twinstack.db.models.compute import KeypairRow

NAME_PATTERN = re.compile(r"^[a-zA-Z0-9 _-]+$")
"""Nova's keypair names before microversion 2.92."""
TYPES = ("ssh", "x509")
INVALID_KEY = "Keypair data is invalid: failed to generate fingerprint"


@dataclass(frozen=True)
class NewKeypair:
    name: str
    user_id: str
    type: str = "ssh"
    public_key: str | None = None
    """None: generate a key pair and hand its private key back once."""


def _colon_hex(digest: bytes) -> str:
    return ":".join(f"{b:02x}" for b in digest)


def ssh_fingerprint(public_key: str) -> str:
    """The MD5 fingerprint of an OpenSSH public key, as ``ssh-keygen -l -E md5`` and Nova print it."""
    parts = public_key.strip().split()
    if len(parts) < 2:
        raise BadRequest(INVALID_KEY)
    try:
        serialization.load_ssh_public_key(" ".join(parts[:2]).encode())
        blob = base64.b64decode(parts[1], validate=True)
    except (ValueError, binascii.Error, TypeError) as exc:
        raise BadRequest(INVALID_KEY) from exc
    return _colon_hex(hashlib.md5(blob, usedforsecurity=False).digest())


def x509_fingerprint(certificate: str) -> str:
    """The SHA-1 fingerprint of a PEM certificate, as Nova gives it."""
    try:
        cert = x509.load_pem_x509_certificate(certificate.encode())
    except ValueError as exc:
        raise BadRequest(INVALID_KEY) from exc
    return _colon_hex(cert.fingerprint(hashes.SHA1()))  # the fingerprint Nova shows


def generate_ssh() -> tuple[str, str]:
    """A new Ed25519 key pair: (OpenSSH public key, OpenSSH private key)."""
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return public.decode() + " Generated-by-Twinstack", private


def generate_x509(name: str, now: dt.datetime) -> tuple[str, str]:
    """A self-signed certificate for ``name`` valid ten years: (PEM certificate, PEM private key)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=3650)).sign(key, hashes.SHA256()))
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), private


def create_keypair(session: Session, new: NewKeypair, now: dt.datetime,
                   limit: int = -1) -> tuple[KeypairRow, str | None]:
    """Import or generate; returns the keypair and, when generated, its private key (never stored).

    ``limit`` is how many keypairs the user may hold (-1: any number), Nova's ``key_pairs`` quota; the
    caller holds the user's write lock so that the count cannot be overtaken before the insert.
    """
    if not NAME_PATTERN.match(new.name) or len(new.name) > 255:
        raise BadRequest("Keypair data is invalid: Keypair name contains unsafe characters")
    if new.type not in TYPES:
        raise BadRequest(f"Invalid input for field/attribute type. Value: {new.type}. "
                         f"'{new.type}' is not one of {list(TYPES)}")
    private_key: str | None = None
    public_key = new.public_key
    if public_key is None:
        public_key, private_key = generate_x509(new.name, now) if new.type == "x509" else generate_ssh()
    fingerprint = x509_fingerprint(public_key) if new.type == "x509" else ssh_fingerprint(public_key)
    if session.scalar(select(KeypairRow.id).where(KeypairRow.user_id == new.user_id,
                                                  KeypairRow.name == new.name)) is not None:
        raise Conflict(f"Key pair '{new.name}' already exists.")
    if limit >= 0:
        held = session.scalar(select(func.count()).select_from(KeypairRow).where(KeypairRow.user_id == new.user_id))
        if (held or 0) + 1 > limit:
            raise QuotaExceeded("Quota exceeded, too many key pairs.")
    row = KeypairRow(name=new.name, user_id=new.user_id, fingerprint=fingerprint, public_key=public_key,
                     type=new.type, created_at=now)
    session.add(row)
    session.flush()
    return row, private_key


def get_keypair(session: Session, user_id: str, name: str) -> KeypairRow:
    row = session.scalar(select(KeypairRow).where(KeypairRow.user_id == user_id, KeypairRow.name == name))
    if row is None:
        raise NotFound(f"Keypair {name} not found for user {user_id}")
    return row


def list_keypairs(session: Session, user_id: str, limit: int | None = None,
                  marker: str | None = None) -> list[KeypairRow]:
    """The user's keypairs by name; ``marker`` is the name the previous page ended with."""
    statement = select(KeypairRow).where(KeypairRow.user_id == user_id).order_by(KeypairRow.name)
    if marker is not None:
        if session.scalar(statement.where(KeypairRow.name == marker)) is None:
            raise BadRequest(f"marker [{marker}] not found")
        statement = statement.where(KeypairRow.name > marker)
    if limit is not None:
        statement = statement.limit(limit)
    return list(session.scalars(statement))


def delete_keypair(session: Session, user_id: str, name: str) -> None:
    session.delete(get_keypair(session, user_id, name))
