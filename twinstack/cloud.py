"""One cloud: settings, storage, clock and the identity machinery, built once and passed explicitly.

There are no globals: two clouds can live in one process (the tests build many).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from twinstack.config import Settings
from twinstack.core.clock import Clock
from twinstack.core.compute.context import ComputeContext
from twinstack.core.errors import Conflict
from twinstack.core.identity.auth import Authenticator, AuthPolicy
from twinstack.core.identity.keys import ensure_signing_key, load_keys
from twinstack.core.identity.policies import RULES as IDENTITY_RULES
from twinstack.core.identity.revocation import RevocationList
from twinstack.core.identity.tokens import TokenSealer
from twinstack.core.identity.validator import TokenValidator
from twinstack.core.loadbalancer.provisioning import LoadBalancerService
from twinstack.core.policy import Enforcer
from twinstack.core.volume.service import VolumeService
from twinstack.db import migrate
from twinstack.db.session import SessionFactory, make_engine, make_session_factory
from twinstack.wallclock import WallClock


@dataclass
class Cloud:
    settings: Settings
    engine: Engine
    sessions: SessionFactory
    clock: Clock
    sealer: TokenSealer
    revocations: RevocationList
    validator: TokenValidator
    authenticator: Authenticator
    enforcer: Enforcer
    compute: ComputeContext | None = None
    """Set once a compute plane runs (``twinstack serve`` starts one); None for identity-only clouds."""
    volume: VolumeService | None = None
    """Set once block storage runs beside the compute plane; None: volume records only, no back ends."""
    loadbalancer: LoadBalancerService = field(default_factory=LoadBalancerService)
    """Reaches the load-balancing workers once a control plane runs; without a bus, changes are refused (503)."""

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work. A uniqueness race lost to another writer surfaces as Conflict (409)."""
        try:
            with self.sessions() as session, session.begin():
                yield session
        except IntegrityError as exc:
            raise Conflict(f"Conflict occurred attempting to store the entity: {exc.orig}") from exc

    def refresh_revocations(self) -> None:
        """Pick up revocations stored by other processes sharing this database."""
        with self.sessions() as session:
            self.revocations.load(session, self.clock.now() - self.settings.identity.token_ttl_seconds)

    def close(self) -> None:
        self.engine.dispose()


def open_cloud(settings: Settings, clock: Clock | None = None, upgrade: bool = True) -> Cloud:
    """Open (and migrate, and give a first signing key to) the cloud described by ``settings``."""
    clock = clock or WallClock()
    url = settings.effective_database_url
    if url.startswith("sqlite:///"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(url)
    if upgrade:
        migrate.upgrade(engine)
    sessions = make_session_factory(engine)
    with sessions() as session, session.begin():
        ensure_signing_key(session, clock)

    def key_loader() -> list:  # type: ignore[type-arg]
        with sessions() as session:
            return load_keys(session)

    sealer = TokenSealer(key_loader(), key_loader=key_loader)
    revocations = RevocationList()
    validator = TokenValidator(sealer, revocations, clock)
    ident = settings.identity
    authenticator = Authenticator(validator, clock, AuthPolicy(ident.token_ttl_seconds, ident.password_kdf_n))
    cloud = Cloud(settings, engine, sessions, clock, sealer, revocations, validator, authenticator,
                  Enforcer(IDENTITY_RULES))
    cloud.refresh_revocations()
    return cloud
