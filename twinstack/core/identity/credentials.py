"""Credentials: opaque secrets (``blob``) a user keeps with the identity service, by ``type``.

An ``ec2`` credential must name a project and hold a JSON blob with an ``access`` key; its id is
the SHA-256 of that key, so the EC2 signature check can find it (Keystone's rule). Blobs are
stored as given: unlike Keystone, this cloud does not encrypt them at rest.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from twinstack.core.errors import BadRequest, Conflict, NotFound
from twinstack.core.identity.lookup import get_or_404
from twinstack.db.models.identity import Credential, User

EC2 = "ec2"


@dataclass(frozen=True)
class NewCredential:
    user_id: str
    type: str
    blob: str
    project_id: str | None = None


def _ec2_access(blob: str) -> str:
    try:
        data = json.loads(blob)
    except ValueError as exc:
        raise BadRequest("Invalid blob in credential.") from exc
    if not data or not isinstance(data, dict):
        raise BadRequest("Invalid input for field 'blob': an ec2 credential's blob is a JSON object.")
    access = data.get("access")
    if not isinstance(access, str) or not access:
        raise BadRequest("Invalid input for field 'access': an ec2 credential's blob needs an 'access' key.")
    return access


def _check_ec2(type_: str, blob: str, project_id: str | None) -> str | None:
    """The id an ec2 credential must have (None for other types); 400 when it is malformed."""
    if type_.lower() != EC2:
        return None
    if not project_id:
        raise BadRequest("Invalid input for field 'project_id': an ec2 credential requires a project.")
    return hashlib.sha256(_ec2_access(blob).encode()).hexdigest()


def create_credential(session: Session, new: NewCredential) -> Credential:
    """Store a credential for an existing user; 409 when an ec2 credential with that key exists."""
    get_or_404(session, User, new.user_id, "user")
    ec2_id = _check_ec2(new.type, new.blob, new.project_id)
    if ec2_id is not None and session.get(Credential, ec2_id) is not None:
        raise Conflict(f"Conflict occurred attempting to store credential - Duplicate ID, {ec2_id}.")
    cred = Credential(user_id=new.user_id, type=new.type, blob=new.blob, project_id=new.project_id, extra={})
    if ec2_id is not None:
        cred.id = ec2_id
    session.add(cred)
    session.flush()
    return cred


def get_credential(session: Session, credential_id: str) -> Credential:
    cred = session.get(Credential, credential_id)
    if cred is None:
        raise NotFound(f"Could not find credential: {credential_id}.")
    return cred


def list_credentials(session: Session, user_id: str | None = None, type_: str | None = None) -> list[Credential]:
    query = select(Credential)
    if user_id is not None:
        query = query.where(Credential.user_id == user_id)
    if type_ is not None:
        query = query.where(Credential.type == type_)
    return list(session.scalars(query.order_by(Credential.user_id, Credential.id)))


def update_credential(session: Session, cred: Credential, changes: dict[str, str | None]) -> Credential:
    """Apply ``changes`` (user_id, project_id, type, blob); the result must still be a valid credential.

    The id never changes, as in Keystone, even when an ec2 credential's access key does.
    """
    user_id = changes.get("user_id", cred.user_id)
    type_ = changes.get("type", cred.type)
    blob = changes.get("blob", cred.blob)
    if user_id is None or type_ is None or blob is None:
        raise BadRequest("Invalid input: user_id, type and blob cannot be null.")
    project_id = changes.get("project_id", cred.project_id)
    if user_id != cred.user_id:
        get_or_404(session, User, user_id, "user")
    _check_ec2(type_, blob, project_id)
    cred.user_id, cred.type, cred.blob, cred.project_id = user_id, type_, blob, project_id
    session.flush()
    return cred


def delete_credential(session: Session, cred: Credential) -> None:
    session.delete(cred)
